// Package warehouse runs the agent's query on BigQuery with querygate's own
// least-privilege credential and reads the result back for
// de-identification. The same code serves the cloud (real BigQuery) and the
// local gateway (the emulator's REST API); only the client's endpoint differs.
package warehouse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/session"
)

// Query is one job to run.
type Query struct {
	// JobID makes the job idempotent: a retried execute step finds the job
	// it already started instead of running the query twice.
	JobID          string
	SQL            string
	DefaultProject string
	DefaultDataset string
	Parameters     []session.Parameter
	MaxBytesBilled int64
	Timeout        time.Duration
	Labels         map[string]string
	// ResultsDataset ("project.dataset" or "dataset"), when set, receives
	// the result as a table named after the job. In the cloud the execute
	// and deidentify functions run as different service accounts, and a
	// query's anonymous result table is readable only by the account that
	// ran it; a dataset with a short default table expiry, readable by the
	// deidentify account, hands the rows over.
	ResultsDataset string
}

// Job is a finished query job.
type Job struct {
	ID             string
	Location       string
	BytesProcessed int64
	TotalRows      int64
	StartedAt      time.Time
	FinishedAt     time.Time
	// BytesBilled is the job's totalBytesBilled.
	BytesBilled int64
}

// ErrQuery marks an error in the query itself (the agent's to fix), as
// opposed to an infrastructure fault.
var ErrQuery = errors.New("query failed")

// BigQuery runs queries through cloud.google.com/go/bigquery.
type BigQuery struct {
	client *bigquery.Client
	// deleteJobRecords: DeleteResult also deletes the job's record
	// (WithJobRecordDeletion).
	deleteJobRecords bool
}

// Option configures New.
type Option func(*BigQuery)

// WithJobRecordDeletion makes DeleteResult delete the job's record too,
// for a warehouse that keeps a copy of each job's result rows in it: the
// embedded BigQuery (goccy/bigquery-emulator) does, BigQuery does not
// (its job metadata holds no rows, and the record step's account has no
// bigquery.jobs.delete).
func WithJobRecordDeletion() Option { return func(b *BigQuery) { b.deleteJobRecords = true } }

// New wraps a client.
func New(client *bigquery.Client, opts ...Option) *BigQuery {
	b := &BigQuery{client: client}
	for _, o := range opts {
		o(b)
	}
	return b
}

// existingJob finds the job a retried jobs.insert collided with (409). A
// job lives in a location, and jobs.get outside the multi-regions needs it
// (issue 12 finding 12): when the client names none, the job ran where its
// destination, the results dataset, is, so the location is read from the
// dataset.
func (b *BigQuery) existingJob(ctx context.Context, q Query) (*bigquery.Job, error) {
	loc := b.client.Location
	if loc == "" && q.ResultsDataset != "" {
		proj, ds := b.client.Project(), q.ResultsDataset
		if i := strings.IndexByte(ds, '.'); i >= 0 {
			proj, ds = ds[:i], ds[i+1:]
		}
		md, err := b.client.DatasetInProject(proj, ds).Metadata(ctx)
		if err != nil {
			return nil, fmt.Errorf("the results dataset's location: %w", err)
		}
		loc = md.Location
	}
	return b.client.JobFromIDLocation(ctx, q.JobID, loc)
}

// Client returns the underlying client.
func (b *BigQuery) Client() *bigquery.Client { return b.client }

