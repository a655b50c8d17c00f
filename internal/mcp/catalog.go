package mcp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
)

// ListDatasetsInput takes no arguments.
type ListDatasetsInput struct{}

// ListDatasetsResult is list_datasets' output.
type ListDatasetsResult struct {
	Datasets []Dataset `json:"datasets"`
	NextStep string    `json:"next_step"`
}

// DescribeTableInput is describe_table's arguments.
type DescribeTableInput struct {
	Table string `json:"table" jsonschema:"dataset.table or project.dataset.table"`
}

// Column is one column of a described table.
type Column struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Mode        string   `json:"mode,omitempty"`
	Description string   `json:"description,omitempty"`
	Masked      bool     `json:"masked" jsonschema:"querygate de-identifies this column in every result"`
	InfoTypes   []string `json:"info_types,omitempty" jsonschema:"the kinds of personal data the column holds"`
}

// TableDescription is describe_table's output.
type TableDescription struct {
	Table   string   `json:"table"`
	Type    string   `json:"type"`
	Columns []Column `json:"columns"`
	// SelectStar is the policy's action for SELECT * on the table.
	SelectStar string `json:"select_star" jsonschema:"what the policy decides for SELECT * on this table: allow, require_approval or deny"`
	NextStep   string `json:"next_step"`
}

// ExplainPolicyInput is explain_policy's arguments.
type ExplainPolicyInput struct {
	SQL            string `json:"sql" jsonschema:"the GoogleSQL you would run"`
	DefaultDataset string `json:"default_dataset,omitempty" jsonschema:"dataset or project.dataset that qualifies unqualified table names"`
}

// PolicyExplanation is explain_policy's output.
type PolicyExplanation struct {
	Action         string   `json:"action" jsonschema:"allow, require_approval or deny"`
	Outcome        string   `json:"outcome" jsonschema:"the action in words: would run, would need approval, or would be denied"`
	RuleIDs        []string `json:"rule_ids,omitempty"`
	Reasons        []string `json:"reasons,omitempty"`
	MaskedColumns  []string `json:"masked_columns,omitempty" jsonschema:"output columns that would be de-identified"`
	ApproverGroup  string   `json:"approver_group,omitempty"`
	ApprovalTTL    string   `json:"approval_ttl,omitempty" jsonschema:"how long approvers would have to decide"`
	EstimatedBytes int64    `json:"estimated_bytes,omitempty"`
	NextStep       string   `json:"next_step"`
}

// maxListed bounds list_datasets' answer.
const (
	maxDatasets = 200
	maxTables   = 500
)

// decide evaluates sql as p would submit it, with the policy step's
// adapter. A nil decision with nil error never happens: the engine returns
// deny decisions for everything it cannot understand.
func (s *Server) decide(ctx context.Context, p *session.Principal, sql, defaultDataset string) (*session.Decision, error) {
	d, err := s.cfg.Policy.Evaluate(ctx, &session.Session{Principal: *p, SQL: sql, SQLSHA256: session.SQLHash(sql), DefaultDataset: defaultDataset})
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, errors.New("policy returned no decision")
	}
	return d, nil
}

func (s *Server) listDatasets(ctx context.Context, req *sdk.CallToolRequest, _ ListDatasetsInput) (*sdk.CallToolResult, any, error) {
	p, err := principal(req)
	if err != nil {
		return toolError(err.Error()), nil, nil
	}
	// Metadata is for callers the policy grants something: a trivial query
	// that no allow rule matches means this caller may run nothing.
	d, err := s.decide(ctx, p, "SELECT 1", "")
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "mcp policy check failed", "error", err.Error())
		return toolError("The policy could not be evaluated; retry later."), nil, nil
	}
	if slices.Contains(d.RuleIDs, "builtin.no_grant") || slices.Contains(d.RuleIDs, "builtin.ungoverned_project") {
		return toolError("You may not list datasets: " + strings.Join(d.Reasons, " ")), nil, nil
	}
	out := &ListDatasetsResult{Datasets: []Dataset{}}
	for _, proj := range s.cfg.Projects {
		ds, err := s.cfg.Datasets.ListDatasets(ctx, proj)
		if err != nil {
			s.cfg.Logger.ErrorContext(ctx, "mcp list datasets failed", "project", proj, "error", err.Error())
			return toolError("Datasets could not be listed; retry later."), nil, nil
		}
		for _, x := range ds {
			if len(out.Datasets) == maxDatasets {
				break
			}
			if slices.Contains(s.cfg.HiddenDatasets, x.Dataset) {
				continue
			}
			if len(x.Tables) > maxTables {
				x.Tables = x.Tables[:maxTables]
			}
			if x.Tables == nil {
				x.Tables = []string{}
			}
			out.Datasets = append(out.Datasets, x)
		}
	}
	out.NextStep = `Call describe_table with {"table": "dataset.table"} to see a table's columns and which are masked.`
	return withText(false, fmt.Sprintf("%d datasets.", len(out.Datasets)), out), out, nil
}

