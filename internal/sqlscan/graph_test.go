package sqlscan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Many-to-many derivations (a window shared by many functions, a condition
// over many columns) go through a hub: the edges stay linear, and every
// target still reaches every source, derived.
func TestComputedFromStaysLinear(t *testing.T) {
	t.Parallel()
	l := newLineage(nil)
	const n = 2000
	var targets, sources []int
	for i := 0; i < n; i++ {
		targets = append(targets, i)
		sources = append(sources, n+i, n+i) // duplicates are dropped
		l.base[n+i] = ColumnRef{Table: TableRef{Project: "p", Dataset: "d", Table: "t"}, Column: "c" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))}
	}
	l.computedFrom(targets, sources)
	edges := 0
	for _, es := range l.edges {
		edges += len(es)
	}
	if edges > 2*n {
		t.Errorf("%d edges for %d x %d columns, want at most %d", edges, n, n, 2*n)
	}
	all, derived := l.sources(7)
	if len(all) != n || len(derived) != n {
		t.Errorf("target 7 reaches %d sources (%d derived), want %d", len(all), len(derived), n)
	}
	// Small sets are joined directly, without a hub.
	s := newLineage(nil)
	s.base[10] = ColumnRef{Column: "x"}
	s.computedFrom([]int{1, 2}, []int{10, 1})
	want := map[int][]edge{1: {{to: 10, kind: edgeCompute}}, 2: {{to: 10, kind: edgeCompute}, {to: 1, kind: edgeCompute}}}
	if diff := cmp.Diff(want, s.edges, cmp.AllowUnexported(edge{})); diff != "" {
		t.Errorf("edges (-want, +got):\n%s", diff)
	}
}
