package sqlscan

import "strings"

// expandViewsDerived adds, for each view column, the base columns behind
// it: derived when the view column is reached derived or the view computes
// it from them.
func (a *analyzer) expandViewsDerived(lin, derived []ColumnRef) ([]ColumnRef, []ColumnRef) {
	der := map[ColumnRef]bool{}
	for _, d := range derived {
		der[d] = true
	}
	all := map[ColumnRef]bool{}
	var walk func(r ColumnRef, derived bool, depth int)
	walk = func(r ColumnRef, derived bool, depth int) {
		if depth > maxViewDepth+1 {
			return
		}
		all[r] = true
		if derived {
			der[r] = true
		}
		v, ok := a.views[r.Table]
		if !ok {
			return
		}
		if base, ok := v.lineage[strings.ToLower(r.Column)]; ok {
			inner := map[ColumnRef]bool{}
			for _, d := range v.derived[strings.ToLower(r.Column)] {
				inner[d] = true
			}
			for _, b := range base {
				walk(b, derived || inner[b], depth+1)
			}
			return
		}
		for _, b := range v.bases {
			for _, c := range a.allColumns(b) {
				walk(c, true, depth+1)
			}
		}
	}
	for _, r := range lin {
		walk(r, der[r], 0)
	}
	outDer := map[ColumnRef]bool{}
	for r := range der {
		if all[r] {
			outDer[r] = true
		}
	}
	return sortedRefs(all), sortedRefs(outDer)
}

// expandShaping adds, for each use of a view column, uses of the base
// columns behind it.
func (a *analyzer) expandShaping(uses []ShapingUse) []ShapingUse {
	set := map[ShapingUse]bool{}
	for _, u := range uses {
		set[u] = true
		var der []ColumnRef
		if u.Derived {
			der = []ColumnRef{u.Column}
		}
		all, derived := a.expandViewsDerived([]ColumnRef{u.Column}, der)
		isDer := map[ColumnRef]bool{}
		for _, d := range derived {
			isDer[d] = true
		}
		for _, c := range all {
			if c == u.Column {
				continue
			}
			set[ShapingUse{Clause: u.Clause, Column: c, Derived: isDer[c], Lookup: u.Lookup && !isDer[c]}] = true
		}
	}
	return sortShaping(set)
}

// fallbackShaping is the conservative shaping of a statement the analyzer
// could not resolve: every column of every table it reaches.
func (a *analyzer) fallbackShaping(st *Statement) []ShapingUse {
	set := map[ShapingUse]bool{}
	for _, c := range a.reachedColumns(st) {
		set[ShapingUse{Clause: ClauseUnanalyzed, Column: c, Derived: true}] = true
	}
	return sortShaping(set)
}

// reachedColumns lists every column of every table a statement reaches,
// directly or through views.
func (a *analyzer) reachedColumns(st *Statement) []ColumnRef {
	set := map[ColumnRef]bool{}
	var all refSet
	all.add(st.Tables...)
	all.add(st.ViaViews...)
	for _, t := range st.Tables {
		if v, ok := a.views[t]; ok {
			all.add(v.bases...)
		}
	}
	for _, t := range all {
		for _, c := range a.allColumns(t) {
			set[c] = true
		}
	}
	lin, _ := a.expandViewsDerived(sortedRefs(set), nil)
	return lin
}

// allColumns lists every column of a table, or AllColumns when its schema
// is unknown.
func (a *analyzer) allColumns(t TableRef) []ColumnRef {
	meta, ok := a.metas[t]
	if !ok || len(meta.Columns) == 0 {
		if v, ok := a.views[t]; ok {
			var out []ColumnRef
			for c := range v.lineage {
				out = append(out, ColumnRef{Table: t, Column: c})
			}
			return out
		}
		return []ColumnRef{{Table: t, Column: AllColumns}}
	}
	out := make([]ColumnRef, 0, len(meta.Columns))
	for _, c := range meta.Columns {
		out = append(out, ColumnRef{Table: t, Column: c.Name})
	}
	return out
}
