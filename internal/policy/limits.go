package policy

import (
	"fmt"
	"reflect"
	"slices"
	"sort"

	"gopkg.in/yaml.v3"
)

// Limits caps what one principal may use of the gateway (see docs/policy.md,
// Limits). A nil field is not set at this level and inherits from the next
// one; a set field is at least 1. Package limits enforces them.
type Limits struct {
	// RequestsPerMinute bounds the queries a principal submits in one
	// minute (a fixed window aligned to the minute, UTC).
	RequestsPerMinute *int64 `yaml:"requests_per_minute"`
	// BytesPerDay bounds the bytes billed to a principal's queries in one
	// UTC day.
	BytesPerDay *ByteSize `yaml:"bytes_per_day"`
	// ConcurrentSessions bounds a principal's sessions that have not ended.
	ConcurrentSessions *int64 `yaml:"concurrent_sessions"`
}

// DefaultLimits is defaults.limits: the limits of every principal, and
// under groups the overrides for members of a group.
type DefaultLimits struct {
	Limits `yaml:",inline"`
	Groups map[string]Limits `yaml:"groups"`
}

// Bounds on limit values. Beyond them a value is almost certainly a typo
// (and the per-minute counter document stays small).
const (
	maxRequestsPerMinute  = 1_000_000
	maxConcurrentSessions = 10_000
)

// Limit sources, as EffectiveLimits names them.
const (
	LimitSourceDefaults = "defaults"
	limitSourceGroup    = "group "
	limitSourceRule     = "rule "
)

// EffectiveLimits are the limits that apply to one principal. Zero means
// unlimited. Each *Source says where the value came from: "defaults",
// "group <name>" or "rule <id>", empty when unlimited.
type EffectiveLimits struct {
	RequestsPerMinute        int64  `json:"requests_per_minute"`
	RequestsPerMinuteSource  string `json:"requests_per_minute_source,omitempty"`
	BytesPerDay              int64  `json:"bytes_per_day"`
	BytesPerDaySource        string `json:"bytes_per_day_source,omitempty"`
	ConcurrentSessions       int64  `json:"concurrent_sessions"`
	ConcurrentSessionsSource string `json:"concurrent_sessions_source,omitempty"`
}

// Any reports whether any limit applies.
func (e EffectiveLimits) Any() bool {
	return e.RequestsPerMinute > 0 || e.BytesPerDay > 0 || e.ConcurrentSessions > 0
}

// HasLimits reports whether the policy sets any limit anywhere, so that a
// composition without a counter store can refuse to start.
func (p *Policy) HasLimits() bool {
	if !p.Defaults.Limits.Limits.empty() {
		return true
	}
	for _, g := range p.Defaults.Limits.Groups {
		if !g.empty() {
			return true
		}
	}
	for _, r := range p.Rules {
		if r.Limits != nil && !r.Limits.empty() {
			return true
		}
	}
	return false
}

func (l Limits) empty() bool {
	return l.RequestsPerMinute == nil && l.BytesPerDay == nil && l.ConcurrentSessions == nil
}