// parseTable reads dataset.table or project.dataset.table, allowing only
// the characters BigQuery allows in those names, so the name can be quoted
// safely into SQL.
func (s *Server) parseTable(name string) (sqlscan.TableRef, error) {
	parts := strings.Split(strings.Trim(strings.TrimSpace(name), "`"), ".")
	var ref sqlscan.TableRef
	switch len(parts) {
	case 2:
		ref = sqlscan.TableRef{Project: s.cfg.Projects[0], Dataset: parts[0], Table: parts[1]}
	case 3:
		ref = sqlscan.TableRef{Project: parts[0], Dataset: parts[1], Table: parts[2]}
	default:
		return ref, errors.New(`name the table as "dataset.table" or "project.dataset.table"`)
	}
	for _, p := range []string{ref.Project, ref.Dataset, ref.Table} {
		if p == "" || len(p) > 1024 {
			return ref, errors.New(`name the table as "dataset.table" or "project.dataset.table"`)
		}
		for _, c := range p {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return ref, fmt.Errorf("table names may hold only letters, digits, _ and -; %q does not", p)
			}
		}
	}
	return ref, nil
}

func (s *Server) describeTable(ctx context.Context, req *sdk.CallToolRequest, in DescribeTableInput) (*sdk.CallToolResult, any, error) {
	p, err := principal(req)
	if err != nil {
		return toolError(err.Error()), nil, nil
	}
	out, err := s.Describe(ctx, p, in.Table)
	var de *DescribeError
	if errors.As(err, &de) {
		return toolError(de.Message), nil, nil
	}
	if err != nil {
		return toolError("The table could not be read; retry later."), nil, nil
	}
	var masked []string
	for _, c := range out.Columns {
		if c.Masked {
			masked = append(masked, c.Name)
		}
	}
	out.NextStep = "Select the columns you need by name."
	if len(masked) > 0 {
		out.NextStep += " Masked columns (" + strings.Join(masked, ", ") + ") come back de-identified; leave them out if you do not need them."
	}
	if out.SelectStar == "require_approval" {
		out.NextStep += " SELECT * on this table needs a person's approval; naming columns may not."
	}
	return withText(false, fmt.Sprintf("%s: %d columns, %d masked.", out.Table, len(out.Columns), len(masked)), out), out, nil
}

func infoTypesOf(m map[string][]string, col string) []string {
	if it, ok := m[col]; ok {
		return it
	}
	for k, it := range m {
		if strings.EqualFold(k, col) {
			return it
		}
	}
	return nil
}

func (s *Server) explainPolicy(ctx context.Context, req *sdk.CallToolRequest, in ExplainPolicyInput) (*sdk.CallToolResult, any, error) {
	p, err := principal(req)
	if err != nil {
		return toolError(err.Error()), nil, nil
	}
	q := &intake.QueryRequest{SQL: in.SQL, DefaultDataset: in.DefaultDataset}
	if err := q.Validate(); err != nil {
		return toolError("The request was not accepted: " + err.Error()), nil, nil
	}
	d, err := s.decide(ctx, p, in.SQL, in.DefaultDataset)
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "mcp explain policy failed", "error", err.Error())
		return toolError("The policy could not be evaluated; retry later."), nil, nil
	}
	out := &PolicyExplanation{Action: d.Action, RuleIDs: d.RuleIDs, Reasons: d.Reasons, MaskedColumns: d.MaskedColumns, EstimatedBytes: d.EstimatedBytes}
	switch d.Action {
	case "allow":
		out.Outcome = "would run"
		out.NextStep = "Call run_query with this SQL."
		if len(d.MaskedColumns) > 0 {
			out.NextStep += " Columns " + strings.Join(d.MaskedColumns, ", ") + " would come back de-identified."
		}
	case "require_approval":
		out.Outcome = "would need approval"
		out.ApproverGroup = d.ApproverGroup
		if d.ApprovalTTL > 0 {
			out.ApprovalTTL = time.Duration(d.ApprovalTTL).String()
		}
		out.NextStep = "run_query would wait for a person in " + d.ApproverGroup + ". Rewrite as the reasons say to avoid that, or run it and tell the user approval is needed."
	case "deny":
		if d.MissingJustification {
			// Held for approval by a rule that demands a justification:
			// the explanation had none to give (issue 15).
			out.Action = "require_approval"
			out.Outcome = "would need a justification, then approval"
			out.NextStep = "Call run_query with \"justification\" saying why this query is needed (from the user's request); a person then approves it."
			break
		}
		fallthrough
	default:
		out.Action = "deny"
		out.Outcome = "would be denied"
		out.NextStep = "Do not run it; change the query as the reasons say and ask again."
	}
	return withText(false, "This query "+out.Outcome+": "+strings.Join(d.Reasons, " "), out), out, nil
}
