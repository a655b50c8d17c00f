package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/querygate/querygate/internal/analyzerproc"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
)

// Input is one request to evaluate.
type Input struct {
	SQL    string
	Groups []string
	Email  string
	// DefaultProject and DefaultDataset qualify unqualified table names;
	// empty means the policy's defaults.
	DefaultProject, DefaultDataset string
	// Justification is the agent's stated reason (already cleaned by
	// intake); BreakGlass is its declaration of break-glass (justify.go).
	Justification string
	BreakGlass    bool
	// Parameters are the query's named parameters, which the dry run
	// must send: without them any @param query fails its dry run.
	Parameters []session.Parameter
}

// Decision is the outcome of Evaluate.
type Decision struct {
	Action string // ActionAllow, ActionDeny or ActionRequireApproval
	// RuleIDs and Reasons are parallel: the rules that decided the action
	// (builtin.* for checks the engine always makes) and why, for a person.
	RuleIDs, Reasons []string
	// Matched lists every rule that matched, deciding or not.
	Matched []RuleMatch
	// ApproverGroup and ApprovalTTL are set for ActionRequireApproval.
	ApproverGroup string
	ApprovalTTL   time.Duration
	// MinApprovals (at least 1), ApproverGroups (empty when the rule names
	// one approver_group) and AllGroupsMustApprove are the quorum of
	// ActionRequireApproval: the largest min_approvals of the matching
	// approval rules, the groups of the first that names any, and whether
	// any of them demands every group.
	MinApprovals         int
	ApproverGroups       []string
	AllGroupsMustApprove bool
	// Justify is what require_justification and break_glass_group made of
	// the decision (justify.go).
	Justify
	AnalysisPath string
	// EstimatedBytes comes from the cloud dry run when there is a DryRunner,
	// otherwise it is a local estimate from table sizes (EstimateSource).
	EstimatedBytes int64
	EstimateSource string
	// MaxBytesBilled and JobTimeout must be set on the BigQuery job.
	MaxBytesBilled int64
	JobTimeout     time.Duration
	// ColumnInfoTypes maps each output column whose lineage reaches a
	// sensitive column to that column's infoTypes; the de-identifier masks
	// them. A column computed from a sensitive column, rather than copied,
	// also carries DerivedInfoType, and is replaced whole. The key "*"
	// means every output column (parser fallback with a star, where column
	// names are unknown).
	ColumnInfoTypes map[string][]string
	// ColumnInfoTypesByIndex is the same by result position.
	ColumnInfoTypesByIndex map[int][]string
	// Columns are the facts behind ColumnInfoTypes, per output column in
	// result order: lineage, infoTypes, derived or copied, and where each
	// sensitive source's classification came from (file, policy tag, or a
	// profile with its sample counts).
	Columns  []ColumnFacts
	Analysis *sqlscan.Analysis
}

// RuleMatch is one rule that matched a request.
type RuleMatch struct {
	ID, Action, Reason string
}

// Estimate sources.
const (
	EstimateDryRun     = "dry_run"
	EstimateTableSizes = "table_sizes"
)

// Profiler classifies the columns of a table nobody classified, by sampling
// rows through the de-identifier's inspector (like DLP data profiles). It
// returns column name -> infoTypes found.
type Profiler func(ctx context.Context, ref sqlscan.TableRef) (map[string][]string, error)

// EngineOption configures an Engine.
type EngineOption func(*Engine)

// WithProfiler enables automatic profiling with a cache of ttl (0: the
// policy's profiling.ttl, else 24h). Profiling only runs when the policy
// enables it.
func WithProfiler(p Profiler, ttl time.Duration) EngineOption {
	return WithColumnProfiler(columnProfiler(p), ttl)
}

// WithDryRunner makes the engine dry-run every analyzable request in
// BigQuery and cross-check the result with the analysis.
func WithDryRunner(d DryRunner) EngineOption {
	return func(e *Engine) { e.dryRunner = d }
}

// WithClock replaces time.Now, for tests of the profile cache.
func WithClock(now func() time.Time) EngineOption {
	return func(e *Engine) { e.now = now }
}

// Engine evaluates requests against one policy. It is safe for concurrent use.
type Engine struct {
	policy     *Policy
	catalog    sqlscan.Catalog
	profiler   ColumnProfiler
	profileTTL time.Duration
	dryRunner  DryRunner
	reserved   []string // lower-case dataset or project.dataset names
	analyzer   Analyzer
	now        func() time.Time

	mu       sync.Mutex
	profiles map[sqlscan.TableRef]profileEntry
}

