package mcp

import (
	"strings"
	"testing"
)

// FuzzParseTable: describe_table quotes the parsed name into SQL, so any
// name it accepts must consist of three non-empty parts of letters, digits,
// _ and - only.
func FuzzParseTable(f *testing.F) {
	for _, s := range []string{"demo.customers", "p.demo.customers", "`p.d.t`", "d.t`; DROP TABLE x; --", "a..b", "ü.t", "d.t\n"} {
		f.Add(s)
	}
	s := &Server{cfg: Config{Projects: []string{"default-project"}}}
	f.Fuzz(func(t *testing.T, name string) {
		ref, err := s.parseTable(name)
		if err != nil {
			return
		}
		for _, p := range []string{ref.Project, ref.Dataset, ref.Table} {
			if p == "" || strings.IndexFunc(p, func(c rune) bool {
				return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-')
			}) >= 0 {
				t.Fatalf("parseTable(%q) accepted part %q", name, p)
			}
		}
	})
}
