package sqlscan_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/sqlscan"
)

// FuzzAnalyzeLimits builds SQL around the resource limits that keep
// ZetaSQL, which recurses on the C++ stack, from crashing the process:
// bracket nesting, statement count and table references. Over a limit,
// Analyze must refuse with a ParseError and no analysis; under it, it must
// return (an error or an analysis) without crashing. filler, arbitrary
// text, goes in front of the nesting shapes, whose limit is textual.
func FuzzAnalyzeLimits(f *testing.F) {
	_, _, opts := loadCorpus(f)
	for _, shape := range []uint8{0, 1, 2, 3} {
		f.Add(shape, uint16(3), "")
	}
	f.Add(uint8(0), uint16(sqlscan.MaxNesting+1), "")
	f.Add(uint8(1), uint16(sqlscan.MaxNesting+1), "SELECT ')' ")
	f.Add(uint8(2), uint16(sqlscan.MaxStatements+1), "")
	f.Add(uint8(3), uint16(sqlscan.MaxTableReferences+1), "")
	f.Fuzz(func(t *testing.T, shape uint8, n uint16, filler string) {
		var sql string
		over := false
		switch shape % 4 {
		case 0: // nested subqueries
			d := int(n) % (4 * sqlscan.MaxNesting)
			sql = filler + "\n" + strings.Repeat("SELECT * FROM (", d) + "SELECT 1 AS x" + strings.Repeat(")", d)
			over = d > sqlscan.MaxNesting
		case 1: // nested arrays
			d := int(n) % (4 * sqlscan.MaxNesting)
			sql = filler + "\n" + "SELECT " + strings.Repeat("[", d) + "1" + strings.Repeat("]", d)
			over = d > sqlscan.MaxNesting
		case 2: // many statements
			c := int(n)%(2*sqlscan.MaxStatements) + 1
			sql = strings.Repeat("SELECT 1;\n", c)
			over = c > sqlscan.MaxStatements
		case 3: // many table references
			c := int(n)%(2*sqlscan.MaxTableReferences) + 1
			sql = "SELECT 1 FROM demo.customers" + strings.Repeat(", demo.customers", c-1)
			over = c > sqlscan.MaxTableReferences
		}
		a, err := sqlscan.Analyze(context.Background(), sql, opts)
		if !over {
			return
		}
		var pe *sqlscan.ParseError
		if !errors.As(err, &pe) || a != nil {
			t.Fatalf("shape %d, n %d over the limit: Analyze = %v, %v; want a ParseError and no analysis", shape%4, n, a != nil, err)
		}
	})
}