type profileEntry struct {
	at     time.Time
	result map[string]ProfiledColumn
}

// NewEngine returns an engine for p (the default policy when nil) reading
// schemas from cat.
func NewEngine(p *Policy, cat sqlscan.Catalog, opts ...EngineOption) *Engine {
	if p == nil {
		p = Default()
	}
	e := &Engine{policy: p, catalog: cat, analyzer: AnalyzerFunc(sqlscan.Analyze), now: time.Now, profiles: map[sqlscan.TableRef]profileEntry{}}
	for _, o := range opts {
		o(e)
	}
	if e.profileTTL <= 0 {
		e.profileTTL = time.Duration(p.Profiling.TTL)
	}
	if e.profileTTL <= 0 {
		e.profileTTL = 24 * time.Hour
	}
	return e
}

// Policy returns the engine's policy.
func (e *Engine) Policy() *Policy { return e.policy }

// facts are what rules match on.
type facts struct {
	policy        *Policy
	in            Input
	analysis      *sqlscan.Analysis
	sensitive     map[sqlscan.TableRef]map[string][]string // lower column -> infoTypes
	classes       map[sqlscan.TableRef]map[string]*ColumnClass
	colInfo       map[string][]string
	starSensitive []string // descriptions of stars over sensitive tables
	estimated     int64
	ignoreBytes   bool // estimated_bytes_over never matches (before the dry run)
}

// Evaluate decides a request. It returns an error only when ctx ends; every
// failure to understand the request is a deny decision with a reason.
func (e *Engine) Evaluate(ctx context.Context, in Input) (*Decision, error) {
	if in.DefaultProject == "" {
		in.DefaultProject = e.policy.Defaults.DefaultProject
	}
	if in.DefaultDataset == "" {
		in.DefaultDataset = e.policy.Defaults.DefaultDataset
	}
	d := &Decision{
		MaxBytesBilled: int64(e.policy.Defaults.MaxBytesBilled),
		JobTimeout:     time.Duration(e.policy.Defaults.JobTimeout),
	}
	// The agent chooses the default project (through default_dataset); it
	// must never choose which project project-less policy keys resolve in.
	if !e.policy.Governs(in.DefaultProject) {
		return deny(d, "builtin.ungoverned_project", fmt.Sprintf("default_dataset names project %q, which this policy does not govern (governed: %s). Use a dataset in a governed project.", in.DefaultProject, e.policy.governedProjects())), nil
	}
	// Authorize before the analysis, whose cost grows with the SQL: a
	// caller whom no allow rule can match is denied without analyzing.
	if !e.mayBeGranted(in) {
		return deny(d, "builtin.no_grant", fmt.Sprintf("No allow rule of the policy matches this request (principal %q, %s).", in.Email, describeGroups(in.Groups))), nil
	}
	a, err := e.analyzer.Analyze(ctx, in.SQL, sqlscan.Options{
		DefaultProject: in.DefaultProject, DefaultDataset: in.DefaultDataset, Catalog: e.catalog,
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		var pe *sqlscan.ParseError
		switch {
		case errors.As(err, &pe):
			return deny(d, "builtin.parse_error", "The GoogleSQL parser rejected the SQL: "+pe.Message+". Fix the syntax and resubmit."), nil
		case errors.Is(err, sqlscan.ErrNoStatements):
			return deny(d, "builtin.empty", "The request contains no SQL statement."), nil
		case errors.Is(err, analyzerproc.ErrTimeout):
			return deny(d, "builtin.analysis_timeout", "The SQL analysis ran past its deadline and was stopped, so querygate fails closed. Simplify the query (fewer joins, table references or nested views) or split it."), nil
		default:
			return deny(d, "builtin.analysis_error", "querygate could not analyze the SQL, so it fails closed: "+err.Error()), nil
		}
	}
	d.Analysis = a
	d.AnalysisPath = a.Path
	if where := errorFunctionCalls(a); len(where) > 0 {
		return deny(d, "builtin.error_function", "The ERROR() function can return column values through the error message, which is not masked ("+strings.Join(where, "; ")+"). Rewrite the query without ERROR()."), nil
	}
	for _, t := range allTables(a) {
		if e.reservedTable(t) {
			return deny(d, "builtin.reserved_dataset", reservedReason(t)), nil
		}
		if !e.policy.Governs(t.Project) {
			return deny(d, "builtin.ungoverned_project", fmt.Sprintf("The query reads %s, in project %q, which this policy does not govern (governed: %s); querygate cannot classify its columns, so it fails closed.", t, t.Project, e.policy.governedProjects())), nil
		}
	}
	f := &facts{policy: e.policy, in: in, analysis: a}
	if err := e.classify(ctx, f); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return deny(d, "builtin.profiling_error", "querygate could not classify the columns of a table, so it fails closed: "+err.Error()), nil
	}
	d.ColumnInfoTypes, d.ColumnInfoTypesByIndex = columnInfoTypes(a.OutputColumns, f.sensitive)
	d.Columns = columnFacts(a.OutputColumns, d.ColumnInfoTypesByIndex, f.classes)
	f.colInfo = d.ColumnInfoTypes
	f.starSensitive = starsOverSensitive(a, f.sensitive)

	d.EstimatedBytes, d.EstimateSource = localEstimate(a), EstimateTableSizes
	if e.dryRunner != nil {
		// The rules first, ignoring bytes: a request they deny needs no
		// dry run, and bytes can only add reasons to deny.
		pre := *d
		f.ignoreBytes = true
		e.decide(&pre, f)
		f.ignoreBytes = false
		if pre.Action == ActionDeny {
			return &pre, nil
		}
		res, err := e.dryRunner.DryRun(ctx, DryRunInput{SQL: in.SQL, DefaultProject: in.DefaultProject, DefaultDataset: in.DefaultDataset, Parameters: in.Parameters})
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return deny(d, "builtin.dry_run_error", "The BigQuery dry run failed: "+err.Error()), nil
		}
		if problems := CrossCheck(a, res); len(problems) > 0 {
			return deny(d, "builtin.dry_run_mismatch", "BigQuery's dry run disagrees with querygate's analysis, so it fails closed: "+strings.Join(problems, "; ")+"."), nil
		}
		d.EstimatedBytes, d.EstimateSource = res.TotalBytesProcessed, EstimateDryRun
	}
	f.estimated = d.EstimatedBytes

	e.decide(d, f)
	return d, nil
}

