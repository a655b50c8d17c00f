package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/querygate/querygate/internal/sqlscan"
)

// CheckReport is the JSON form of `querygate policy check --json`.
type CheckReport struct {
	Action        string      `json:"action"`
	RuleIDs       []string    `json:"rule_ids"`
	Reasons       []string    `json:"reasons"`
	Matched       []RuleMatch `json:"matched,omitempty"`
	ApproverGroup string      `json:"approver_group,omitempty"`
	ApprovalTTL   string      `json:"approval_ttl,omitempty"`
	// The quorum of a require_approval decision (see Decision).
	MinApprovals         int                 `json:"min_approvals,omitempty"`
	ApproverGroups       []string            `json:"approver_groups,omitempty"`
	AllGroupsMustApprove bool                `json:"all_groups_must_approve,omitempty"`
	AnalysisPath         string              `json:"analysis_path,omitempty"`
	AnalyzerError        string              `json:"analyzer_error,omitempty"`
	EstimatedBytes       int64               `json:"estimated_bytes"`
	EstimateSource       string              `json:"estimate_source,omitempty"`
	MaxBytesBilled       int64               `json:"max_bytes_billed"`
	JobTimeout           string              `json:"job_timeout,omitempty"`
	Statements           []CheckStatement    `json:"statements,omitempty"`
	OutputColumns        []CheckColumn       `json:"output_columns,omitempty"`
	ColumnInfoTypes      map[string][]string `json:"column_info_types"`
	MissingTables        []string            `json:"missing_tables,omitempty"`
	// Limits are the principal's limits (limits_cli.go).
	Limits []LimitLine `json:"limits,omitempty"`
}

// CheckStatement is one statement in a CheckReport.
type CheckStatement struct {
	Kind     string   `json:"kind"`
	Class    string   `json:"class"`
	Depth    int      `json:"depth,omitempty"`
	Path     string   `json:"path"`
	Text     string   `json:"text"`
	Tables   []string `json:"tables"`
	ViaViews []string `json:"via_views,omitempty"`
	Star     []string `json:"star,omitempty"`
	HasLimit bool     `json:"has_limit"`
	// Shaping lists the columns that shape the result without being
	// projected, as "clause column" ("where p.d.customers.ssn (derived)").
	Shaping []string `json:"shaping,omitempty"`
}

// CheckColumn is one output column in a CheckReport.
type CheckColumn struct {
	Name      string   `json:"name"`
	Lineage   []string `json:"lineage"`
	InfoTypes []string `json:"info_types,omitempty"`
	// Derived lists the lineage columns the value is computed from rather
	// than copied (sqlscan.OutputColumn.Derived).
	Derived []string `json:"derived,omitempty"`
	// ClassifiedBy says how each sensitive source was classified
	// (ColumnClass.String): file, policy_tag, or a profile with its counts.
	ClassifiedBy []string `json:"classified_by,omitempty"`
}

