package policy

import (
	"bytes"
	"fmt"
	"time"
)

// LimitLine is one limit of the principal in a CheckReport: its value,
// where it is set and, when `policy check` was given a session store, its
// current use.
type LimitLine struct {
	Name   string `json:"name"`
	Limit  int64  `json:"limit"`
	Source string `json:"source"`
	// Used and ResetsAt are set when the counters were read.
	Used     *int64     `json:"used,omitempty"`
	ResetsAt *time.Time `json:"resets_at,omitempty"`
}

// CheckOption adds to the report of RunCheck.
type CheckOption func(*CheckReport)

// WithLimits adds the principal's limits to the report.
func WithLimits(lines []LimitLine) CheckOption {
	return func(r *CheckReport) { r.Limits = lines }
}

// ConfiguredLimits lists the limits of e that are set, without use.
func ConfiguredLimits(e EffectiveLimits) []LimitLine {
	var out []LimitLine
	add := func(name string, v int64, src string) {
		if v > 0 {
			out = append(out, LimitLine{Name: name, Limit: v, Source: src})
		}
	}
	add("requests_per_minute", e.RequestsPerMinute, e.RequestsPerMinuteSource)
	add("bytes_per_day", e.BytesPerDay, e.BytesPerDaySource)
	add("concurrent_sessions", e.ConcurrentSessions, e.ConcurrentSessionsSource)
	return out
}

func writeLimits(b *bytes.Buffer, lines []LimitLine) {
	if len(lines) == 0 {
		return
	}
	b.WriteString("limits:\n")
	for _, l := range lines {
		fmt.Fprintf(b, "  %s: %d (%s)", l.Name, l.Limit, l.Source)
		if l.Used != nil {
			fmt.Fprintf(b, ", used %d", *l.Used)
		}
		if l.ResetsAt != nil {
			fmt.Fprintf(b, ", resets at %s", l.ResetsAt.UTC().Format(time.RFC3339))
		}
		b.WriteString("\n")
	}
}
