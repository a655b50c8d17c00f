// Package policy decides whether a principal may run a SQL script: it
// analyzes the script with package sqlscan, marks sensitive columns, checks
// the estimated cost, evaluates the rules of a policy file and returns
// allow, deny or require_approval with the ids of the rules that decided
// and reasons written for the agent.
package policy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/querygate/querygate/internal/sqlscan"
)

// Actions.
const (
	ActionAllow           = "allow"
	ActionDeny            = "deny"
	ActionRequireApproval = "require_approval"
)

// severity orders actions: the most restrictive wins.
func severity(action string) int {
	switch action {
	case ActionAllow:
		return 0
	case ActionRequireApproval:
		return 1
	}
	return 2
}

// Policy is a decoded policy file. See docs/policy.md.
type Policy struct {
	Version  int      `yaml:"version"`
	Defaults Defaults `yaml:"defaults"`
	// SensitiveColumns maps [project.]dataset.table.column to infoTypes.
	SensitiveColumns map[string]StringList `yaml:"sensitive_columns"`
	// PolicyTags maps BigQuery policy tag resource names to infoTypes.
	// Columns with an unmapped policy tag are sensitive as POLICY_TAG.
	PolicyTags map[string]StringList `yaml:"policy_tags"`
	Profiling  Profiling             `yaml:"profiling"`
	Rules      []Rule                `yaml:"rules"`

	filename string
	// sensitive is SensitiveColumns parsed: table key -> lower column -> infoTypes.
	sensitive map[sensitiveKey]map[string][]string
}

type sensitiveKey struct {
	project string // empty: every project the policy governs (Policy.Governs)
	dataset string
	table   string
}

// Defaults apply where a rule does not say otherwise.
type Defaults struct {
	DefaultProject string `yaml:"default_project"`
	// Projects lists further projects this policy governs, besides
	// DefaultProject. Keys and table patterns without a project apply in
	// each governed project, and a request may reach only tables (and name
	// only a default dataset) in governed projects. The request never
	// widens this set: a default_dataset in another project is denied.
	Projects       []string `yaml:"projects"`
	DefaultDataset string   `yaml:"default_dataset"`
	ApproverGroup  string   `yaml:"approver_group"`
	ApprovalTTL    Duration `yaml:"approval_ttl"`
	MaxBytesBilled ByteSize `yaml:"max_bytes_billed"`
	JobTimeout     Duration `yaml:"job_timeout"`
	// Limits caps each principal (limits.go).
	Limits DefaultLimits `yaml:"limits"`
}

// Profiling configures automatic classification of tables that neither the
// policy file nor BigQuery policy tags classify.
type Profiling struct {
	Enabled bool     `yaml:"enabled"`
	TTL     Duration `yaml:"ttl"`
}

// Rule is one policy rule. A rule matches when every condition in Match
// holds; an empty Match matches every request.
type Rule struct {
	ID          string `yaml:"id"`
	Description string `yaml:"description"`
	Match       Match  `yaml:"match"`
	Action      string `yaml:"action"`
	// Reason is shown to the agent and recorded; details of what matched are
	// appended.
	Reason        string   `yaml:"reason"`
	ApproverGroup string   `yaml:"approver_group"`
	ApprovalTTL   Duration `yaml:"approval_ttl"`
	// MinApprovals is how many distinct approvers a require_approval rule
	// needs; zero means one.
	MinApprovals int `yaml:"min_approvals"`
	// ApproverGroups lists several approver groups whose members may
	// approve; with AllGroupsMustApprove every group needs one approval
	// from a member of its own.
	ApproverGroups       []string `yaml:"approver_groups"`
	AllGroupsMustApprove bool     `yaml:"all_groups_must_approve"`
	// RequireJustification and BreakGlassGroup (require_approval rules
	// only) are described in justify.go and docs/policy.md.
	RequireJustification bool   `yaml:"require_justification"`
	BreakGlassGroup      string `yaml:"break_glass_group"`
	// MaxBytesBilled caps jobs granted by an allow rule.
	MaxBytesBilled ByteSize `yaml:"max_bytes_billed"`
	// Limits override defaults.limits for the principals the rule's
	// identity conditions select (limits.go).
	Limits *Limits `yaml:"limits"`

	line int
}

