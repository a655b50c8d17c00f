package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const limitsYAML = `version: 1
defaults:
  limits:
    requests_per_minute: 8
    bytes_per_day: 10GB
    concurrent_sessions: 3
    groups:
      etl:
        requests_per_minute: 120
      bulk:
        requests_per_minute: 60
        bytes_per_day: 1TB
rules:
  - id: grant
    match: {}
    action: allow
  - id: interns
    match:
      groups: [interns]
    action: allow
    limits:
      bytes_per_day: 1GB
      concurrent_sessions: 1
  - id: alice
    match:
      emails: [alice@example.com]
    action: allow
    limits:
      bytes_per_day: 5GB
`

func TestLimitsForPrecedence(t *testing.T) {
	t.Parallel()
	p, err := Load([]byte(limitsYAML), "limits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasLimits() {
		t.Fatal("HasLimits = false")
	}
	cases := []struct {
		name   string
		email  string
		groups []string
		want   EffectiveLimits
	}{
		{"defaults only", "bob@example.com", nil, EffectiveLimits{
			RequestsPerMinute: 8, RequestsPerMinuteSource: "defaults",
			BytesPerDay: 10e9, BytesPerDaySource: "defaults",
			ConcurrentSessions: 3, ConcurrentSessionsSource: "defaults"}},
		{"group beats defaults; two groups: the smaller", "bob@example.com", []string{"etl", "bulk"}, EffectiveLimits{
			RequestsPerMinute: 60, RequestsPerMinuteSource: "group bulk",
			BytesPerDay: 1e12, BytesPerDaySource: "group bulk",
			ConcurrentSessions: 3, ConcurrentSessionsSource: "defaults"}},
		{"rule beats group even when larger", "carol@example.com", []string{"bulk", "interns"}, EffectiveLimits{
			RequestsPerMinute: 60, RequestsPerMinuteSource: "group bulk",
			BytesPerDay: 1e9, BytesPerDaySource: "rule interns",
			ConcurrentSessions: 1, ConcurrentSessionsSource: "rule interns"}},
		{"two rules: the smaller", "ALICE@example.com", []string{"interns"}, EffectiveLimits{
			RequestsPerMinute: 8, RequestsPerMinuteSource: "defaults",
			BytesPerDay: 1e9, BytesPerDaySource: "rule interns",
			ConcurrentSessions: 1, ConcurrentSessionsSource: "rule interns"}},
		{"email rule alone", "alice@example.com", nil, EffectiveLimits{
			RequestsPerMinute: 8, RequestsPerMinuteSource: "defaults",
			BytesPerDay: 5e9, BytesPerDaySource: "rule alice",
			ConcurrentSessions: 3, ConcurrentSessionsSource: "defaults"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, p.LimitsFor(tc.email, tc.groups)); diff != "" {
				t.Errorf("LimitsFor (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestNoLimitsIsUnlimited(t *testing.T) {
	t.Parallel()
	p := Default()
	if p.HasLimits() {
		t.Error("the default policy sets limits")
	}
	if got := p.LimitsFor("a@example.com", []string{"x"}); got.Any() || got != (EffectiveLimits{}) {
		t.Errorf("LimitsFor without limits = %+v, want zero", got)
	}
}

func TestLimitsValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml, want string
	}{
		{"zero", "version: 1\ndefaults:\n  limits:\n    requests_per_minute: 0\n",
			`x.yaml:4: defaults.limits.requests_per_minute must be between 1 and 1000000`},
		{"negative sessions", "version: 1\ndefaults:\n  limits:\n    bytes_per_day: 1GB\n    concurrent_sessions: -2\n",
			`x.yaml:5: defaults.limits.concurrent_sessions must be between 1 and 10000`},
		{"bad bytes", "version: 1\ndefaults:\n  limits:\n    bytes_per_day: lots\n",
			`line 4: "lots" is not a byte size`},
		{"unknown field", "version: 1\ndefaults:\n  limits:\n    requests_per_hour: 5\n",
			`line 4: field requests_per_hour not found`},
		{"empty group", "version: 1\ndefaults:\n  limits:\n    groups:\n      etl: {}\n",
			`x.yaml:5: defaults.limits.groups.etl sets no limit`},
		{"group value", "version: 1\ndefaults:\n  limits:\n    groups:\n      etl:\n        requests_per_minute: 2000000\n",
			`x.yaml:6: defaults.limits.groups.etl.requests_per_minute must be between`},
		{"rule matches on SQL", "version: 1\nrules:\n  - id: big\n    match:\n      tables: [ds.t]\n    action: allow\n    limits:\n      bytes_per_day: 1GB\n",
			`x.yaml:7: rule "big": limits: a rule with limits may match only on groups, except_groups and emails`},
		{"deny rule", "version: 1\nrules:\n  - id: no\n    match: {}\n    action: deny\n    limits:\n      concurrent_sessions: 1\n",
			`x.yaml:6: rule "no": limits: a deny rule admits nothing to limit`},
		{"rule value", "version: 1\nrules:\n  - id: r\n    match: {}\n    action: allow\n    limits:\n      concurrent_sessions: 0\n",
			`x.yaml:7: rule "r": limits.concurrent_sessions must be between 1 and 10000`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load([]byte(tc.yaml), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
