package bqapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/session"
)

// PromptHeader carries the agent's prompt (why it runs the query). Its
// value is percent-decoded (RFC 3986), so that line breaks and any UTF-8
// text fit in a header. When the header is absent, the SQL's leading
// comment is the prompt; when it is present it wins and the comment is
// only part of the SQL.
const PromptHeader = "X-Querygate-Prompt"

// JustificationHeader carries the agent's justification (why the query is
// needed; shown to approvers, recorded), percent-decoded like PromptHeader.
// BreakGlassHeader set to "true" declares break-glass (docs/policy.md).
const (
	JustificationHeader = "X-Querygate-Justification"
	BreakGlassHeader    = "X-Querygate-Break-Glass"
)

// Job labels that name the conversation, the agent and its model.
const (
	LabelConversation = "querygate-conversation"
	LabelAgent        = "querygate-agent"
	LabelModel        = "querygate-model"
)

// maxBodyBytes bounds a jobs.insert or jobs.query body: the SQL limit plus
// room for the rest of the request.
const maxBodyBytes = intake.MaxBodyBytes

// Resource ids, as BigQuery allows them (at most 1024 characters): job ids
// and table ids of letters, digits, dashes and underscores; dataset ids
// without dashes; project ids also with dots and colons
// ("example.com:proj").
type idRule struct{ extra string }

var (
	jobIDRE     = idRule{extra: "_-"}
	tableIDRE   = idRule{extra: "_-"}
	datasetIDRE = idRule{extra: "_"}
	projectIDRE = idRule{extra: "_-.:"}
)

// MatchString reports whether s is a valid id under the rule.
func (r idRule) MatchString(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(r.extra, c)) {
			return false
		}
	}
	return true
}

type datasetRef struct {
	ProjectID string `json:"projectId,omitempty"`
	DatasetID string `json:"datasetId"`
}

type tableRef struct {
	ProjectID string `json:"projectId"`
	DatasetID string `json:"datasetId"`
	TableID   string `json:"tableId"`
}

type jobRef struct {
	ProjectID string `json:"projectId"`
	JobID     string `json:"jobId"`
	Location  string `json:"location,omitempty"`
}

// queryParameter is BigQuery's QueryParameter, scalar types only.
type queryParameter struct {
	Name          string `json:"name"`
	ParameterType *struct {
		Type      string           `json:"type"`
		ArrayType *json.RawMessage `json:"arrayType"`
		// StructTypes is only detected, to refuse it.
		StructTypes *json.RawMessage `json:"structTypes"`
	} `json:"parameterType"`
	ParameterValue *struct {
		Value        *string          `json:"value"`
		ArrayValues  *json.RawMessage `json:"arrayValues"`
		StructValues *json.RawMessage `json:"structValues"`
	} `json:"parameterValue"`
}

type formatOptions struct {
	UseInt64Timestamp     bool   `json:"useInt64Timestamp"`
	TimestampOutputFormat string `json:"timestampOutputFormat"`
}

// queryOptions are the fields that jobs.query's QueryRequest and
// jobs.insert's JobConfigurationQuery share. Options querygate cannot honour
// without changing what runs or where results go are decoded only to refuse
// them.
type queryOptions struct {
	Query           string           `json:"query"`
	UseLegacySQL    *bool            `json:"useLegacySql"`
	DefaultDataset  *datasetRef      `json:"defaultDataset"`
	ParameterMode   string           `json:"parameterMode"`
	QueryParameters []queryParameter `json:"queryParameters"`
	// Refused.
	DryRun               bool             `json:"dryRun"`
	DestinationTable     *json.RawMessage `json:"destinationTable"`
	TableDefinitions     *json.RawMessage `json:"tableDefinitions"`
	UDFResources         *json.RawMessage `json:"userDefinedFunctionResources"`
	CreateSession        bool             `json:"createSession"`
	ConnectionProperties *json.RawMessage `json:"connectionProperties"`
	Continuous           bool             `json:"continuous"`
}

// queryRequest is the body of jobs.query.
type queryRequest struct {
	queryOptions
	Kind          string            `json:"kind"`
	MaxResults    *int64            `json:"maxResults"`
	TimeoutMs     *int64            `json:"timeoutMs"`
	Location      string            `json:"location"`
	Labels        map[string]string `json:"labels"`
	RequestID     string            `json:"requestId"`
	FormatOptions *formatOptions    `json:"formatOptions"`
}

