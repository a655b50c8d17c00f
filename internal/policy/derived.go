package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/querygate/querygate/internal/sqlscan"
)

// DerivedInfoType is added to the infoTypes of an output column that is
// computed from a sensitive column rather than a plain copy of one
// (SUBSTR(ssn, 1, 3), REVERSE(ssn), CONCAT('x', email), TO_HEX(...), a
// window, a UNION of differently classified columns). The de-identifier
// replaces such a column whole with a constant that does not depend on the
// value (package deid, DerivedInfoType), because a transformation meant for
// the original value (a character mask, a bucket) cannot be trusted on a
// rearranged one and content inspection cannot recognise it. Rules can match
// it with info_types.
const DerivedInfoType = "QUERYGATE_DERIVED"

// outputInfoTypes returns the infoTypes of one output column, with
// DerivedInfoType when the column is derived from a sensitive column, or
// copies sensitive columns of different classifications (a UNION of ssn
// and email: no one transformation fits both).
func outputInfoTypes(c sqlscan.OutputColumn, sensitive map[sqlscan.TableRef]map[string][]string) []string {
	it := lineageInfoTypes(c.Lineage, sensitive)
	if len(it) == 0 {
		return nil
	}
	derived := len(lineageInfoTypes(c.Derived, sensitive)) > 0
	if !derived {
		isDer := map[sqlscan.ColumnRef]bool{}
		for _, d := range c.Derived {
			isDer[d] = true
		}
		first := ""
		for _, r := range c.Lineage {
			if isDer[r] {
				continue
			}
			its := lineageInfoTypes([]sqlscan.ColumnRef{r}, sensitive)
			if len(its) == 0 {
				continue
			}
			key := strings.Join(its, ",")
			if first == "" {
				first = key
			} else if key != first {
				derived = true
				break
			}
		}
	}
	if derived {
		it = uniqueSorted(append(it, DerivedInfoType))
	}
	return it
}

// shapingOverSensitive describes every use of a sensitive column that
// shapes the result (sqlscan.ShapingUse), leaving out equality lookups on
// the key columns keys names (except_key_lookups).
func shapingOverSensitive(a *sqlscan.Analysis, sensitive map[sqlscan.TableRef]map[string][]string, keys []string, p *Policy) []string {
	var out []string
	seen := map[string]bool{}
	for i, st := range a.Statements {
		for _, u := range st.Shaping {
			its := lineageInfoTypes([]sqlscan.ColumnRef{u.Column}, sensitive)
			if len(its) == 0 {
				continue
			}
			if u.Lookup && !u.Derived && keyMatches(u.Column, keys, p) {
				continue
			}
			how := u.Column.String()
			if u.Derived {
				how = "a value computed from " + how
			}
			d := fmt.Sprintf("statement %d: %s in %s (%s)", i+1, how, clauseName(u.Clause), strings.Join(its, ", "))
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	sort.Strings(out)
	return out
}

func clauseName(c string) string {
	switch c {
	case sqlscan.ClauseWhere:
		return "WHERE"
	case sqlscan.ClauseJoinOn:
		return "a join condition"
	case sqlscan.ClauseHaving:
		return "HAVING"
	case sqlscan.ClauseQualify:
		return "QUALIFY"
	case sqlscan.ClauseGroupBy:
		return "GROUP BY or DISTINCT"
	case sqlscan.ClauseOrderBy:
		return "ORDER BY"
	case sqlscan.ClauseWindowPartitionBy:
		return "a window's PARTITION BY"
	case sqlscan.ClauseWindowOrderBy:
		return "a window's ORDER BY"
	case sqlscan.ClauseInSubquery:
		return "an IN subquery"
	case sqlscan.ClauseExistsSubquery:
		return "an EXISTS subquery"
	case sqlscan.ClauseScalarSubquery:
		return "a scalar subquery in a condition"
	case sqlscan.ClauseUnnest:
		return "the array of an UNNEST (its length is a row count)"
	case sqlscan.ClausePivot:
		return "PIVOT ... FOR"
	case sqlscan.ClauseSetOperation:
		return "INTERSECT, EXCEPT or UNION DISTINCT"
	case sqlscan.ClauseUnanalyzed:
		return "a statement the analyzer could not resolve"
	}
	return c
}

// keyMatches matches a column against except_key_lookups patterns,
// [project.]dataset.table.column, each part a glob, case-insensitively; a
// pattern without a project means every governed project.
func keyMatches(c sqlscan.ColumnRef, patterns []string, p *Policy) bool {
	for _, pat := range patterns {
		i := strings.LastIndexByte(pat, '.')
		if i < 0 {
			continue
		}
		if ok, _ := globFold(pat[i+1:], c.Column); !ok {
			continue
		}
		if tableMatches(c.Table, []string{pat[:i]}, p) {
			return true
		}
	}
	return false
}