// mayBeGranted reports whether some allow rule's identity conditions
// (groups, except_groups, emails) hold for the caller. Only then can the
// request be allowed, so only then is the SQL worth analyzing.
func (e *Engine) mayBeGranted(in Input) bool {
	for i := range e.policy.Rules {
		r := &e.policy.Rules[i]
		if r.Action == ActionAllow && r.Match.identityMatches(in) {
			return true
		}
	}
	return false
}

func describeGroups(groups []string) string {
	if len(groups) == 0 {
		return "no groups"
	}
	return "groups " + strings.Join(groups, ", ")
}

// errorFunctionCalls describes every statement that calls BigQuery's
// ERROR function, as ERROR(...) or SAFE.ERROR(...). ERROR aborts the job with
// its argument as the error text, so ERROR(CONCAT(full_name, email)) carries
// raw values past the masking of result columns. A function of any path
// whose last part is ERROR counts: a persistent UDF of that name is rare,
// and refusing it fails closed.
func errorFunctionCalls(a *sqlscan.Analysis) []string {
	var out []string
	for i, st := range a.Statements {
		for _, fn := range st.Functions {
			if fn == "ERROR" || strings.HasSuffix(fn, ".ERROR") {
				out = append(out, fmt.Sprintf("statement %d calls %s", i+1, fn))
				break
			}
		}
	}
	return out
}

