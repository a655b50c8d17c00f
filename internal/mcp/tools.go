package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/session"
)

// RunQueryInput is run_query's arguments.
type RunQueryInput struct {
	SQL            string `json:"sql" jsonschema:"one GoogleSQL query (a SELECT). Name the columns you need: SELECT * over a table with personal data needs a person's approval"`
	Prompt         string `json:"prompt,omitempty" jsonschema:"the user's request this query answers, verbatim; approvers read it and it is recorded"`
	Wait           *int   `json:"wait,omitempty" jsonschema:"seconds to wait for the result, also while a person decides an approval (0 to 300, default 30)"`
	ConversationID string `json:"conversation_id,omitempty" jsonschema:"your conversation's id, to group its queries in the record"`
	DefaultDataset string `json:"default_dataset,omitempty" jsonschema:"dataset or project.dataset that qualifies unqualified table names"`
	Justification  string `json:"justification,omitempty" jsonschema:"why this query is needed, in one or two sentences (at most 1000 bytes); approvers read it and it is recorded. Some queries need one: the tool error says so"`
	BreakGlass     bool   `json:"break_glass,omitempty" jsonschema:"run a query that would wait for approval at once, for an emergency; only members of the rule's break-glass group may, it needs a justification, and the approvers review it afterwards. Never set it to avoid a wait"`
}

// GetSessionInput is get_session's arguments.
type GetSessionInput struct {
	ID   string `json:"id" jsonschema:"the session_id that run_query returned"`
	Wait *int   `json:"wait,omitempty" jsonschema:"seconds to wait for the session to end, also while a person decides an approval (0 to 300, default 0)"`
	Page *int   `json:"page,omitempty" jsonschema:"result page to return, from next_page (default 0)"`
}

// SessionResult is what run_query and get_session return.
type SessionResult struct {
	SessionID  string `json:"session_id"`
	Status     string `json:"status" jsonschema:"running, pending_approval, succeeded, denied, rejected, expired or failed"`
	SessionURL string `json:"session_url"`
	// NextStep tells the model exactly what to do next.
	NextStep      string           `json:"next_step" jsonschema:"what to do next"`
	Schema        []Field          `json:"schema,omitempty"`
	Rows          []map[string]any `json:"rows,omitempty" jsonschema:"result rows of this page, one object per row; masked columns hold de-identified values"`
	TotalRows     int64            `json:"total_rows,omitempty"`
	MaskedColumns []string         `json:"masked_columns,omitempty" jsonschema:"output columns that were de-identified"`
	Truncated     bool             `json:"truncated,omitempty" jsonschema:"the result was cut at querygate's row or byte limit"`
	NextPage      *int             `json:"next_page,omitempty" jsonschema:"pass as page to get_session for more rows"`
	Reasons       []string         `json:"reasons,omitempty"`
	RuleIDs       []string         `json:"rule_ids,omitempty"`
	Errors        []string         `json:"errors,omitempty"`
	ApproverGroup string           `json:"approver_group,omitempty" jsonschema:"the group asked to approve"`
	Approvers     []string         `json:"approvers,omitempty" jsonschema:"the people asked to approve"`
	ExpiresAt     string           `json:"expires_at,omitempty" jsonschema:"RFC 3339 time at which the approval request expires"`
}

// Field is one result or table column.
type Field struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Mode string `json:"mode,omitempty"`
}

// maxWait bounds every wait, as the /v1 API does.
const maxWait = intake.MaxWaitSeconds

func intSchema(s *jsonschema.Schema, prop string, lo, hi float64) {
	p := s.Properties[prop]
	p.Minimum, p.Maximum = &lo, &hi
}

func boolPtr(b bool) *bool { return &b }

// outputSchema is T's schema, for tools whose handlers return any so that
// error results carry no structured content.
func outputSchema[T any]() (*jsonschema.Schema, error) {
	return jsonschema.For[T](nil)
}

