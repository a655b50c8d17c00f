package deid

import "strings"

// DerivedInfoType marks, in Request.ColumnInfoTypes, a column computed from
// a sensitive column (SUBSTR(ssn, 1, 3), REVERSE(ssn), TO_HEX(...)). It is
// the same string as policy.DerivedInfoType. Such a value cannot be trusted
// to a transformation meant for the original (a character mask keeps a
// rearranged SSN's digits, a bucket fails on it) nor to content inspection
// (a reversed or hex-encoded SSN matches no detector), so it is replaced by
// a constant: the replacement depends on nothing in the cell.
const DerivedInfoType = "QUERYGATE_DERIVED"

// derivedValue returns the constant a derived column is replaced with, and
// whether its infoTypes mark it derived.
func derivedValue(its []string) (string, bool) {
	derived := false
	var rest []string
	for _, it := range its {
		if it == DerivedInfoType {
			derived = true
			continue
		}
		rest = append(rest, it)
	}
	if !derived {
		return "", false
	}
	return DerivedValue(rest), true
}

// DerivedValue is the text a derived column's every cell becomes:
// [DERIVED:IT1,IT2] for the infoTypes its lineage reaches.
func DerivedValue(infoTypes []string) string {
	return "[DERIVED:" + strings.Join(infoTypes, ",") + "]"
}

// replaceDerived returns a copy of t whose derived columns (DerivedInfoType)
// hold their constant in every row, the infoTypes of the other columns, and
// the constant by column position ("" for columns that are not derived;
// nil when none is).
func replaceDerived(t *Table, cit map[string][]string) (*Table, map[string][]string, []string) {
	var derived []string
	rest := map[string][]string{}
	for h, its := range cit {
		if _, ok := derivedValue(its); !ok {
			rest[h] = its
		}
	}
	for i, h := range t.Headers {
		if v, ok := derivedValue(cit[h]); ok {
			if derived == nil {
				derived = make([]string, len(t.Headers))
			}
			derived[i] = v
		}
	}
	if derived == nil {
		return t, cit, nil
	}
	out := &Table{Headers: t.Headers, Rows: make([][]Value, len(t.Rows))}
	for r, row := range t.Rows {
		nr := append([]Value(nil), row...)
		for i, v := range derived {
			if i < len(nr) && v != "" {
				nr[i] = v
			}
		}
		out.Rows[r] = nr
	}
	return out, rest, derived
}

// mergeMasked lists, in header order, the columns masked by DLP or replaced
// as derived.
func mergeMasked(headers, masked, derived []string) []string {
	set := map[string]bool{}
	for _, m := range masked {
		set[m] = true
	}
	for i, v := range derived {
		if v != "" && i < len(headers) {
			set[headers[i]] = true
		}
	}
	var out []string
	for _, h := range headers {
		if set[h] {
			out = append(out, h)
			delete(set, h)
		}
	}
	return out
}
