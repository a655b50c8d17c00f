package policy

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/querygate/querygate/internal/sqlscan"
)

// identityMatches checks the conditions of m that depend only on who asks.
func (m *Match) identityMatches(in Input) bool {
	if len(m.Groups) > 0 && !anyIn(in.Groups, m.Groups) {
		return false
	}
	if len(m.ExceptGroups) > 0 && anyIn(in.Groups, m.ExceptGroups) {
		return false
	}
	if len(m.Emails) > 0 && !containsFold(m.Emails, in.Email) {
		return false
	}
	return true
}

// matches evaluates every condition and returns details of what matched.
func (m *Match) matches(f *facts) (bool, []string) {
	var details []string
	in, a := f.in, f.analysis
	if !m.identityMatches(in) {
		return false, nil
	}
	if len(m.Kinds) > 0 {
		hit := ""
		for i, st := range a.Statements {
			if kindIn(st, m.Kinds) {
				hit = fmt.Sprintf("statement %d is %s", i+1, st.Kind)
				break
			}
		}
		if hit == "" {
			return false, nil
		}
		details = append(details, hit)
	}
	if len(m.OnlyKinds) > 0 {
		for _, st := range a.Statements {
			if !kindIn(st, m.OnlyKinds) {
				return false, nil
			}
		}
	}
	if len(m.KindsOtherThan) > 0 {
		hit := ""
		for i, st := range a.Statements {
			if !kindIn(st, m.KindsOtherThan) {
				hit = fmt.Sprintf("statement %d is %s", i+1, st.Kind)
				break
			}
		}
		if hit == "" {
			return false, nil
		}
		details = append(details, hit)
	}
	tables := allTables(a)
	if len(m.Tables) > 0 {
		hit := ""
		for _, t := range tables {
			if tableMatches(t, m.Tables, f.policy) {
				hit = "reads " + t.String()
				break
			}
		}
		if hit == "" {
			return false, nil
		}
		details = append(details, hit)
	}
	if len(m.OnlyTables) > 0 {
		for _, t := range tables {
			if !tableMatches(t, m.OnlyTables, f.policy) {
				return false, nil
			}
		}
	}
	if m.SensitiveOutput != nil {
		if (len(f.colInfo) > 0) != *m.SensitiveOutput {
			return false, nil
		}
		if *m.SensitiveOutput {
			details = append(details, "sensitive output columns: "+describeColumns(f.colInfo))
		}
	}
	if len(m.InfoTypes) > 0 {
		var hit []string
		for col, its := range f.colInfo {
			if anyIn(its, m.InfoTypes) {
				hit = append(hit, col)
			}
		}
		if len(hit) == 0 {
			return false, nil
		}
		sort.Strings(hit)
		details = append(details, "columns carrying "+strings.Join(m.InfoTypes, "/")+": "+strings.Join(hit, ", "))
	}
	if m.StarOverSensitive != nil {
		if (len(f.starSensitive) > 0) != *m.StarOverSensitive {
			return false, nil
		}
		if *m.StarOverSensitive {
			details = append(details, strings.Join(f.starSensitive, "; "))
		}
	}
	if m.FiltersOnSensitive != nil {
		hits := shapingOverSensitive(a, f.sensitive, m.ExceptKeyLookups, f.policy)
		if (len(hits) > 0) != *m.FiltersOnSensitive {
			return false, nil
		}
		if *m.FiltersOnSensitive {
			details = append(details, strings.Join(hits, "; "))
		}
	}
	if m.EstimatedBytesOver != nil {
		if f.ignoreBytes || f.estimated <= int64(*m.EstimatedBytesOver) {
			return false, nil
		}
		details = append(details, fmt.Sprintf("estimated %d bytes > %d", f.estimated, int64(*m.EstimatedBytesOver)))
	}
	if m.MissingLimit != nil {
		missing := false
		for i, st := range a.Statements {
			if st.Depth == 0 && st.Kind == sqlscan.KindQuery && !st.HasLimit {
				missing = true
				if *m.MissingLimit {
					details = append(details, fmt.Sprintf("statement %d has no LIMIT", i+1))
				}
				break
			}
		}
		if missing != *m.MissingLimit {
			return false, nil
		}
	}
	if m.AnalysisPath != "" {
		if a.Path != m.AnalysisPath {
			return false, nil
		}
		if a.AnalyzerError != "" {
			details = append(details, "analyzer: "+a.AnalyzerError)
		}
	}
	return true, details
}

func describeColumns(ci map[string][]string) string {
	cols := make([]string, 0, len(ci))
	for c, it := range ci {
		cols = append(cols, c+" ("+strings.Join(it, ", ")+")")
	}
	sort.Strings(cols)
	return strings.Join(cols, ", ")
}

func allTables(a *sqlscan.Analysis) []sqlscan.TableRef {
	seen := map[sqlscan.TableRef]bool{}
	var out []sqlscan.TableRef
	for _, st := range a.Statements {
		for _, list := range [][]sqlscan.TableRef{st.Tables, st.ViaViews} {
			for _, t := range list {
				if !seen[t] {
					seen[t] = true
					out = append(out, t)
				}
			}
		}
	}
	return out
}

func kindIn(st sqlscan.Statement, list []string) bool {
	for _, k := range list {
		if strings.EqualFold(k, st.Kind) || strings.EqualFold(k, st.Class) {
			return true
		}
	}
	return false
}

// tableMatches matches a table against patterns of the form
// [project.]dataset.table, each part a glob, case-insensitively; a pattern
// without a project means every project the policy governs, never the
// request's default project (which the agent chooses).
func tableMatches(t sqlscan.TableRef, patterns []string, pol *Policy) bool {
	for _, p := range patterns {
		parts := strings.Split(p, ".")
		ok1 := false
		switch len(parts) {
		case 2:
			ok1 = pol.Governs(t.Project)
			parts = append([]string{""}, parts...)
		case 3:
			ok1, _ = path.Match(strings.ToLower(parts[0]), strings.ToLower(t.Project))
		default:
			continue
		}
		ok2, _ := globFold(parts[1], t.Dataset)
		ok3, _ := globFold(parts[2], t.Table)
		if ok1 && ok2 && ok3 {
			return true
		}
	}
	return false
}

func anyIn(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// globFold matches name against a glob, case-insensitively.
func globFold(pattern, name string) (bool, error) {
	return path.Match(strings.ToLower(pattern), strings.ToLower(name))
}