// jobInsert is the body of jobs.insert.
type jobInsert struct {
	JobReference  *jobRef `json:"jobReference"`
	Configuration struct {
		Query  *queryOptions     `json:"query"`
		DryRun bool              `json:"dryRun"`
		Labels map[string]string `json:"labels"`
		// Any other job type is refused.
		Load    *json.RawMessage `json:"load"`
		Copy    *json.RawMessage `json:"copy"`
		Extract *json.RawMessage `json:"extract"`
	} `json:"configuration"`
}

func decodeBody(r *http.Request, w http.ResponseWriter, v any) *apiError {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{Code: http.StatusRequestEntityTooLarge, Reason: reasonInvalid,
				Message: "the request body is larger than " + strconv.Itoa(maxBodyBytes) + " bytes"}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest(fmt.Sprintf("field %q has the wrong JSON type", te.Field))
		}
		return badRequest("the request body is not a valid JSON object")
	}
	return nil
}

// toIntake turns the BigQuery request into intake's request, refusing
// options querygate does not run. Errors are 400s for the agent.
func (o *queryOptions) toIntake(r *http.Request, labels map[string]string, dryRun bool) (*intake.QueryRequest, *apiError) {
	switch {
	case strings.TrimSpace(o.Query) == "":
		return nil, &apiError{Code: http.StatusBadRequest, Reason: reasonRequired, Message: "query is required"}
	case o.UseLegacySQL != nil && *o.UseLegacySQL:
		return nil, badRequest("querygate runs GoogleSQL only: set useLegacySql to false")
	case dryRun || o.DryRun:
		return nil, badRequest("querygate does not run dry runs; send the query to have it checked and run")
	case o.DestinationTable != nil && string(*o.DestinationTable) != "null":
		return nil, badRequest("querygate does not write results to a destination table; read them with getQueryResults")
	case o.TableDefinitions != nil && string(*o.TableDefinitions) != "null":
		return nil, badRequest("querygate does not query external table definitions")
	case o.UDFResources != nil && string(*o.UDFResources) != "null" && string(*o.UDFResources) != "[]":
		return nil, badRequest("querygate does not load user-defined function resources")
	case o.CreateSession || (o.ConnectionProperties != nil && string(*o.ConnectionProperties) != "null" && string(*o.ConnectionProperties) != "[]"):
		return nil, badRequest("querygate does not run BigQuery sessions (createSession, connectionProperties)")
	case o.Continuous:
		return nil, badRequest("querygate does not run continuous queries")
	}
	req := &intake.QueryRequest{SQL: o.Query}
	prompt, err := promptOf(r, o.Query)
	if err != nil {
		return nil, err
	}
	req.Prompt = prompt
	if err := justificationOf(r, req); err != nil {
		return nil, err
	}
	req.ConversationID = labels[LabelConversation]
	req.Agent = session.Agent{Name: labels[LabelAgent], Model: labels[LabelModel]}
	if d := o.DefaultDataset; d != nil && d.DatasetID != "" {
		req.DefaultDataset = d.DatasetID
		if d.ProjectID != "" {
			req.DefaultDataset = d.ProjectID + "." + d.DatasetID
		}
	}
	if len(o.QueryParameters) > 0 && !strings.EqualFold(o.ParameterMode, "NAMED") {
		return nil, badRequest("querygate supports named query parameters only: set parameterMode to NAMED")
	}
	for i, p := range o.QueryParameters {
		sp, err := p.toSession(i)
		if err != nil {
			return nil, err
		}
		req.Parameters = append(req.Parameters, sp)
	}
	if err := req.Validate(); err != nil {
		var be *intake.BadRequestError
		if errors.As(err, &be) {
			return nil, badRequest(be.Msg)
		}
		return nil, badRequest("the query request is not valid")
	}
	return req, nil
}

