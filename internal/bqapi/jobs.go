package bqapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/session"
)

// submit starts (or, for a retried job id, finds) the session of a query
// job. A job id reused for different SQL is a 409, as in BigQuery.
func (s *Server) submit(c *call, jobID, location string, req *intake.QueryRequest, method string) (*session.Session, *apiError) {
	id := SessionID(c.p, c.project, jobID)
	sess, err := s.Intake.Submit(c.ctx(), intake.SubmitRequest{Principal: c.p, Query: req, SessionID: id,
		FrontDoor: &intake.FrontDoor{Name: "bigquery", Method: method, Project: c.project, JobID: jobID, Location: location}})
	switch {
	case errors.Is(err, session.ErrExists):
		prev, e := s.job(c, jobID)
		if e != nil {
			return nil, e
		}
		if prev.SQLSHA256 != session.SQLHash(req.SQL) {
			return nil, &apiError{Code: http.StatusConflict, Reason: reasonDuplicate,
				Message: "Already Exists: Job " + c.project + ":" + location + "." + jobID + " (it ran other SQL; use a new job id)"}
		}
		return prev, nil
	case isRefusal(err):
		r, _ := limits.AsRefusal(err)
		return nil, &apiError{Code: http.StatusTooManyRequests, Reason: reasonRateLimitExceeded, Message: r.Error(), RetryAfter: r.RetryAfterSeconds()}
	case errors.Is(err, intake.ErrNotStarted):
		return nil, &apiError{Code: http.StatusServiceUnavailable, Reason: reasonBackendError, Message: "the query could not be started; retry later"}
	case err != nil:
		return nil, &apiError{Code: http.StatusServiceUnavailable, Reason: reasonBackendError, Message: "the query could not be recorded; retry later"}
	}
	return sess, nil
}

// jobsInsert: POST /projects/{project}/jobs with a query configuration.
func (s *Server) insert(c *call) *apiError {
	var body jobInsert
	if e := decodeBody(c.r, c.w, &body); e != nil {
		return e
	}
	cfg := body.Configuration
	if cfg.Query == nil || cfg.Load != nil || cfg.Copy != nil || cfg.Extract != nil {
		return badRequest("querygate runs query jobs only: send configuration.query")
	}
	jobID, location := "", ""
	if ref := body.JobReference; ref != nil {
		if ref.ProjectID != "" && ref.ProjectID != c.project {
			return badRequest("jobReference.projectId must be the project in the path")
		}
		jobID, location = ref.JobID, ref.Location
	}
	if jobID == "" {
		jobID = newJobID()
	}
	if !jobIDRE.MatchString(jobID) {
		return badRequest("jobReference.jobId is not valid: use letters, digits, dashes and underscores (at most 1024)")
	}
	location = s.location(location)
	req, e := cfg.Query.toIntake(c.r, cfg.Labels, cfg.DryRun)
	if e != nil {
		return e
	}
	sess, e := s.submit(c, jobID, location, req, "jobs.insert")
	if e != nil {
		return e
	}
	wait := s.DecisionWait
	if wait == 0 {
		wait = DefaultDecisionWait
	}
	sess = s.wait(c.ctx(), sess, wait, decided)
	if sess.Status == session.StatusDenied {
		return deniedError(sess)
	}
	writeJSON(c.w, http.StatusOK, s.jobResource(c, sess, jobRef{ProjectID: c.project, JobID: jobID, Location: location}))
	return nil
}

// query: POST /projects/{project}/queries (jobs.query).
func (s *Server) query(c *call) *apiError {
	var body queryRequest
	if e := decodeBody(c.r, c.w, &body); e != nil {
		return e
	}
	timeout, e := timeoutOf(body.TimeoutMs)
	if e != nil {
		return e
	}
	if body.MaxResults != nil && *body.MaxResults < 0 {
		return badRequest("maxResults must not be negative")
	}
	// requestId is BigQuery's idempotency key for jobs.query: a retry with
	// the same one finds the same job.
	jobID := newJobID()
	if body.RequestID != "" {
		if len(body.RequestID) > 1024 {
			return badRequest("requestId is longer than 1024 characters")
		}
		sum := sha256.Sum256([]byte(body.RequestID))
		jobID = "querygate_req_" + hex.EncodeToString(sum[:16])
	}
	ts := tsFloat64
	if f := body.FormatOptions; f != nil {
		if ts, e = formatOf(f.UseInt64Timestamp, f.TimestampOutputFormat); e != nil {
			return e
		}
	}
	location := s.location(body.Location)
	req, e := body.toIntake(c.r, body.Labels, false)
	if e != nil {
		return e
	}
	sess, e := s.submit(c, jobID, location, req, "jobs.query")
	if e != nil {
		return e
	}
	sess = s.wait(c.ctx(), sess, timeout, settled)
	return s.results(c, sess, jobRef{ProjectID: c.project, JobID: jobID, Location: location}, "bigquery#queryResponse",
		window{maxResults: body.MaxResults, ts: ts})
}