func (s *Server) addTools() error {
	sessOut, err := outputSchema[SessionResult]()
	if err != nil {
		return fmt.Errorf("session result schema: %w", err)
	}
	dsOut, err := outputSchema[ListDatasetsResult]()
	if err != nil {
		return fmt.Errorf("list_datasets schema: %w", err)
	}
	tblOut, err := outputSchema[TableDescription]()
	if err != nil {
		return fmt.Errorf("describe_table schema: %w", err)
	}
	expOut, err := outputSchema[PolicyExplanation]()
	if err != nil {
		return fmt.Errorf("explain_policy schema: %w", err)
	}
	rq, err := jsonschema.For[RunQueryInput](nil)
	if err != nil {
		return fmt.Errorf("run_query schema: %w", err)
	}
	intSchema(rq, "wait", 0, maxWait)
	sdk.AddTool(s.srv, &sdk.Tool{
		Name:  "run_query",
		Title: "Run a BigQuery query",
		Description: "Run one GoogleSQL query under querygate's policy and return its rows, with columns derived from personal data de-identified. " +
			"Each call is one recorded session. If a person must approve the query, the result has status pending_approval, says who was asked and " +
			"when the request expires; call get_session with the session_id to get the rows after approval. A denied query is a tool error whose " +
			"reasons say what to change; explain_policy checks a query without running it.",
		InputSchema:  rq,
		OutputSchema: sessOut,
		// Reads data only (DML and DDL are denied by policy), but every call
		// is recorded and may ask a person, so it is not idempotent.
		Annotations: &sdk.ToolAnnotations{Title: "Run a BigQuery query", ReadOnlyHint: true, DestructiveHint: boolPtr(false), OpenWorldHint: boolPtr(true)},
	}, s.runQuery)

	gs, err := jsonschema.For[GetSessionInput](nil)
	if err != nil {
		return fmt.Errorf("get_session schema: %w", err)
	}
	intSchema(gs, "wait", 0, maxWait)
	intSchema(gs, "page", 0, 1<<20)
	sdk.AddTool(s.srv, &sdk.Tool{
		Name:  "get_session",
		Title: "Get a query session",
		Description: "Get the state and, once it succeeded, the rows of a session that run_query started. With wait, block up to that many seconds " +
			"for it to end (for example while a person decides an approval). Use page with next_page for further rows.",
		InputSchema:  gs,
		OutputSchema: sessOut,
		Annotations:  &sdk.ToolAnnotations{Title: "Get a query session", ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: boolPtr(false), OpenWorldHint: boolPtr(false)},
	}, s.getSession)

	sdk.AddTool(s.srv, &sdk.Tool{
		Name:         "list_datasets",
		Title:        "List datasets and tables",
		Description:  "List the BigQuery datasets and tables that querygate's policy governs. Use describe_table for a table's columns.",
		OutputSchema: dsOut,
		Annotations:  &sdk.ToolAnnotations{Title: "List datasets and tables", ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: boolPtr(false), OpenWorldHint: boolPtr(false)},
	}, s.listDatasets)

	sdk.AddTool(s.srv, &sdk.Tool{
		Name:  "describe_table",
		Title: "Describe a table",
		Description: "Show a table's columns and which of them querygate masks (masked: true, with the kinds of personal data), so that you ask " +
			"only for what you may have. Also says what the policy decides for SELECT * on it.",
		OutputSchema: tblOut,
		Annotations:  &sdk.ToolAnnotations{Title: "Describe a table", ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: boolPtr(false), OpenWorldHint: boolPtr(false)},
	}, s.describeTable)

	sdk.AddTool(s.srv, &sdk.Tool{
		Name:  "explain_policy",
		Title: "Explain the policy for a query",
		Description: "Say whether a query would run, need a person's approval, or be denied, and why (rule ids and reasons), and which output " +
			"columns would be masked, without running it or recording a session.",
		OutputSchema: expOut,
		Annotations:  &sdk.ToolAnnotations{Title: "Explain the policy for a query", ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: boolPtr(false), OpenWorldHint: boolPtr(false)},
	}, s.explainPolicy)
	return nil
}