// Run starts the job (or attaches to the job with the same id) and waits for
// it to finish.
func (b *BigQuery) Run(ctx context.Context, q Query) (*Job, error) {
	bq := b.client.Query(q.SQL)
	bq.JobID = q.JobID
	bq.Labels = q.Labels
	bq.MaxBytesBilled = q.MaxBytesBilled
	bq.JobTimeout = q.Timeout
	if q.DefaultDataset != "" {
		proj, ds := q.DefaultProject, q.DefaultDataset
		if i := strings.IndexByte(ds, '.'); i >= 0 {
			proj, ds = ds[:i], ds[i+1:]
		}
		bq.DefaultProjectID, bq.DefaultDatasetID = proj, ds
	}
	if q.ResultsDataset != "" {
		proj, ds := b.client.Project(), q.ResultsDataset
		if i := strings.IndexByte(ds, '.'); i >= 0 {
			proj, ds = ds[:i], ds[i+1:]
		}
		bq.Dst = b.client.DatasetInProject(proj, ds).Table(q.JobID)
		bq.CreateDisposition = bigquery.CreateIfNeeded
		bq.WriteDisposition = bigquery.WriteTruncate
	}
	params, err := Parameters(q.Parameters)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQuery, err)
	}
	bq.Parameters = params
	job, err := bq.Run(ctx)
	if isDuplicate(err) {
		job, err = b.existingJob(ctx, q)
	}
	if err != nil {
		return nil, classify("start query", err)
	}
	// jobs.insert (or jobs.get for a job already started) returns the job
	// with its status; one that is already DONE carries its statistics,
	// and waiting would cost a jobs.getQueryResults and a jobs.get more
	// (the embedded BigQuery answers the first only after a fixed 100 ms).
	st := job.LastStatus()
	if st == nil || !st.Done() {
		st, err = job.Wait(ctx)
		if err != nil {
			return nil, classify("wait for query", err)
		}
	}
	if err := st.Err(); err != nil {
		return nil, classify("query", err)
	}
	out := &Job{ID: job.ID(), Location: job.Location()}
	if st.Statistics != nil {
		out.StartedAt, out.FinishedAt = jobTime(st.Statistics.StartTime), jobTime(st.Statistics.EndTime)
		if qs, ok := st.Statistics.Details.(*bigquery.QueryStatistics); ok {
			out.BytesProcessed = qs.TotalBytesProcessed
			out.BytesBilled = qs.TotalBytesBilled
		}
	}
	return out, nil
}

// secondsAsMillis is the latest instant a job time can read as when its
// field held Unix seconds and the client decoded it as milliseconds:
// 1e11 ms after the epoch (1973-03-03), which no real job predates.
var secondsAsMillis = time.UnixMilli(1e11)

// jobTime returns a job statistics time as the instant it names. The
// BigQuery API sends startTime and endTime in milliseconds since the epoch,
// and the client decodes them so; the emulator (goccy/bigquery-emulator)
// sends seconds, which decode to a day in January 1970
// (1796190680 s read as ms is 1970-01-21T18:56:30.68Z). Such a time is
// reinterpreted as seconds; a zero time stays zero.
func jobTime(t time.Time) time.Time {
	if t.IsZero() || !t.Before(secondsAsMillis) {
		return t
	}
	return time.Unix(t.UnixMilli(), 0).UTC()
}

// Read streams the job's result rows to fn, stopping after maxRows rows
// (0 means all). It returns the schema and the total row count.
func (b *BigQuery) Read(ctx context.Context, jobID, location string, maxRows int64, fn func(row []bigquery.Value) error) (bigquery.Schema, int64, error) {
	job, err := b.client.JobFromIDLocation(ctx, jobID, location)
	if err != nil {
		return nil, 0, classify("read job", err)
	}
	it, err := job.Read(ctx)
	if err != nil {
		return nil, 0, classify("read result", err)
	}
	return readRows(it, maxRows, fn)
}

// ReadTable streams the rows of a finished job's destination table, the
// table named after the job in resultsDataset ("project.dataset" or
// "dataset", the Query.ResultsDataset it ran with), to fn, stopping after
// maxRows rows (0 means all). It returns the schema and the total row
// count. It reads the table itself (tables.get for the schema, then
// tabledata.list) instead of the job (jobs.get, then jobs.getQueryResults
// to wait and again for the rows): a destination table is complete once
// its job is DONE, which Run waited for.
//
// A result with a BYTES field is read through the job instead (Read): the
// embedded BigQuery (goccy/bigquery-emulator) stores BYTES in a
// destination table as their base64 text, so the table would hand back
// the text's base64 (TestBigQueryGoClientEncodings). BigQuery reads the
// same either way.
func (b *BigQuery) ReadTable(ctx context.Context, resultsDataset, jobID, location string, maxRows int64, fn func(row []bigquery.Value) error) (bigquery.Schema, int64, error) {
	proj, ds := b.client.Project(), resultsDataset
	if i := strings.IndexByte(ds, '.'); i >= 0 {
		proj, ds = ds[:i], ds[i+1:]
	}
	t := b.client.DatasetInProject(proj, ds).Table(jobID)
	md, err := t.Metadata(ctx, bigquery.WithMetadataView(bigquery.BasicMetadataView))
	if err != nil {
		return nil, 0, classify("read result schema", err)
	}
	if hasBytes(md.Schema) {
		return b.Read(ctx, jobID, location, maxRows, fn)
	}
	it := t.Read(ctx)
	it.Schema = md.Schema // no second tables.get
	return readRows(it, maxRows, fn)
}