// decide evaluates every rule against the facts and combines the matches
// into d (see docs/policy.md, How rules combine).
func (e *Engine) decide(d *Decision, f *facts) {
	var allows, approvals, denies []RuleMatch
	var allowRules, approvalRules []*Rule
	for i := range e.policy.Rules {
		r := &e.policy.Rules[i]
		ok, details := r.Match.matches(f)
		if !ok {
			continue
		}
		reason := r.Reason
		if reason == "" {
			reason = r.Description
		}
		if reason == "" {
			reason = "matched rule " + r.ID
		}
		if len(details) > 0 {
			reason += " (" + strings.Join(details, "; ") + ")"
		}
		m := RuleMatch{ID: r.ID, Action: r.Action, Reason: reason}
		d.Matched = append(d.Matched, m)
		switch r.Action {
		case ActionAllow:
			allows = append(allows, m)
			allowRules = append(allowRules, r)
		case ActionRequireApproval:
			approvals = append(approvals, m)
			approvalRules = append(approvalRules, r)
		default:
			denies = append(denies, m)
		}
	}
	for _, r := range allowRules {
		if r.MaxBytesBilled > 0 && (d.MaxBytesBilled == 0 || int64(r.MaxBytesBilled) < d.MaxBytesBilled) {
			d.MaxBytesBilled = int64(r.MaxBytesBilled)
		}
	}
	switch {
	case len(denies) > 0:
		d.Action = ActionDeny
		addAll(d, denies)
	case len(allows) == 0:
		deny(d, "builtin.no_grant", fmt.Sprintf("No allow rule of the policy matches this request (principal %q, %s).", f.in.Email, describeGroups(f.in.Groups)))
	case len(approvals) > 0:
		d.Action = ActionRequireApproval
		addAll(d, approvals)
		for _, r := range approvalRules {
			if d.ApproverGroup == "" {
				d.ApproverGroup = r.ApproverGroup
				if len(r.ApproverGroups) > 0 {
					d.ApproverGroup = r.ApproverGroups[0]
					d.ApproverGroups = slices.Clone(r.ApproverGroups)
				}
			}
			d.MinApprovals = max(d.MinApprovals, r.MinApprovals)
			d.AllGroupsMustApprove = d.AllGroupsMustApprove || r.AllGroupsMustApprove
			if ttl := time.Duration(r.ApprovalTTL); ttl > 0 && (d.ApprovalTTL == 0 || ttl < d.ApprovalTTL) {
				d.ApprovalTTL = ttl
			}
		}
		if d.ApproverGroup == "" {
			d.ApproverGroup = e.policy.Defaults.ApproverGroup
		}
		if d.ApprovalTTL == 0 {
			d.ApprovalTTL = time.Duration(e.policy.Defaults.ApprovalTTL)
		}
		if d.ApprovalTTL == 0 {
			d.ApprovalTTL = 15 * time.Minute
		}
		if len(d.ApproverGroups) < 2 {
			d.AllGroupsMustApprove = false
		}
		d.MinApprovals = max(d.MinApprovals, 1)
		applyJustify(d, f.in, approvalRules)
	default:
		d.Action = ActionAllow
		addAll(d, allows)
	}
	if !f.ignoreBytes && d.Action != ActionDeny && d.MaxBytesBilled > 0 && d.EstimatedBytes > d.MaxBytesBilled {
		d.ApproverGroup, d.ApprovalTTL = "", 0
		d.MinApprovals, d.ApproverGroups, d.AllGroupsMustApprove = 0, nil, false
		d.RuleIDs, d.Reasons = nil, nil
		deny(d, "builtin.max_bytes_billed", fmt.Sprintf(
			"The query would process about %d bytes (%s), more than the %d bytes this policy bills at most. Filter on partition columns or select fewer columns.",
			d.EstimatedBytes, d.EstimateSource, d.MaxBytesBilled))
	}
}

func addAll(d *Decision, ms []RuleMatch) {
	for _, m := range ms {
		d.RuleIDs = append(d.RuleIDs, m.ID)
		d.Reasons = append(d.Reasons, m.Reason)
	}
}

func deny(d *Decision, id, reason string) *Decision {
	d.Action = ActionDeny
	d.RuleIDs = append(d.RuleIDs, id)
	d.Reasons = append(d.Reasons, reason)
	return d
}

// localEstimate sums the sizes of every table the script reaches. This is
// an estimate, and an upper bound: BigQuery bills only the columns read and
// prunes partitions, which a size from tables.get cannot see. The emulator's
// dry run does not estimate at all (it runs the query and reports SELECT),
// so the local gateway relies on this.
func localEstimate(a *sqlscan.Analysis) int64 {
	var total int64
	for _, m := range a.Tables {
		if m != nil && !strings.EqualFold(m.Type, "VIEW") {
			total += m.NumBytes
		}
	}
	return total
}