// getQueryResults: GET /projects/{project}/queries/{job}.
func (s *Server) getQueryResults(c *call) *apiError {
	jobID := c.r.PathValue("job")
	sess, e := s.job(c, jobID)
	if e != nil {
		return e
	}
	q := c.r.URL.Query()
	w, e := windowOf(q)
	if e != nil {
		return e
	}
	var tms *int64
	if v := q.Get("timeoutMs"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return badRequest("timeoutMs must be an integer")
		}
		tms = &n
	}
	timeout, e := timeoutOf(tms)
	if e != nil {
		return e
	}
	sess = s.wait(c.ctx(), sess, timeout, ended)
	return s.results(c, sess, jobRef{ProjectID: c.project, JobID: jobID, Location: s.location(q.Get("location"))},
		"bigquery#getQueryResultsResponse", w)
}

// results answers jobs.query and getQueryResults: rows once the session
// succeeded, jobComplete false while it runs or awaits approval, and
// BigQuery's error for a session that ended otherwise.
func (s *Server) results(c *call, sess *session.Session, ref jobRef, kind string, w window) *apiError {
	switch sess.Status {
	case session.StatusSucceeded:
	case session.StatusDenied, session.StatusRejected, session.StatusExpired, session.StatusFailed:
		return jobError(sess)
	default:
		writeJSON(c.w, http.StatusOK, map[string]any{"kind": kind, "jobReference": ref, "jobComplete": false})
		return nil
	}
	res := sess.Result
	if res == nil {
		return internal("the result could not be read")
	}
	schema := servedSchema(res)
	page, e := s.window(c, sess, schema, w)
	if e != nil {
		return e
	}
	out := map[string]any{
		"kind":                kind,
		"jobReference":        ref,
		"jobComplete":         true,
		"schema":              tableSchema{Fields: schema},
		"totalRows":           strconv.FormatInt(res.StoredRows, 10),
		"rows":                page.rows,
		"cacheHit":            false,
		"totalBytesProcessed": "0",
	}
	if sess.Execution != nil {
		out["totalBytesProcessed"] = strconv.FormatInt(sess.Execution.BytesProcessed, 10)
	}
	if page.next != "" {
		out["pageToken"] = page.next
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// getJob: GET /projects/{project}/jobs/{job}.
func (s *Server) getJob(c *call) *apiError {
	jobID := c.r.PathValue("job")
	sess, e := s.job(c, jobID)
	if e != nil {
		return e
	}
	writeJSON(c.w, http.StatusOK, s.jobResource(c, sess, jobRef{ProjectID: c.project, JobID: jobID, Location: s.location(c.r.URL.Query().Get("location"))}))
	return nil
}

// jobResource renders a session as BigQuery's Job resource.
func (s *Server) jobResource(c *call, sess *session.Session, ref jobRef) map[string]any {
	st := map[string]any{"state": "RUNNING"}
	if sess.Status.Terminal() {
		st["state"] = "DONE"
		if sess.Status != session.StatusSucceeded {
			e := jobError(sess)
			ep := errorProto{Reason: e.Reason, Message: e.Message, Domain: "global"}
			st["errorResult"] = ep
			st["errors"] = []errorProto{ep}
		}
	}
	labels := map[string]string{}
	for k, v := range map[string]string{LabelConversation: sess.ConversationID, LabelAgent: sess.Agent.Name, LabelModel: sess.Agent.Model} {
		if v != "" {
			labels[k] = v
		}
	}
	// Like BigQuery's anonymous result table, the destination is named
	// from the start; it exists (tables.get) once the session succeeded.
	qcfg := map[string]any{"query": sess.SQL, "useLegacySql": false, "priority": "INTERACTIVE",
		"destinationTable": tableRef{ProjectID: c.project, DatasetID: ResultsDataset, TableID: sess.ID}}
	if ds := sess.DefaultDataset; ds != "" {
		d := datasetRef{ProjectID: c.project, DatasetID: ds}
		if i := strings.IndexByte(ds, '.'); i >= 0 {
			d = datasetRef{ProjectID: ds[:i], DatasetID: ds[i+1:]}
		}
		qcfg["defaultDataset"] = d
	}
	stats := map[string]any{"creationTime": millis(sess.CreatedAt)}
	qstats := map[string]any{"totalBytesProcessed": "0"}
	if x := sess.Execution; x != nil {
		if !x.StartedAt.IsZero() {
			stats["startTime"] = millis(x.StartedAt)
		}
		if !x.FinishedAt.IsZero() {
			stats["endTime"] = millis(x.FinishedAt)
		}
		qstats["totalBytesProcessed"] = strconv.FormatInt(x.BytesProcessed, 10)
		stats["totalBytesProcessed"] = qstats["totalBytesProcessed"]
	}
	if sess.Status.Terminal() {
		if _, ok := stats["startTime"]; !ok {
			stats["startTime"] = millis(sess.CreatedAt)
		}
		if _, ok := stats["endTime"]; !ok {
			stats["endTime"] = millis(sess.UpdatedAt)
		}
	}
	stats["query"] = qstats
	out := map[string]any{
		"kind":          "bigquery#job",
		"id":            ref.ProjectID + ":" + ref.Location + "." + ref.JobID,
		"jobReference":  ref,
		"configuration": map[string]any{"jobType": "QUERY", "query": qcfg, "labels": labels},
		"status":        st,
		"statistics":    stats,
	}
	if sess.Principal.Email != "" {
		out["user_email"] = sess.Principal.Email
	}
	return out
}

func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// deniedError is the 403 for a query policy denied, with querygate's
// reasons and rule ids in the message.
func deniedError(sess *session.Session) *apiError {
	if intake.MissingJustification(sess) {
		return badRequest(intake.JustificationMessage(sess, "send the header "+JustificationHeader+" (percent-encoded)"))
	}
	msg := "Access Denied: querygate policy denied the query"
	if sess.Decision != nil {
		if len(sess.Decision.Reasons) > 0 {
			msg += ": " + strings.Join(sess.Decision.Reasons, "; ")
		}
		if len(sess.Decision.RuleIDs) > 0 {
			msg += " (rules: " + strings.Join(sess.Decision.RuleIDs, ", ") + ")"
		}
	}
	return &apiError{Code: http.StatusForbidden, Reason: reasonAccessDenied, Message: msg + " [session " + sess.ID + "]"}
}

// jobError is the error of a session that ended without rows.
func jobError(sess *session.Session) *apiError {
	switch sess.Status {
	case session.StatusDenied:
		return deniedError(sess)
	case session.StatusRejected:
		if cancelled(sess) {
			return &apiError{Code: http.StatusBadRequest, Reason: reasonStopped,
				Message: "Job execution was cancelled: the requester cancelled the query while it waited for approval [session " + sess.ID + "]"}
		}
		msg := "Access Denied: an approver rejected the query"
		if sess.Approval != nil && sess.Approval.Comment != "" {
			msg += ": " + sess.Approval.Comment
		}
		return &apiError{Code: http.StatusForbidden, Reason: reasonAccessDenied, Message: msg + " [session " + sess.ID + "]"}
	case session.StatusExpired:
		return &apiError{Code: http.StatusForbidden, Reason: reasonAccessDenied,
			Message: "Access Denied: no approver decided before the approval expired [session " + sess.ID + "]"}
	}
	// Failed. Session error messages are written to be shown to the agent
	// (BigQuery's analysis errors scrubbed, run-time errors withheld).
	// The HTTP code is 400, never 5xx: the job has ended, and clients
	// retry 5xx answers.
	var msgs []string
	for _, e := range sess.Errors {
		msgs = append(msgs, e.Message)
	}
	msg := "the query failed"
	if len(msgs) > 0 {
		msg += ": " + strings.Join(msgs, "; ")
	}
	return &apiError{Code: http.StatusBadRequest, Reason: reasonInvalidQuery, Message: msg + " [session " + sess.ID + "]"}
}

func timeoutOf(ms *int64) (time.Duration, *apiError) {
	if ms == nil {
		return DefaultTimeout, nil
	}
	if *ms < 0 {
		return 0, badRequest("timeoutMs must not be negative")
	}
	if *ms >= MaxTimeout.Milliseconds() {
		return MaxTimeout, nil
	}
	return time.Duration(*ms) * time.Millisecond, nil
}

func newJobID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "querygate_" + hex.EncodeToString(b[:])
}