// Report builds the CheckReport of a decision.
func Report(d *Decision) *CheckReport {
	r := &CheckReport{
		Action: d.Action, RuleIDs: d.RuleIDs, Reasons: d.Reasons, Matched: d.Matched,
		ApproverGroup: d.ApproverGroup, AnalysisPath: d.AnalysisPath,
		EstimatedBytes: d.EstimatedBytes, EstimateSource: d.EstimateSource,
		MaxBytesBilled: d.MaxBytesBilled, ColumnInfoTypes: d.ColumnInfoTypes,
		MinApprovals: d.MinApprovals, ApproverGroups: d.ApproverGroups, AllGroupsMustApprove: d.AllGroupsMustApprove,
	}
	if d.ApprovalTTL > 0 {
		r.ApprovalTTL = d.ApprovalTTL.String()
	}
	if d.JobTimeout > 0 {
		r.JobTimeout = d.JobTimeout.String()
	}
	if r.ColumnInfoTypes == nil {
		r.ColumnInfoTypes = map[string][]string{}
	}
	a := d.Analysis
	if a == nil {
		return r
	}
	r.AnalyzerError = a.AnalyzerError
	for _, m := range a.Missing {
		r.MissingTables = append(r.MissingTables, m.String())
	}
	for _, st := range a.Statements {
		cs := CheckStatement{Kind: st.Kind, Class: st.Class, Depth: st.Depth, Path: st.Path, Text: st.Text, HasLimit: st.HasLimit, Tables: []string{}}
		for _, t := range st.Tables {
			cs.Tables = append(cs.Tables, t.String())
		}
		for _, t := range st.ViaViews {
			cs.ViaViews = append(cs.ViaViews, t.String())
		}
		for _, s := range st.Star {
			var ts []string
			for _, t := range s.Tables {
				ts = append(ts, t.String())
			}
			desc := s.Form
			if s.Qualifier != "" {
				desc = strings.Replace(desc, "t.", s.Qualifier+".", 1)
			}
			if len(s.Except) > 0 {
				desc += "(" + strings.Join(s.Except, ", ") + ")"
			}
			cs.Star = append(cs.Star, desc+" over "+strings.Join(ts, ", "))
		}
		for _, u := range st.Shaping {
			desc := u.Clause + " " + u.Column.String()
			switch {
			case u.Derived:
				desc += " (derived)"
			case u.Lookup:
				desc += " (equality lookup)"
			}
			cs.Shaping = append(cs.Shaping, desc)
		}
		r.Statements = append(r.Statements, cs)
	}
	for _, c := range a.OutputColumns {
		cc := CheckColumn{Name: c.Name, Lineage: []string{}, InfoTypes: d.ColumnInfoTypesByIndex[c.Index]}
		for _, l := range c.Lineage {
			cc.Lineage = append(cc.Lineage, l.String())
		}
		for _, l := range c.Derived {
			cc.Derived = append(cc.Derived, l.String())
		}
		for _, f := range d.Columns {
			if f.Index == c.Index {
				for _, k := range f.Classes {
					cc.ClassifiedBy = append(cc.ClassifiedBy, k.String())
				}
			}
		}
		r.OutputColumns = append(r.OutputColumns, cc)
	}
	return r
}

