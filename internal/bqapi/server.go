// Package bqapi serves BigQuery's REST API (v2) at /bigquery/v2 as a front
// door onto intake, so that Google's own BigQuery clients, pointed at the
// gateway with their endpoint option and the agent's ID token as the
// bearer, run their queries through querygate unmodified. Every query is a
// querygate session with the same identity, policy, approval, masking and
// record as POST /v1/queries; this package only translates.
//
// Served: jobs.query, jobs.insert (query jobs), jobs.get,
// jobs.getQueryResults, jobs.cancel, and datasets.list/get, tables.list/get
// and tabledata.list over the results dataset (ResultsDataset), which holds
// one table per succeeded session, its masked result; tables.get also
// describes the source tables queries read, masked columns marked.
package bqapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/session"
)

// ResultsDataset is the dataset in which a query's masked result appears as
// a table named after its session id (the job's destinationTable).
const ResultsDataset = "_querygate_results"

// Defaults of Server.
const (
	DefaultLocation     = "US"
	DefaultDecisionWait = 30 * time.Second
	// DefaultTimeout is BigQuery's default timeoutMs for jobs.query and
	// jobs.getQueryResults; MaxTimeout caps what a client may ask for.
	DefaultTimeout = 10 * time.Second
	MaxTimeout     = 60 * time.Second
)

// Server serves the BigQuery API over intake.
type Server struct {
	// Intake authenticates callers, submits queries and holds the store.
	Intake *intake.Server
	// Location is reported in job references when the client names none.
	Location string
	// DecisionWait bounds how long jobs.insert waits for policy's
	// decision, so that a denied query answers 403 at once.
	DecisionWait time.Duration
	Logger       *slog.Logger

	// Sources, when set, serves tables.get on the tables queries read
	// (sources.go): their schema with the columns querygate masks for the
	// caller marked. mcp.Server implements it.
	Sources SourceTables
	// Withdraw, when set, lets jobs.cancel end a job that waits for
	// approval: the held query is rejected at its requester's request.
	// approval.Service implements it.
	Withdraw Withdrawer
}

// Prefix is where the API is served.
const Prefix = "/bigquery/v2"

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	p := Prefix + "/projects/{project}"
	mux.Handle("POST "+p+"/queries", s.handle(s.query))
	mux.Handle("GET "+p+"/queries/{job}", s.handle(s.getQueryResults))
	mux.Handle("POST "+p+"/jobs", s.handle(s.insert))
	mux.Handle("GET "+p+"/jobs/{job}", s.handle(s.getJob))
	mux.Handle("POST "+p+"/jobs/{job}/cancel", s.handle(s.cancel))
	mux.Handle("GET "+p+"/datasets", s.handle(s.listDatasets))
	mux.Handle("GET "+p+"/datasets/{dataset}", s.handle(s.getDataset))
	mux.Handle("GET "+p+"/datasets/{dataset}/tables", s.handle(s.listTables))
	mux.Handle("GET "+p+"/datasets/{dataset}/tables/{table}", s.handle(s.getTable))
	mux.Handle("GET "+p+"/datasets/{dataset}/tables/{table}/data", s.handle(s.listRows))
	mux.Handle(Prefix+"/", s.handle(func(*call) *apiError {
		return badRequest("querygate serves jobs.query, jobs.insert (query jobs), jobs.get, jobs.getQueryResults, jobs.cancel, " +
			"and datasets, tables and tabledata of the " + ResultsDataset + " dataset; this method is not one of them")
	}))
}

// call is one authenticated request.
type call struct {
	w       http.ResponseWriter
	r       *http.Request
	p       *session.Principal
	project string
}

func (c *call) ctx() context.Context { return c.r.Context() }