// LimitsFor resolves the limits of a principal, field by field: a rule
// whose identity conditions (groups, except_groups, emails) select the
// principal beats a group of defaults.limits.groups the principal is in,
// which beats defaults.limits. When several rules, or several groups, set
// the same field, the smallest value wins (the most restrictive, as with
// rules' actions).
func (p *Policy) LimitsFor(email string, groups []string) EffectiveLimits {
	in := Input{Email: email, Groups: groups}
	var out EffectiveLimits
	type field struct {
		val *int64
		src *string
		get func(Limits) (int64, bool)
	}
	fields := []field{
		{&out.RequestsPerMinute, &out.RequestsPerMinuteSource, func(l Limits) (int64, bool) {
			if l.RequestsPerMinute == nil {
				return 0, false
			}
			return *l.RequestsPerMinute, true
		}},
		{&out.BytesPerDay, &out.BytesPerDaySource, func(l Limits) (int64, bool) {
			if l.BytesPerDay == nil {
				return 0, false
			}
			return int64(*l.BytesPerDay), true
		}},
		{&out.ConcurrentSessions, &out.ConcurrentSessionsSource, func(l Limits) (int64, bool) {
			if l.ConcurrentSessions == nil {
				return 0, false
			}
			return *l.ConcurrentSessions, true
		}},
	}
	// Levels from the most specific; the first level that sets a field
	// decides it.
	var rules []levelEntry
	for _, r := range p.Rules {
		if r.Limits != nil && r.Match.identityMatches(in) {
			rules = append(rules, levelEntry{limitSourceRule + r.ID, *r.Limits})
		}
	}
	var grps []levelEntry
	names := make([]string, 0, len(p.Defaults.Limits.Groups))
	for g := range p.Defaults.Limits.Groups {
		if slices.Contains(groups, g) {
			names = append(names, g)
		}
	}
	sort.Strings(names)
	for _, g := range names {
		grps = append(grps, levelEntry{limitSourceGroup + g, p.Defaults.Limits.Groups[g]})
	}
	levels := [][]levelEntry{rules, grps, {{LimitSourceDefaults, p.Defaults.Limits.Limits}}}
	for _, f := range fields {
		for _, level := range levels {
			found := false
			for _, e := range level {
				v, ok := f.get(e.limits)
				if ok && (!found || v < *f.val) {
					*f.val, *f.src, found = v, e.source, true
				}
			}
			if found {
				break
			}
		}
	}
	return out
}

type levelEntry struct {
	source string
	limits Limits
}

// checkLimits validates defaults.limits and every rule's limits.
func (p *Policy) checkLimits(root *yaml.Node, bad func(line int, format string, args ...any)) {
	dl := lookupIn(lookup(root, "defaults"), "limits")
	checkLimitValues("defaults.limits", p.Defaults.Limits.Limits, dl, bad)
	gn := lookupIn(dl, "groups")
	for g, l := range p.Defaults.Limits.Groups {
		if g == "" {
			bad(keyLine(gn, g), "defaults.limits.groups: a group name is empty")
		}
		if l.empty() {
			bad(keyLine(gn, g), "defaults.limits.groups.%s sets no limit", g)
		}
		checkLimitValues("defaults.limits.groups."+g, l, lookupIn(gn, g), bad)
	}
	rulesNode := lookup(root, "rules")
	for i, r := range p.Rules {
		if r.Limits == nil {
			continue
		}
		var rn *yaml.Node
		if rulesNode != nil && i < len(rulesNode.Content) {
			rn = rulesNode.Content[i]
		}
		ln := lookupIn(rn, "limits")
		where := fmt.Sprintf("rule %q: limits", r.ID)
		if r.Limits.empty() {
			bad(keyLine(rn, "limits"), "%s sets no limit", where)
		}
		checkLimitValues(where, *r.Limits, ln, bad)
		// Limits are resolved when a request arrives, before its SQL is
		// analyzed, so only who asks can select them.
		identity := Match{Groups: r.Match.Groups, ExceptGroups: r.Match.ExceptGroups, Emails: r.Match.Emails}
		if !reflect.DeepEqual(r.Match, identity) {
			bad(keyLine(rn, "limits"), "%s: a rule with limits may match only on groups, except_groups and emails (limits apply before the SQL is analyzed)", where)
		}
		if r.Action == ActionDeny {
			bad(keyLine(rn, "limits"), "%s: a deny rule admits nothing to limit; put limits on an allow or require_approval rule", where)
		}
	}
}

func checkLimitValues(where string, l Limits, n *yaml.Node, bad func(line int, format string, args ...any)) {
	if v := l.RequestsPerMinute; v != nil && (*v < 1 || *v > maxRequestsPerMinute) {
		bad(keyLine(n, "requests_per_minute"), "%s.requests_per_minute must be between 1 and %d (omit it to inherit)", where, maxRequestsPerMinute)
	}
	if v := l.BytesPerDay; v != nil && *v < 1 {
		bad(keyLine(n, "bytes_per_day"), "%s.bytes_per_day must be at least 1 byte (omit it to inherit)", where)
	}
	if v := l.ConcurrentSessions; v != nil && (*v < 1 || *v > maxConcurrentSessions) {
		bad(keyLine(n, "concurrent_sessions"), "%s.concurrent_sessions must be between 1 and %d (omit it to inherit)", where, maxConcurrentSessions)
	}
}
