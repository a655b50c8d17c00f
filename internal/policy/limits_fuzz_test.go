package policy

import (
	"strings"
	"testing"
)

// FuzzLimitsFor feeds arbitrary limits sections and principals to Load and
// LimitsFor: no panic, every error names the file, and an accepted policy
// resolves every field to unlimited (0, no source) or to a value in range
// with the level it came from.
func FuzzLimitsFor(f *testing.F) {
	f.Add("  limits:\n    requests_per_minute: 8\n    groups:\n      g: {bytes_per_day: 1GB}\n", "a@example.com", "g")
	f.Add("  limits:\n    concurrent_sessions: 0\n", "", "")
	f.Add("  limits: {bytes_per_day: -1}\n", "x", "g,h")
	f.Fuzz(func(t *testing.T, limits, email, groups string) {
		src := "version: 1\ndefaults:\n" + limits + "rules:\n  - id: r\n    match: {groups: [g]}\n    action: allow\n    limits: {concurrent_sessions: 2}\n"
		p, err := Load([]byte(src), "fuzz.yaml")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		e := p.LimitsFor(email, strings.Split(groups, ","))
		for _, x := range []struct {
			v      int64
			src    string
			bounds int64
		}{{e.RequestsPerMinute, e.RequestsPerMinuteSource, maxRequestsPerMinute}, {e.BytesPerDay, e.BytesPerDaySource, 1<<63 - 1}, {e.ConcurrentSessions, e.ConcurrentSessionsSource, maxConcurrentSessions}} {
			if x.v < 0 || x.v > x.bounds || (x.v == 0) != (x.src == "") {
				t.Fatalf("LimitsFor = %+v: a value out of range or without its source", e)
			}
		}
	})
}