// RunCheck evaluates one request and prints the decision, its reasons, the
// statements with their kinds and tables, and each output column with its
// lineage and infoTypes. It backs `querygate policy check`. A deny is not an
// error; errors are evaluation or write failures.
func RunCheck(ctx context.Context, e *Engine, in Input, jsonOut bool, w io.Writer, opts ...CheckOption) error {
	d, err := e.Evaluate(ctx, in)
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	r := Report(d)
	for _, o := range opts {
		o(r)
	}
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "decision: %s\n", r.Action)
	for i, id := range r.RuleIDs {
		fmt.Fprintf(&b, "  [%s] %s\n", id, r.Reasons[i])
	}
	if r.Action == ActionRequireApproval {
		fmt.Fprintf(&b, "approval: group %s, expires after %s\n", r.ApproverGroup, r.ApprovalTTL)
		if r.MinApprovals > 1 || len(r.ApproverGroups) > 1 {
			groups := r.ApproverGroups
			if len(groups) == 0 {
				groups = []string{r.ApproverGroup}
			}
			fmt.Fprintf(&b, "quorum: %d distinct approvers from %s", max(r.MinApprovals, 1), strings.Join(groups, ", "))
			if r.AllGroupsMustApprove {
				b.WriteString(", one from each group")
			}
			b.WriteString("\n")
		}
	}
	if len(r.Matched) > len(r.RuleIDs) {
		var ids []string
		for _, m := range r.Matched {
			ids = append(ids, m.ID+"="+m.Action)
		}
		fmt.Fprintf(&b, "matched rules: %s\n", strings.Join(ids, ", "))
	}
	if r.AnalysisPath != "" {
		fmt.Fprintf(&b, "analysis: %s", r.AnalysisPath)
		if r.AnalyzerError != "" {
			fmt.Fprintf(&b, " (analyzer: %s)", r.AnalyzerError)
		}
		b.WriteString("\n")
	}
	source := "estimate from table sizes"
	if r.EstimateSource == EstimateDryRun {
		source = "BigQuery dry run"
	}
	fmt.Fprintf(&b, "bytes: %d (%s), maximum billed %d, job timeout %s\n", r.EstimatedBytes, source, r.MaxBytesBilled, r.JobTimeout)
	if len(r.MissingTables) > 0 {
		fmt.Fprintf(&b, "unknown tables: %s\n", strings.Join(r.MissingTables, ", "))
	}
	if len(r.Statements) > 0 {
		b.WriteString("statements:\n")
	}
	for i, st := range r.Statements {
		fmt.Fprintf(&b, "  %d. %s%s (%s, %s) tables: %s\n", i+1, strings.Repeat("  ", st.Depth), st.Kind, st.Class, st.Path, orNone(st.Tables))
		if len(st.ViaViews) > 0 {
			fmt.Fprintf(&b, "     through views: %s\n", strings.Join(st.ViaViews, ", "))
		}
		for _, s := range st.Star {
			fmt.Fprintf(&b, "     star: %s\n", s)
		}
		for _, s := range st.Shaping {
			fmt.Fprintf(&b, "     shaped by: %s\n", s)
		}
	}
	if len(r.OutputColumns) > 0 {
		b.WriteString("output columns:\n")
	}
	for _, c := range r.OutputColumns {
		fmt.Fprintf(&b, "  %s <- %s", c.Name, orNone(c.Lineage))
		if len(c.Derived) > 0 {
			fmt.Fprintf(&b, "  (computed from %s)", strings.Join(c.Derived, ", "))
		}
		if len(c.InfoTypes) > 0 {
			fmt.Fprintf(&b, "  [masked: %s]", strings.Join(c.InfoTypes, ", "))
		}
		b.WriteString("\n")
		for _, k := range c.ClassifiedBy {
			fmt.Fprintf(&b, "     classified: %s\n", k)
		}
	}
	writeLimits(&b, r.Limits)
	_, err = w.Write(b.Bytes())
	return err
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

// TestFile is a table of expected decisions for `querygate policy test`,
// in the spirit of OPA's policy tests.
type TestFile struct {
	// Policy is a policy file path relative to the test file; empty means
	// the default policy.
	Policy         string     `yaml:"policy"`
	DefaultProject string     `yaml:"default_project"`
	DefaultDataset string     `yaml:"default_dataset"`
	Tests          []TestCase `yaml:"tests"`
}

// TestCase is one request and what the policy must decide.
type TestCase struct {
	Name   string   `yaml:"name"`
	SQL    string   `yaml:"sql"`
	Groups []string `yaml:"groups"`
	Email  string   `yaml:"email"`
	// DefaultProject and DefaultDataset override the file's for this case
	// (what an agent sends as default_dataset).
	DefaultProject string `yaml:"default_project"`
	DefaultDataset string `yaml:"default_dataset"`
	Expect         Expect `yaml:"expect"`
}

// Expect lists what a test checks; unset fields are not checked.
type Expect struct {
	Action string `yaml:"action"`
	// RuleIDs must all be among the deciding rule ids.
	RuleIDs []string `yaml:"rule_ids"`
	// ReasonContains must be a substring of some reason.
	ReasonContains string `yaml:"reason_contains"`
	ApproverGroup  string `yaml:"approver_group"`
	AnalysisPath   string `yaml:"analysis_path"`
	// ColumnInfoTypes must equal the decision's map exactly when set;
	// use {} to assert that nothing is masked.
	ColumnInfoTypes map[string][]string `yaml:"column_info_types"`
}

// ErrTestsFailed is returned by RunTest when a test case fails.
var ErrTestsFailed = errors.New("policy tests failed")