// toolError is a tool result with IsError set: the model reads msg and
// acts on it. It is never a protocol error.
func toolError(msg string) *sdk.CallToolResult {
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: msg}}}
}

// withText puts a one-line summary for the model before the JSON of out.
func withText(isError bool, summary string, out any) *sdk.CallToolResult {
	b, _ := json.Marshal(out)
	return &sdk.CallToolResult{IsError: isError, Content: []sdk.Content{&sdk.TextContent{Text: summary}, &sdk.TextContent{Text: string(b)}}}
}

func (s *Server) runQuery(ctx context.Context, req *sdk.CallToolRequest, in RunQueryInput) (*sdk.CallToolResult, any, error) {
	p, err := principal(req)
	if err != nil {
		return toolError(err.Error()), nil, nil
	}
	q := &intake.QueryRequest{SQL: in.SQL, Prompt: in.Prompt, ConversationID: in.ConversationID, DefaultDataset: in.DefaultDataset,
		WaitSeconds: in.Wait, Agent: session.Agent{Name: agentName(req)}, Justification: in.Justification, BreakGlass: in.BreakGlass}
	if err := q.Validate(); err != nil {
		return toolError("The request was not accepted: " + err.Error()), nil, nil
	}
	sess, err := s.cfg.Intake.Submit(ctx, intake.SubmitRequest{Principal: p, Query: q})
	if r, ok := limits.AsRefusal(err); ok {
		// No session was created; the agent is told when to call again.
		return withText(true, "Not run: "+r.Error()+".", map[string]any{"limit": r.Limit, "max": r.Max, "used": r.Used,
			"retry_after_seconds": r.RetryAfterSeconds()}), nil, nil
	}
	if err != nil {
		return toolError(err.Error() + "."), nil, nil
	}
	cur := s.await(ctx, req, sess, q.Wait())
	return s.render(ctx, cur, 0)
}

// agentName names the MCP client as the session's agent, when the client
// said who it is and the name is a safe single line.
func agentName(req *sdk.CallToolRequest) string {
	name := "mcp"
	if req.Session != nil {
		if ip := req.Session.InitializeParams(); ip != nil && ip.ClientInfo != nil && ip.ClientInfo.Name != "" {
			name = "mcp:" + ip.ClientInfo.Name
		}
	}
	q := &intake.QueryRequest{SQL: "x", Agent: session.Agent{Name: name}}
	if q.Validate() != nil {
		return "mcp"
	}
	return name
}

func (s *Server) getSession(ctx context.Context, req *sdk.CallToolRequest, in GetSessionInput) (*sdk.CallToolResult, any, error) {
	p, err := principal(req)
	if err != nil {
		return toolError(err.Error()), nil, nil
	}
	sess, err := s.cfg.Intake.ReadSession(ctx, p, in.ID)
	if errors.Is(err, session.ErrNotFound) {
		return toolError(fmt.Sprintf("No session %q that you may read. Use the session_id that run_query returned to you.", in.ID)), nil, nil
	}
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "mcp get session failed", "error", err.Error())
		return toolError("The session could not be read; retry later."), nil, nil
	}
	wait := 0
	if in.Wait != nil {
		wait = *in.Wait
	}
	if wait > 0 && !sess.Status.Terminal() {
		sess = s.await(ctx, req, sess, wait)
	}
	page := 0
	if in.Page != nil {
		page = *in.Page
	}
	return s.render(ctx, sess, page)
}

// progressEvery is how often a waiting call reports progress while no
// state change happens, so that hosts show it alive and keep the stream.
const progressEvery = 15 * time.Second