// hasBytes reports whether s has a BYTES field at any depth.
func hasBytes(s bigquery.Schema) bool {
	for _, f := range s {
		if f.Type == bigquery.BytesFieldType || hasBytes(f.Schema) {
			return true
		}
	}
	return false
}

// readRows drains it into fn, at most maxRows rows (0 means all).
func readRows(it *bigquery.RowIterator, maxRows int64, fn func(row []bigquery.Value) error) (bigquery.Schema, int64, error) {
	var n int64
	for maxRows == 0 || n < maxRows {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, 0, classify("read result", err)
		}
		if err := fn(row); err != nil {
			return nil, 0, err
		}
		n++
	}
	return it.Schema, int64(it.TotalRows), nil
}

// Fields converts a BigQuery schema to the session's field list.
func Fields(s bigquery.Schema) []session.Field {
	out := make([]session.Field, 0, len(s))
	for _, f := range s {
		mode := "NULLABLE"
		if f.Repeated {
			mode = "REPEATED"
		} else if f.Required {
			mode = "REQUIRED"
		}
		var sub []session.Field
		if len(f.Schema) > 0 {
			sub = Fields(f.Schema)
		}
		out = append(out, session.Field{Name: f.Name, Type: string(f.Type), Mode: mode, Fields: sub})
	}
	return out
}

// Parameters converts the agent's parameters. Only scalar types are
// accepted; a value that does not fit its declared type is an error naming
// the parameter (never the value).
func Parameters(ps []session.Parameter) ([]bigquery.QueryParameter, error) {
	var out []bigquery.QueryParameter
	for _, p := range ps {
		var v any
		if err := json.Unmarshal(p.Value, &v); err != nil {
			return nil, fmt.Errorf("parameter %q: value is not JSON", p.Name)
		}
		typ := strings.ToUpper(p.Type)
		switch typ {
		case "", "STRING":
			s, ok := v.(string)
			if !ok && typ == "STRING" {
				return nil, fmt.Errorf("parameter %q: want a string", p.Name)
			}
			if ok {
				out = append(out, bigquery.QueryParameter{Name: p.Name, Value: s})
				continue
			}
			out = append(out, bigquery.QueryParameter{Name: p.Name, Value: v})
		case "INT64", "INTEGER":
			var n json.Number
			if err := json.Unmarshal(p.Value, &n); err != nil {
				return nil, fmt.Errorf("parameter %q: want an integer", p.Name)
			}
			i, err := n.Int64()
			if err != nil {
				return nil, fmt.Errorf("parameter %q: want an integer", p.Name)
			}
			out = append(out, bigquery.QueryParameter{Name: p.Name, Value: i})
		case "FLOAT64", "FLOAT":
			f, ok := v.(float64)
			if !ok {
				return nil, fmt.Errorf("parameter %q: want a number", p.Name)
			}
			out = append(out, bigquery.QueryParameter{Name: p.Name, Value: f})
		case "BOOL", "BOOLEAN":
			bv, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("parameter %q: want true or false", p.Name)
			}
			out = append(out, bigquery.QueryParameter{Name: p.Name, Value: bv})
		default:
			return nil, fmt.Errorf("parameter %q: type %s is not supported (use STRING, INT64, FLOAT64 or BOOL)", p.Name, p.Type)
		}
	}
	return out, nil
}

