package deid

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// colPlan is what happens to one column in one request.
type colPlan struct {
	name    string
	whole   transformer
	wholeIT string
	itt     *ittPlan
	// derived, when set, replaces every cell (see DerivedInfoType).
	derived    string
	hasDerived bool
}

func (l *Local) plan(req *Request) ([]colPlan, []string) {
	t := req.Table
	plans := make([]colPlan, len(t.Headers))
	var masked []string
	for i, h := range t.Headers {
		p := colPlan{name: h}
		if v, ok := derivedValue(req.ColumnInfoTypes[h]); ok {
			// Before the configured field transformations: those were
			// written for the column's values, not for ones computed
			// from a sensitive column under the same name.
			p.derived, p.hasDerived = v, true
			masked = append(masked, h)
		} else if fp, ok := l.fields[h]; ok {
			p.whole, p.itt = fp.prim, fp.itt
		} else if its := req.ColumnInfoTypes[h]; len(its) > 0 {
			p.whole, p.wholeIT = l.inspect.forIT(l, its[0]), its[0]
		} else {
			p.itt = l.inspect
		}
		if p.whole != nil {
			masked = append(masked, h)
		}
		plans[i] = p
	}
	return plans, masked
}

// worker holds one goroutine's reusable buffers and counters.
type worker struct {
	l      *Local
	spans  []span
	buf    []byte
	counts []int64
	rc     rowCtx
}

func (l *Local) newWorker(cols map[string]int) *worker {
	return &worker{l: l, counts: make([]int64, len(l.infoTypes)), rc: rowCtx{cols: cols},
		spans: make([]span, 0, 16), buf: make([]byte, 0, 256)}
}

// inspectString returns s with every finding transformed by p; s itself (no
// allocation) when it holds none.
func (w *worker) inspectString(s string, p *ittPlan) (string, bool, error) {
	l := w.l
	w.spans = l.builtins.scan(s, w.spans[:0])
	if len(l.customs) > 0 {
		n := len(w.spans)
		for _, c := range l.customs {
			w.spans = c.d.find(s, c.it, w.spans)
		}
		if len(w.spans) > n {
			w.spans = mergeSpans(w.spans)
		}
	}
	if len(w.spans) == 0 {
		return s, false, nil
	}
	w.spans = alsoElsewhere(s, w.spans)
	buf := w.buf[:0]
	last := 0
	changed := false
	var err error
	for _, sp := range w.spans {
		w.counts[sp.it]++
		t := p.byIT[sp.it]
		if t == nil {
			continue
		}
		changed = true
		buf = append(buf, s[last:sp.start]...)
		if buf, err = t.text(buf, s[sp.start:sp.end], l.infoTypes[sp.it], &w.rc); err != nil {
			return "", false, fmt.Errorf("%s for %s: %w", t.kind(), l.infoTypes[sp.it], err)
		}
		last = sp.end
	}
	if !changed {
		return s, false, nil
	}
	buf = append(buf, s[last:]...)
	w.buf = buf
	return string(buf), true, nil
}

// alsoElsewhere adds every other occurrence of a detected value that the
// detectors skipped (say "x4111111111111111", where the card is glued to a
// word), so a value found once does not survive elsewhere in the same cell.
// It runs only on cells that already have findings. Each distinct value costs
// one search of the cell; past elsewhereBudget bytes searched (a huge cell
// with thousands of distinct findings) the remaining values are not searched,
// so the work stays linear-bounded; their own occurrences are still masked.
func alsoElsewhere(s string, sp []span) []span {
	n := len(sp)
	budget := elsewhereBudget
	var seen map[string]bool
	if n > 8 {
		seen = make(map[string]bool, n)
	}
	for k := 0; k < n && budget > 0; k++ {
		v := s[sp[k].start:sp[k].end]
		if seen != nil {
			if seen[v] {
				continue
			}
			seen[v] = true
		}
		budget -= len(s)
		for from := 0; from < len(s); {
			j := strings.Index(s[from:], v)
			if j < 0 {
				break
			}
			j += from
			if j != sp[k].start {
				sp = append(sp, span{j, j + len(v), sp[k].it})
			}
			from = j + 1
		}
	}
	if len(sp) > n {
		sp = mergeSpans(sp)
	}
	return sp
}

// elsewhereBudget bounds alsoElsewhere's searching per cell (bytes).
const elsewhereBudget = 16 << 20

// mergeSpans sorts spans and unions overlapping ones (the earlier keeps its
// infoType), so no detected byte survives.
func mergeSpans(sp []span) []span {
	slices.SortFunc(sp, func(a, b span) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end
	})
	out := sp[:1]
	for _, s := range sp[1:] {
		last := &out[len(out)-1]
		if s.start < last.end {
			if s.end > last.end {
				last.end = s.end
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// inspectValue walks a cell, inspecting every string in it. Nested values are
// copied only when something inside changes.
func (w *worker) inspectValue(v Value, p *ittPlan) (Value, bool, error) {
	switch x := v.(type) {
	case string:
		s, ch, err := w.inspectString(x, p)
		if err != nil || !ch {
			return v, false, err
		}
		return s, true, nil
	case []byte:
		s, ch, err := w.inspectString(string(x), p)
		if err != nil || !ch {
			return v, false, err
		}
		return []byte(s), true, nil
	case []any:
		var out []any
		for i, e := range x {
			ne, ch, err := w.inspectValue(e, p)
			if err != nil {
				return nil, false, err
			}
			if ch && out == nil {
				out = slices.Clone(x)
			}
			if out != nil {
				out[i] = ne
			}
		}
		if out == nil {
			return v, false, nil
		}
		return out, true, nil
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			ne, ch, err := w.inspectValue(e, p)
			if err != nil {
				return nil, false, err
			}
			if ch && out == nil {
				out = maps.Clone(x)
			}
			if out != nil {
				out[k] = ne
			}
		}
		if out == nil {
			return v, false, nil
		}
		return out, true, nil
	}
	return v, false, nil
}

// wholeValue applies t to a cell; nested values keep their shape and t applies
// to each leaf.
func (w *worker) wholeValue(v Value, t transformer, it string) (Value, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ne, err := w.wholeValue(e, t, it)
			if err != nil {
				return nil, err
			}
			out[i] = ne
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ne, err := w.wholeValue(e, t, it)
			if err != nil {
				return nil, err
			}
			out[k] = ne
		}
		return out, nil
	case []byte:
		return t.cell(string(x), it, &w.rc)
	}
	return t.cell(v, it, &w.rc)
}

// row de-identifies one row into out (len(plans) cells).
func (w *worker) row(plans []colPlan, in, out []Value) error {
	if len(in) != len(plans) {
		return fmt.Errorf("%w: row has %d cells for %d headers", ErrTable, len(in), len(plans))
	}
	w.rc.row = in
	for i, v := range in {
		p := &plans[i]
		var err error
		if p.hasDerived {
			out[i] = p.derived
			continue
		}
		if p.whole != nil {
			out[i], err = w.wholeValue(v, p.whole, p.wholeIT)
			if err != nil {
				return fmt.Errorf("column %q: %s: %w", p.name, p.whole.kind(), err)
			}
			continue
		}
		out[i], _, err = w.inspectValue(v, p.itt)
		if err != nil {
			return fmt.Errorf("column %q: %w", p.name, err)
		}
	}
	return nil
}