// await waits up to seconds for sess to end, through a pending approval,
// and sends a progress notification whenever the state changes and every
// progressEvery while it waits for a person. It returns the latest state.
func (s *Server) await(ctx context.Context, req *sdk.CallToolRequest, sess *session.Session, seconds int) *session.Session {
	cur := s.latest(ctx, sess)
	if seconds <= 0 || cur.Status.Terminal() {
		return cur
	}
	wctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second)
	defer cancel()
	var n float64
	lastStatus := session.Status("")
	for !cur.Status.Terminal() && wctx.Err() == nil {
		if cur.Status != lastStatus || cur.Status == session.StatusPendingApproval {
			n++
			s.progress(wctx, req, n, progressMessage(cur))
			lastStatus = cur.Status
		}
		tctx, tcancel := context.WithTimeout(wctx, progressEvery)
		got, err := s.cfg.Intake.Store.Wait(tctx, cur.ID, cur.Version)
		tcancel()
		if err == nil && got != nil {
			cur = got
			continue
		}
		if wctx.Err() != nil {
			break
		}
		if tctx.Err() == nil {
			// The store failed, not the tick: report what we have.
			s.cfg.Logger.WarnContext(ctx, "mcp wait failed", "session_id", cur.ID, "error", err.Error())
			break
		}
		// The tick passed with no change: loop to report progress again.
		if cur.Status != session.StatusPendingApproval {
			lastStatus = ""
		}
	}
	// Re-read: the last Wait may have ended on the deadline.
	return s.latest(context.WithoutCancel(ctx), cur)
}

// latest re-reads sess, keeping what it has if the store cannot answer.
func (s *Server) latest(ctx context.Context, sess *session.Session) *session.Session {
	if got, err := s.cfg.Intake.Store.Get(ctx, sess.ID); err == nil && got.Version >= sess.Version {
		return got
	}
	return sess
}

func (s *Server) progress(ctx context.Context, req *sdk.CallToolRequest, n float64, msg string) {
	tok := req.Params.GetProgressToken()
	if tok == nil || req.Session == nil {
		return
	}
	if err := req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: tok, Progress: n, Message: msg}); err != nil {
		s.cfg.Logger.DebugContext(ctx, "mcp progress not delivered", "error", err.Error())
	}
}

func progressMessage(sess *session.Session) string {
	if sess.Status == session.StatusPendingApproval {
		return "Session " + sess.ID + " is waiting for approval by " + askedOf(sess) + expiresPhrase(sess) + "."
	}
	return "Session " + sess.ID + " is " + string(sess.Status) + "."
}

func askedOf(sess *session.Session) string {
	if a := sess.Approval; a != nil && len(a.Approvers) > 0 {
		return strings.Join(a.Approvers, ", ")
	}
	if d := sess.Decision; d != nil && d.ApproverGroup != "" {
		return "the group " + d.ApproverGroup
	}
	return "an approver"
}

func expiresPhrase(sess *session.Session) string {
	if a := sess.Approval; a != nil && !a.ExpiresAt.IsZero() {
		return " (the request expires at " + a.ExpiresAt.UTC().Format(time.RFC3339) + ")"
	}
	return ""
}