// handle authenticates the caller (the same verifier as /v1) and checks the
// project in the path before fn runs; fn's error is written in BigQuery's
// shape.
func (s *Server) handle(fn func(*call) *apiError) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Intake.Authenticate(r)
		switch {
		case errors.Is(err, intake.ErrNoToken):
			writeAPIError(w, &apiError{Code: http.StatusUnauthorized, Reason: reasonRequired,
				Message: "Request is missing required authentication credential: send an OIDC ID token as \"Authorization: Bearer <token>\""})
			return
		case errors.Is(err, intake.ErrGroups):
			writeAPIError(w, &apiError{Code: http.StatusServiceUnavailable, Reason: reasonBackendError,
				Message: "group membership could not be resolved; retry later"})
			return
		case err != nil:
			writeAPIError(w, &apiError{Code: http.StatusUnauthorized, Reason: reasonAuthError,
				Message: "the ID token is invalid, expired, or not for this audience"})
			return
		}
		c := &call{w: w, r: r, p: p, project: r.PathValue("project")}
		if c.project != "" && !projectIDRE.MatchString(c.project) {
			writeAPIError(w, badRequest("the project id in the path is not valid"))
			return
		}
		if e := fn(c); e != nil {
			writeAPIError(w, e)
		}
	})
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) location(asked string) string {
	if asked != "" && len(asked) <= 64 {
		return asked
	}
	if s.Location != "" {
		return s.Location
	}
	return DefaultLocation
}

// SessionID is the querygate session of a BigQuery job: a hash of the
// caller's identity, the project and the job id, so a retried jobs.insert
// with the client's own job id finds the session it created, and one
// principal's job ids never name another's sessions.
func SessionID(p *session.Principal, project, jobID string) string {
	sum := sha256.Sum256([]byte("querygate-bqapi\x00" + p.Issuer + "\x00" + p.Subject + "\x00" + project + "\x00" + jobID))
	return "qs_" + hex.EncodeToString(sum[:16])
}

// job loads the session behind a job id of the caller's; another
// principal's job is "not found", as is a session not made by this door.
func (s *Server) job(c *call, jobID string) (*session.Session, *apiError) {
	if !jobIDRE.MatchString(jobID) {
		return nil, badRequest("the job id is not valid: use letters, digits, dashes and underscores")
	}
	sess, err := s.Intake.Store.Get(c.ctx(), SessionID(c.p, c.project, jobID))
	if errors.Is(err, session.ErrNotFound) ||
		(err == nil && (sess.Principal.Issuer != c.p.Issuer || sess.Principal.Subject != c.p.Subject)) {
		return nil, notFound("Not found: Job " + c.project + ":" + jobID)
	}
	if err != nil {
		s.log().ErrorContext(c.ctx(), "get session failed", "error", err.Error())
		return nil, &apiError{Code: http.StatusServiceUnavailable, Reason: reasonBackendError, Message: "the job could not be read; retry later"}
	}
	return sess, nil
}

// wait blocks until done(session) holds or d passes, and returns the latest
// state (sess itself when nothing changed).
func (s *Server) wait(ctx context.Context, sess *session.Session, d time.Duration, done func(*session.Session) bool) *session.Session {
	if done(sess) || d <= 0 {
		return sess
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cur := sess
	for {
		got, err := s.Intake.Store.Wait(wctx, cur.ID, cur.Version)
		if err != nil || got == nil {
			return cur
		}
		if got.Version > cur.Version {
			cur = got
		}
		if done(cur) || wctx.Err() != nil {
			return cur
		}
	}
}

// decided: policy's decision has taken effect: the session ended (denied
// among others), awaits approval, or was allowed. Policy records its
// decision before the workflow acts on it, so a decision alone is not
// enough: a denied session is denied only once recorded.
func decided(x *session.Session) bool {
	return settled(x) || (x.Decision != nil && x.Decision.Action == "allow")
}

// settled: the session ended or waits for a human.
func settled(x *session.Session) bool {
	return x.Status.Terminal() || x.Status == session.StatusPendingApproval
}

func ended(x *session.Session) bool { return x.Status.Terminal() }