// Match holds a rule's conditions. Lists match when any element matches.
type Match struct {
	Groups       []string `yaml:"groups"`
	ExceptGroups []string `yaml:"except_groups"`
	Emails       []string `yaml:"emails"`
	// Kinds: some statement has one of these kinds or classes.
	Kinds []string `yaml:"kinds"`
	// OnlyKinds: every statement has one of these kinds or classes.
	OnlyKinds []string `yaml:"only_kinds"`
	// KindsOtherThan: some statement has none of these kinds or classes.
	KindsOtherThan []string `yaml:"kinds_other_than"`
	// Tables: some referenced table matches one of these patterns.
	Tables []string `yaml:"tables"`
	// OnlyTables: every referenced table matches one of these patterns.
	OnlyTables []string `yaml:"only_tables"`
	// SensitiveOutput: some output column derives from a sensitive column.
	SensitiveOutput *bool `yaml:"sensitive_output"`
	// InfoTypes: some output column carries one of these infoTypes.
	InfoTypes []string `yaml:"info_types"`
	// StarOverSensitive: some star form can expand over a table with
	// sensitive columns.
	StarOverSensitive *bool `yaml:"star_over_sensitive"`
	// FiltersOnSensitive: a sensitive column shapes the result without
	// being projected: in WHERE, a join condition, HAVING, QUALIFY, GROUP BY
	// (or DISTINCT), ORDER BY, a window's PARTITION BY or ORDER BY, an
	// IN/EXISTS/scalar subquery in a condition, or INTERSECT/EXCEPT, at any
	// depth. Such filters can reconstruct values row by row (a join with a
	// table of digits and positions).
	FiltersOnSensitive *bool `yaml:"filters_on_sensitive"`
	// ExceptKeyLookups names key columns, [project.]dataset.table.column
	// (globs), whose equality lookups (col = 42, col IN (1, 2), against
	// constants or parameters) do not count for FiltersOnSensitive.
	ExceptKeyLookups []string `yaml:"except_key_lookups"`
	// EstimatedBytesOver: the estimated bytes processed exceed this.
	EstimatedBytesOver *ByteSize `yaml:"estimated_bytes_over"`
	// MissingLimit: a top-level query has no LIMIT.
	MissingLimit *bool `yaml:"missing_limit"`
	// AnalysisPath: analyzer or parser_fallback.
	AnalysisPath string `yaml:"analysis_path"`
}

// StringList decodes from a scalar or a sequence of strings.
type StringList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		var out StringList
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: expected a string", c.Line)
			}
			out = append(out, c.Value)
		}
		*s = out
		return nil
	}
	return fmt.Errorf("line %d: expected a string or a list of strings", n.Line)
}

// Duration decodes Go durations such as 15m or 24h.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %q is not a duration like 15m or 24h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// ByteSize decodes a byte count: 1000000, 10GB, 1TiB, 500MB.
type ByteSize int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseBytes(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %q is not a byte size like 500MB or 1TiB", n.Line, n.Value)
	}
	*b = ByteSize(v)
	return nil
}