// render turns a session into the tool result: rows when it succeeded, a
// pending result that says how to continue, or an IsError result whose
// reasons say what to change.
func (s *Server) render(ctx context.Context, sess *session.Session, page int) (*sdk.CallToolResult, any, error) {
	out := &SessionResult{SessionID: sess.ID, Status: string(sess.Status), SessionURL: s.cfg.PublicURL + "/v1/sessions/" + sess.ID}
	if d := sess.Decision; d != nil {
		out.RuleIDs = d.RuleIDs
		out.ApproverGroup = d.ApproverGroup
	}
	cont := fmt.Sprintf(`call get_session with {"id": %q, "wait": 60}`, sess.ID)
	switch sess.Status {
	case session.StatusSucceeded:
		r := sess.Result
		if r == nil {
			return toolError("The session succeeded but holds no result; retry the query."), nil, nil
		}
		for _, f := range r.Schema {
			out.Schema = append(out.Schema, Field{Name: f.Name, Type: f.Type, Mode: f.Mode})
		}
		out.TotalRows, out.MaskedColumns, out.Truncated = r.TotalRows, r.MaskedColumns, r.Truncated
		if page >= r.Pages && r.Pages > 0 {
			return toolError(fmt.Sprintf("Page %d does not exist; this result has pages 0 to %d.", page, r.Pages-1)), nil, nil
		}
		if page < r.Pages {
			pg, err := s.cfg.Intake.Store.GetPage(ctx, sess.ID, page)
			if err != nil {
				s.cfg.Logger.ErrorContext(ctx, "mcp read page failed", "session_id", sess.ID, "error", err.Error())
				return toolError("The result could not be read; call get_session with the session_id to retry."), nil, nil
			}
			dec := json.NewDecoder(bytes.NewReader(pg.Rows))
			dec.UseNumber()
			if err := dec.Decode(&out.Rows); err != nil {
				s.cfg.Logger.ErrorContext(ctx, "mcp decode page failed", "session_id", sess.ID, "error", err.Error())
				return toolError("The stored result could not be decoded."), nil, nil
			}
		}
		if page+1 < r.Pages {
			next := page + 1
			out.NextPage = &next
			out.NextStep = fmt.Sprintf(`More rows: call get_session with {"id": %q, "page": %d}.`, sess.ID, next)
		} else {
			out.NextStep = "Done: these are all the rows."
		}
		if out.Truncated {
			out.NextStep += " The result was truncated at querygate's limit: aggregate or filter to see everything."
		}
		summary := fmt.Sprintf("Query succeeded: %d rows.", r.TotalRows)
		if len(r.MaskedColumns) > 0 {
			summary += " De-identified columns: " + strings.Join(r.MaskedColumns, ", ") + "."
		}
		return withText(false, summary, out), out, nil
	case session.StatusPendingApproval:
		if a := sess.Approval; a != nil {
			out.Approvers = a.Approvers
			if a.Group != "" {
				out.ApproverGroup = a.Group
			}
			if !a.ExpiresAt.IsZero() {
				out.ExpiresAt = a.ExpiresAt.UTC().Format(time.RFC3339)
			}
		}
		out.Reasons = intake.Reasons(sess)
		out.NextStep = "A person must approve this query. Tell the user who was asked, then " + cont +
			" to wait for the decision and get the rows. Or rewrite the query so that it needs no approval (see reasons)."
		return withText(false, "Waiting for approval by "+askedOf(sess)+expiresPhrase(sess)+".", out), out, nil
	case session.StatusDenied, session.StatusRejected, session.StatusExpired:
		out.Reasons = intake.Reasons(sess)
		switch sess.Status {
		case session.StatusDenied:
			if intake.MissingJustification(sess) {
				out.NextStep = "Nothing ran. Call run_query again with the same arguments plus \"justification\": one or two sentences, " +
					"from the user's request, saying why this query is needed. Do not invent a reason; ask the user if you do not know it."
				return withText(true, "A justification is required: "+strings.Join(out.Reasons, " "), out), out, nil
			}
			out.NextStep = "Do not retry the same SQL. Change the query as the reasons say; explain_policy checks a rewrite without running it."
		case session.StatusRejected:
			out.NextStep = "An approver rejected this query. Do not resubmit it unchanged; ask the user how to proceed."
		default:
			out.NextStep = "No approver decided in time. Ask the user whether to submit it again."
		}
		return withText(true, "Query "+string(sess.Status)+": "+strings.Join(out.Reasons, " "), out), out, nil
	case session.StatusFailed:
		for _, e := range sess.Errors {
			out.Errors = append(out.Errors, e.Message)
		}
		out.NextStep = "The query failed. Fix it as the errors say, or retry later if they name a temporary failure."
		return withText(true, "Query failed: "+strings.Join(out.Errors, " "), out), out, nil
	default:
		out.NextStep = "Still running: " + cont + "."
		return withText(false, "Session "+sess.ID+" is still running.", out), out, nil
	}
}