// RunTest runs a test file against the policy it names and prints one line
// per case and a summary. It returns an error wrapping ErrTestsFailed when
// any case fails, so the CLI exits non-zero. newEngine builds the engine for
// the loaded policy (the caller supplies the catalog).
func RunTest(ctx context.Context, newEngine func(*Policy) *Engine, file string, w io.Writer) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read tests: %w", err)
	}
	var tf TestFile
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(tf.Tests) == 0 {
		return fmt.Errorf("%s: no tests", file)
	}
	p := Default()
	if tf.Policy != "" {
		pf := tf.Policy
		if !filepath.IsAbs(pf) {
			pf = filepath.Join(filepath.Dir(file), pf)
		}
		psrc, err := os.ReadFile(pf)
		if err != nil {
			return fmt.Errorf("read policy: %w", err)
		}
		if p, err = Load(psrc, pf); err != nil {
			return err
		}
	}
	e := newEngine(p)
	failed := 0
	for i, tc := range tf.Tests {
		name := tc.Name
		if name == "" {
			name = fmt.Sprintf("test %d", i+1)
		}
		proj, ds := tf.DefaultProject, tf.DefaultDataset
		if tc.DefaultProject != "" {
			proj = tc.DefaultProject
		}
		if tc.DefaultDataset != "" {
			ds = tc.DefaultDataset
		}
		d, err := e.Evaluate(ctx, Input{SQL: tc.SQL, Groups: tc.Groups, Email: tc.Email, DefaultProject: proj, DefaultDataset: ds})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if problems := checkExpect(tc.Expect, d); len(problems) > 0 {
			failed++
			fmt.Fprintf(w, "FAIL %s\n", name)
			for _, p := range problems {
				fmt.Fprintf(w, "     %s\n", p)
			}
			continue
		}
		fmt.Fprintf(w, "PASS %s\n", name)
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", len(tf.Tests)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d: %w", failed, len(tf.Tests), ErrTestsFailed)
	}
	return nil
}

func checkExpect(x Expect, d *Decision) []string {
	var problems []string
	if x.Action != "" && x.Action != d.Action {
		problems = append(problems, fmt.Sprintf("action: want %s, got %s (%s)", x.Action, d.Action, strings.Join(d.Reasons, " | ")))
	}
	for _, id := range x.RuleIDs {
		found := false
		for _, got := range d.RuleIDs {
			found = found || got == id
		}
		if !found {
			problems = append(problems, fmt.Sprintf("rule_ids: want %s among %v", id, d.RuleIDs))
		}
	}
	if x.ReasonContains != "" && !strings.Contains(strings.Join(d.Reasons, "\n"), x.ReasonContains) {
		problems = append(problems, fmt.Sprintf("reasons: want one containing %q, got %q", x.ReasonContains, d.Reasons))
	}
	if x.ApproverGroup != "" && x.ApproverGroup != d.ApproverGroup {
		problems = append(problems, fmt.Sprintf("approver_group: want %s, got %q", x.ApproverGroup, d.ApproverGroup))
	}
	if x.AnalysisPath != "" && x.AnalysisPath != d.AnalysisPath {
		problems = append(problems, fmt.Sprintf("analysis_path: want %s, got %q", x.AnalysisPath, d.AnalysisPath))
	}
	if x.ColumnInfoTypes != nil && !sameInfoTypes(x.ColumnInfoTypes, d.ColumnInfoTypes) {
		problems = append(problems, fmt.Sprintf("column_info_types: want %v, got %v", x.ColumnInfoTypes, d.ColumnInfoTypes))
	}
	return problems
}

func sameInfoTypes(want, got map[string][]string) bool {
	if len(want) != len(got) {
		return false
	}
	for k, w := range want {
		g := got[k]
		w2 := append([]string(nil), w...)
		sort.Strings(w2)
		if strings.Join(w2, ",") != strings.Join(g, ",") {
			return false
		}
	}
	return true
}

// compile-time check that the sqlscan catalog port is what engines take.
var _ = func(c sqlscan.Catalog) *Engine { return NewEngine(nil, c) }