func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40}, {"PIB", 1 << 50},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"PB", 1e15}, {"B", 1},
	}
	up := strings.ToUpper(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(up, u.suffix) {
			mult = u.mult
			up = strings.TrimSpace(strings.TrimSuffix(up, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(up, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("bad byte size")
	}
	if n > 0 && mult > (1<<63-1)/n {
		return 0, errors.New("byte size overflows")
	}
	return n * mult, nil
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the source of the default policy.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default returns the default policy the local gateway ships. It panics if
// the embedded file is invalid, which a test prevents.
func Default() *Policy {
	p, err := Load(defaultYAML, "default.yaml")
	if err != nil {
		panic(err)
	}
	return p
}

// Load decodes a policy strictly: unknown fields, bad values, unknown
// statement kinds, duplicate rule ids and rules without an action are errors
// that name the file and line.
func Load(src []byte, filename string) (*Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	p.filename = filename
	ruleNodes := lookup(&root, "rules")
	for i := range p.Rules {
		if ruleNodes != nil && i < len(ruleNodes.Content) {
			p.Rules[i].line = ruleNodes.Content[i].Line
		}
	}
	if err := p.validate(&root); err != nil {
		return nil, err
	}
	return &p, nil
}

// lookup returns the value node of key in the document's top mapping.
func lookup(root *yaml.Node, key string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func keyLine(m *yaml.Node, key string) int {
	if m == nil {
		return 0
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return m.Line
}

func (p *Policy) validate(root *yaml.Node) error {
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", p.filename, line, fmt.Sprintf(format, args...)))
	}
	if p.Version != 1 {
		bad(keyLine(lookup(root, "version"), "version"), "version must be 1")
	}
	known := map[string]bool{}
	for _, k := range sqlscan.Kinds {
		known[k] = true
	}
	for _, c := range sqlscan.Classes {
		known[strings.ToUpper(c)] = true
	}
	for i, pr := range p.Defaults.Projects {
		if strings.TrimSpace(pr) == "" || strings.ContainsAny(pr, ".`* ") {
			bad(keyLine(lookup(root, "defaults"), "projects"), "defaults.projects[%d] %q must be a project id", i, pr)
		}
	}
	p.sensitive = map[sensitiveKey]map[string][]string{}
	scNode := lookup(root, "sensitive_columns")
	for key, infoTypes := range p.SensitiveColumns {
		parts := strings.Split(key, ".")
		var k sensitiveKey
		switch len(parts) {
		case 3:
			k = sensitiveKey{dataset: parts[0], table: parts[1]}
		case 4:
			k = sensitiveKey{project: parts[0], dataset: parts[1], table: parts[2]}
		default:
			bad(keyLine(scNode, key), "sensitive column %q must be dataset.table.column or project.dataset.table.column", key)
			continue
		}
		if len(infoTypes) == 0 {
			bad(keyLine(scNode, key), "sensitive column %q needs at least one infoType", key)
		}
		if p.sensitive[k] == nil {
			p.sensitive[k] = map[string][]string{}
		}
		col := strings.ToLower(parts[len(parts)-1])
		p.sensitive[k][col] = append(p.sensitive[k][col], infoTypes...)
	}
	ids := map[string]int{}
	rulesNode := lookup(root, "rules")
	for i, r := range p.Rules {
		var rn *yaml.Node
		if rulesNode != nil && i < len(rulesNode.Content) {
			rn = rulesNode.Content[i]
		}
		line := r.line
		if r.ID == "" {
			bad(line, "rule %d has no id", i+1)
		} else if strings.HasPrefix(r.ID, "builtin.") {
			bad(keyLine(rn, "id"), "rule id %q: the builtin. prefix is reserved", r.ID)
		} else if prev, dup := ids[r.ID]; dup {
			bad(keyLine(rn, "id"), "rule id %q already used on line %d", r.ID, prev)
		}
		ids[r.ID] = line
		switch r.Action {
		case ActionAllow, ActionDeny, ActionRequireApproval:
		case "":
			bad(line, "rule %q has no action (allow, deny or require_approval)", r.ID)
		default:
			bad(keyLine(rn, "action"), "rule %q: unknown action %q (allow, deny or require_approval)", r.ID, r.Action)
		}
		if r.Action == ActionRequireApproval && r.ApproverGroup == "" && len(r.ApproverGroups) == 0 && p.Defaults.ApproverGroup == "" {
			bad(line, "rule %q requires approval but names no approver_group and defaults has none", r.ID)
		}
		checkQuorum(r, rn, line, bad)
		checkJustify(r, rn, line, bad)
		if r.Action != ActionAllow && r.MaxBytesBilled != 0 {
			bad(keyLine(rn, "max_bytes_billed"), "rule %q: max_bytes_billed only applies to allow rules", r.ID)
		}
		mn := lookupIn(rn, "match")
		for field, list := range map[string][]string{"kinds": r.Match.Kinds, "only_kinds": r.Match.OnlyKinds, "kinds_other_than": r.Match.KindsOtherThan} {
			for _, k := range list {
				if !known[strings.ToUpper(k)] {
					bad(keyLine(mn, field), "rule %q: unknown statement kind or class %q", r.ID, k)
				}
			}
		}
		for field, list := range map[string][]string{"tables": r.Match.Tables, "only_tables": r.Match.OnlyTables} {
			for _, t := range list {
				if n := len(strings.Split(t, ".")); n < 2 || n > 3 {
					bad(keyLine(mn, field), "rule %q: table pattern %q must be dataset.table or project.dataset.table", r.ID, t)
				} else if _, err := path.Match(t, ""); err != nil {
					bad(keyLine(mn, field), "rule %q: bad table pattern %q", r.ID, t)
				}
			}
		}
		for _, k := range r.Match.ExceptKeyLookups {
			if n := len(strings.Split(k, ".")); n < 3 || n > 4 {
				bad(keyLine(mn, "except_key_lookups"), "rule %q: key column %q must be dataset.table.column or project.dataset.table.column", r.ID, k)
			} else if _, err := path.Match(k, ""); err != nil {
				bad(keyLine(mn, "except_key_lookups"), "rule %q: bad key column pattern %q", r.ID, k)
			}
		}
		if len(r.Match.ExceptKeyLookups) > 0 && (r.Match.FiltersOnSensitive == nil || !*r.Match.FiltersOnSensitive) {
			bad(keyLine(mn, "except_key_lookups"), "rule %q: except_key_lookups only applies with filters_on_sensitive: true", r.ID)
		}
		switch r.Match.AnalysisPath {
		case "", sqlscan.PathAnalyzer, sqlscan.PathParserFallback:
		default:
			bad(keyLine(mn, "analysis_path"), "rule %q: analysis_path must be analyzer or parser_fallback", r.ID)
		}
	}
	p.checkLimits(root, bad)
	return errors.Join(errs...)
}

func lookupIn(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Filename returns the name the policy was loaded from.
func (p *Policy) Filename() string { return p.filename }

// Governs reports whether project is one this policy governs: the default
// project or one listed in defaults.projects, compared case-insensitively.
// A policy that names no project at all governs every project, so that its
// project-less keys cover a table in any project (they over-cover rather
// than miss).
func (p *Policy) Governs(project string) bool {
	if p.Defaults.DefaultProject == "" && len(p.Defaults.Projects) == 0 {
		return true
	}
	if strings.EqualFold(project, p.Defaults.DefaultProject) {
		return true
	}
	for _, pr := range p.Defaults.Projects {
		if strings.EqualFold(project, pr) {
			return true
		}
	}
	return false
}

// governedProjects lists the governed projects for a person to read.
func (p *Policy) governedProjects() string {
	list := []string{}
	if p.Defaults.DefaultProject != "" {
		list = append(list, p.Defaults.DefaultProject)
	}
	list = append(list, p.Defaults.Projects...)
	return strings.Join(list, ", ")
}

// maxMinApprovals bounds min_approvals: a quorum nobody can gather would
// only make every matching query expire.
const maxMinApprovals = 20

// checkQuorum validates the quorum fields of a rule.
func checkQuorum(r Rule, rn *yaml.Node, line int, bad func(line int, format string, args ...any)) {
	if r.Action != ActionRequireApproval {
		if r.MinApprovals != 0 || len(r.ApproverGroups) != 0 || r.AllGroupsMustApprove {
			bad(line, "rule %q: min_approvals, approver_groups and all_groups_must_approve only apply to require_approval rules", r.ID)
		}
		return
	}
	if r.MinApprovals < 0 || r.MinApprovals > maxMinApprovals {
		bad(keyLine(rn, "min_approvals"), "rule %q: min_approvals must be between 1 and %d", r.ID, maxMinApprovals)
	}
	if r.ApproverGroup != "" && len(r.ApproverGroups) > 0 {
		bad(keyLine(rn, "approver_groups"), "rule %q: name either approver_group or approver_groups, not both", r.ID)
	}
	seen := map[string]bool{}
	for _, g := range r.ApproverGroups {
		if strings.TrimSpace(g) == "" || seen[g] {
			bad(keyLine(rn, "approver_groups"), "rule %q: approver_groups holds an empty or repeated group", r.ID)
			break
		}
		seen[g] = true
	}
	if r.AllGroupsMustApprove && len(r.ApproverGroups) < 2 {
		bad(keyLine(rn, "all_groups_must_approve"), "rule %q: all_groups_must_approve needs at least two approver_groups", r.ID)
	}
}