// classify finds the sensitive columns of every table the analysis
// reaches, and records where each classification came from (f.classes).
func (e *Engine) classify(ctx context.Context, f *facts) error {
	f.sensitive = map[sqlscan.TableRef]map[string][]string{}
	f.classes = map[sqlscan.TableRef]map[string]*ColumnClass{}
	refs := make([]sqlscan.TableRef, 0, len(f.analysis.Tables))
	for ref := range f.analysis.Tables {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	for _, ref := range refs {
		meta := f.analysis.Tables[ref]
		for k, kc := range e.policy.sensitive {
			if !k.covers(ref, e.policy) {
				continue
			}
			for c, it := range kc {
				addClass(f.classes, ref, c, ClassFile, it)
			}
		}
		if meta != nil {
			for _, c := range meta.Columns {
				if tags := policyTags(c); len(tags) > 0 {
					name := strings.ToLower(c.Name)
					for _, t := range tags {
						it, ok := e.policy.PolicyTags[t]
						if !ok {
							it = []string{"POLICY_TAG"}
						}
						addClass(f.classes, ref, name, ClassPolicyTag, it)
					}
				}
			}
		}
		isView := meta != nil && strings.EqualFold(meta.Type, "VIEW")
		// Every table is profiled, listed or not: a policy file that names
		// some of a table's columns says nothing about the others. For a
		// column the file or a policy tag classifies, those win; the
		// profile classifies the rest.
		if !isView && meta != nil && e.profiler != nil && e.policy.Profiling.Enabled {
			prof, err := e.profile(ctx, ref)
			if err != nil {
				return fmt.Errorf("profile %s: %w", ref, err)
			}
			for c, pc := range prof {
				name := strings.ToLower(c)
				if _, listed := f.classes[ref][name]; len(pc.InfoTypes) > 0 && !listed {
					cc := addClass(f.classes, ref, name, ClassProfile, pc.InfoTypes)
					cc.SampledRows, cc.NonNull, cc.Matches = pc.SampledRows, pc.NonNull, pc.Matches
				}
			}
		}
		if cols := f.classes[ref]; len(cols) > 0 {
			m := make(map[string][]string, len(cols))
			for c, cc := range cols {
				m[c] = cc.InfoTypes
			}
			f.sensitive[ref] = m
		}
	}
	return nil
}

// covers reports whether a sensitive_columns key applies to ref. Names
// compare case-insensitively (BigQuery datasets can be case-insensitive),
// and a wildcard reference is covered by every table it can match.
func (k sensitiveKey) covers(ref sqlscan.TableRef, p *Policy) bool {
	if k.project == "" {
		if !p.Governs(ref.Project) {
			return false
		}
	} else if !strings.EqualFold(k.project, ref.Project) {
		return false
	}
	if !strings.EqualFold(k.dataset, ref.Dataset) {
		return false
	}
	if strings.EqualFold(k.table, ref.Table) {
		return true
	}
	if ref.IsWildcard() {
		prefix := strings.ToLower(strings.TrimSuffix(ref.Table, "*"))
		return strings.HasPrefix(strings.ToLower(k.table), prefix)
	}
	return false
}

// policyTags returns the policy tags of a column and its nested fields: a
// tag on any field makes the whole top-level column sensitive, since lineage
// is traced per top-level column.
func policyTags(c sqlscan.Column) []string {
	out := append([]string(nil), c.PolicyTags...)
	for _, f := range c.Fields {
		out = append(out, policyTags(f)...)
	}
	return out
}

func (e *Engine) profile(ctx context.Context, ref sqlscan.TableRef) (map[string]ProfiledColumn, error) {
	e.mu.Lock()
	if p, ok := e.profiles[ref]; ok && e.now().Sub(p.at) < e.profileTTL {
		e.mu.Unlock()
		return p.result, nil
	}
	e.mu.Unlock()
	res, err := e.profiler(ctx, ref)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.profiles[ref] = profileEntry{at: e.now(), result: res}
	e.mu.Unlock()
	return res, nil
}

func uniqueSorted(in []string) []string {
	set := map[string]bool{}
	for _, s := range in {
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// lineageInfoTypes returns the infoTypes a lineage reaches.
func lineageInfoTypes(lin []sqlscan.ColumnRef, sensitive map[sqlscan.TableRef]map[string][]string) []string {
	var out []string
	for _, r := range lin {
		cols, ok := sensitive[r.Table]
		if !ok {
			continue
		}
		if r.Column == sqlscan.AllColumns {
			for _, it := range cols {
				out = append(out, it...)
			}
			continue
		}
		out = append(out, cols[strings.ToLower(r.Column)]...)
	}
	if len(out) == 0 {
		return nil
	}
	return uniqueSorted(out)
}

func columnInfoTypes(outs []sqlscan.OutputColumn, sensitive map[sqlscan.TableRef]map[string][]string) (map[string][]string, map[int][]string) {
	byName := map[string][]string{}
	byIndex := map[int][]string{}
	for _, c := range outs {
		it := outputInfoTypes(c, sensitive)
		if len(it) == 0 {
			continue
		}
		byName[c.Name] = uniqueSorted(append(byName[c.Name], it...))
		byIndex[c.Index] = it
	}
	return byName, byIndex
}

func starsOverSensitive(a *sqlscan.Analysis, sensitive map[sqlscan.TableRef]map[string][]string) []string {
	var out []string
	for i, st := range a.Statements {
		for _, s := range st.Star {
			for _, t := range s.Tables {
				if len(sensitive[t]) > 0 {
					out = append(out, fmt.Sprintf("statement %d: %s over %s", i+1, s.Form, t))
					break
				}
			}
		}
	}
	return out
}