// PrincipalHash labels jobs with a hash of the principal instead of an email
// (labels are visible to anyone who can list jobs).
func PrincipalHash(p session.Principal) string {
	sum := sha256.Sum256([]byte(p.Issuer + "\x00" + p.Subject))
	return hex.EncodeToString(sum[:8])
}

// JobID returns the deterministic job id of a session's query.
func JobID(sessionID string) string {
	return "querygate_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, sessionID)
}

func isDuplicate(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusConflict
}

// classify wraps err, marking the agent's own errors (bad SQL, missing
// table, bytes over the limit) with ErrQuery. The text it keeps is safe to
// log, store and return: see SafeMessage.
func classify(op string, err error) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code >= 400 && ge.Code < 500 && ge.Code != http.StatusTooManyRequests && ge.Code != http.StatusConflict {
		return fmt.Errorf("%s: %w: %s", op, ErrQuery, SafeMessage(ge.Message))
	}
	var be *bigquery.Error
	if errors.As(err, &be) && be.Reason != "backendError" && be.Reason != "internalError" && be.Reason != "rateLimitExceeded" {
		return fmt.Errorf("%s: %w: %s: %s", op, ErrQuery, be.Reason, SafeMessage(be.Message))
	}
	return fmt.Errorf("%s: %s", op, SafeMessage(err.Error()))
}

// analysisErrors are the beginnings of BigQuery error messages produced
// while compiling the query. They quote only the SQL the agent wrote, never
// table data, and they tell the agent what to fix.
var analysisErrors = []string{
	"Syntax error:", "Unrecognized name:", "Not found: Table", "Not found: Dataset", "Not found: Project",
	"Function not found:", "No matching signature for", "Column name ", "Table name ", "Query exceeded limit for bytes billed",
	"Access Denied:", "Invalid table name", "Unrecognized function", "Duplicate alias", "SELECT list expression references",
	"Table `", "Dataset `",
}

// SafeMessage returns msg scrubbed of values when it is a query-analysis
// error, and a fixed text otherwise: run-time errors (ERROR(), failed casts
// and parses) can carry any cell value, including names and free text that
// no pattern recognises, so their text never leaves BigQuery.
func SafeMessage(msg string) string {
	// The emulator prefixes ZetaSQL's analysis errors.
	m := strings.TrimPrefix(strings.TrimPrefix(msg, "failed to analyze: "), "INVALID_ARGUMENT: ")
	for _, p := range analysisErrors {
		if strings.HasPrefix(m, p) {
			return Scrub(m)
		}
	}
	return "the query failed while running; BigQuery's message is withheld because run-time errors can quote data values"
}

// Scrub removes what could be a data value from a BigQuery error message
// before it reaches the agent, a log or the session: run-time errors such as
// "Bad int64 value: 123-45-6789" quote cell contents. Quoted spans and runs
// of three or more digits or letters-with-digits are replaced with "…".
func Scrub(msg string) string {
	var b strings.Builder
	rs := []rune(msg)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		if c == '\'' || c == '"' || c == '`' {
			j := i + 1
			for j < len(rs) && rs[j] != c {
				j++
			}
			if c == '`' && j < len(rs) { // identifiers are not data
				b.WriteString(string(rs[i : j+1]))
				i = j
				continue
			}
			b.WriteString("…")
			i = j
			continue
		}
		if c == ':' && i+1 < len(rs) {
			// "Bad int64 value: <cell>": everything after a colon that
			// follows the word "value" is withheld.
			if strings.HasSuffix(strings.ToLower(string(rs[max(0, i-5):i])), "value") {
				b.WriteString(": …")
				break
			}
		}
		if isWordRune(c) {
			j := i
			digits := 0
			for j < len(rs) && (isWordRune(rs[j]) || rs[j] == '-' || rs[j] == '@' || rs[j] == '.') {
				if rs[j] >= '0' && rs[j] <= '9' {
					digits++
				}
				j++
			}
			word := string(rs[i:j])
			if digits >= 3 || strings.Contains(word, "@") {
				b.WriteString("…")
			} else {
				b.WriteString(word)
			}
			i = j - 1
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func isWordRune(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'
}