// toSession converts a scalar parameter into intake's form: the value as
// JSON of its type. Errors name the parameter, never the value.
func (p queryParameter) toSession(i int) (session.Parameter, *apiError) {
	if p.Name == "" {
		return session.Parameter{}, badRequest(fmt.Sprintf("queryParameters[%d] needs a name", i))
	}
	if p.ParameterType == nil || p.ParameterValue == nil {
		return session.Parameter{}, badRequest(fmt.Sprintf("parameter %q needs parameterType and parameterValue", p.Name))
	}
	if p.ParameterType.ArrayType != nil || p.ParameterType.StructTypes != nil ||
		p.ParameterValue.ArrayValues != nil || p.ParameterValue.StructValues != nil {
		return session.Parameter{}, badRequest(fmt.Sprintf("parameter %q: only scalar parameters are supported (STRING, INT64, FLOAT64, BOOL)", p.Name))
	}
	if p.ParameterValue.Value == nil {
		return session.Parameter{}, badRequest(fmt.Sprintf("parameter %q: NULL values are not supported", p.Name))
	}
	v := *p.ParameterValue.Value
	typ := strings.ToUpper(p.ParameterType.Type)
	var raw []byte
	switch typ {
	case "STRING":
		raw, _ = json.Marshal(v)
	case "INT64", "INTEGER":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return session.Parameter{}, badRequest(fmt.Sprintf("parameter %q: value is not an INT64", p.Name))
		}
		raw = []byte(v)
		typ = "INT64"
	case "FLOAT64", "FLOAT":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return session.Parameter{}, badRequest(fmt.Sprintf("parameter %q: value is not a finite FLOAT64", p.Name))
		}
		raw = []byte(strconv.FormatFloat(f, 'g', -1, 64))
		typ = "FLOAT64"
	case "BOOL", "BOOLEAN":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return session.Parameter{}, badRequest(fmt.Sprintf("parameter %q: value is not a BOOL", p.Name))
		}
		raw = []byte(strconv.FormatBool(b))
		typ = "BOOL"
	default:
		return session.Parameter{}, badRequest(fmt.Sprintf("parameter %q: type %s is not supported (use STRING, INT64, FLOAT64 or BOOL)", p.Name, p.ParameterType.Type))
	}
	return session.Parameter{Name: p.Name, Type: typ, Value: raw}, nil
}

// promptOf returns the prompt: the percent-decoded PromptHeader when the
// request has one, else the SQL's leading comment.
func promptOf(r *http.Request, sql string) (string, *apiError) {
	if vs, ok := r.Header[http.CanonicalHeaderKey(PromptHeader)]; ok {
		if len(vs) != 1 {
			return "", badRequest("send " + PromptHeader + " once")
		}
		p, err := url.PathUnescape(vs[0])
		if err != nil {
			return "", badRequest(PromptHeader + " must be percent-encoded (RFC 3986)")
		}
		return p, nil
	}
	return LeadingComment(sql), nil
}

// LeadingComment returns the text of the comments that open sql, before its
// first token: "--" and "#" line comments and "/* */" block comments, with
// the markers and an optional "prompt:" label removed, lines joined by
// "\n". It returns "" when sql does not open with a comment.
func LeadingComment(sql string) string {
	var lines []string
	s := sql
	for {
		s = strings.TrimLeft(s, " \t\r\n\f\v")
		switch {
		case strings.HasPrefix(s, "--") || strings.HasPrefix(s, "#"):
			n := 1
			if s[0] == '-' {
				n = 2
			}
			end := strings.IndexByte(s, '\n')
			if end < 0 {
				end = len(s)
			}
			lines = append(lines, s[n:end])
			s = s[end:]
		case strings.HasPrefix(s, "/*"):
			end := strings.Index(s[2:], "*/")
			if end < 0 {
				// An unterminated comment is a syntax error for the
				// parser; it is no prompt.
				return cleanPrompt(lines)
			}
			for _, l := range strings.Split(s[2:2+end], "\n") {
				lines = append(lines, strings.TrimPrefix(strings.TrimSpace(l), "*"))
			}
			s = s[2+end+2:]
		default:
			return cleanPrompt(lines)
		}
	}
}

func cleanPrompt(lines []string) string {
	var out []string
	for _, l := range lines {
		l = strings.TrimSpace(strings.TrimSuffix(l, "\r"))
		if len(out) == 0 {
			if rest, ok := cutFold(l, "prompt:"); ok {
				l = strings.TrimSpace(rest)
			}
			if l == "" {
				continue
			}
		}
		out = append(out, l)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

func cutFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
