package warehouse

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/session"
)

func TestScrub(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Bad int64 value: 123-45-6789", "Bad int64 value: …"},
		{"Could not cast literal '4111 1111 1111 1111' to type DATE", "Could not cast literal … to type DATE"},
		{"Unrecognized name: emial at [1:8]", "Unrecognized name: emial at [1:8]"},
		{"Table `querygate-local.demo.custmers` was not found", "Table `querygate-local.demo.custmers` was not found"},
		{"mail alice.smith@example.com rejected", "mail … rejected"},
	} {
		if got := Scrub(tc.in); got != tc.want {
			t.Errorf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzScrub(f *testing.F) {
	f.Add("Bad int64 value: 123-45-6789")
	f.Add("x 'y' \"z\" `w`")
	f.Fuzz(func(t *testing.T, s string) {
		out := Scrub(s)
		// A run of 3+ digits never survives outside backticks.
		if !strings.Contains(s, "`") {
			run := 0
			for _, r := range out {
				if r >= '0' && r <= '9' {
					run++
					if run >= 3 {
						t.Fatalf("Scrub(%q) = %q keeps a digit run", s, out)
					}
				} else {
					run = 0
				}
			}
		}
	})
}

func TestJobTime(t *testing.T) {
	t.Parallel()
	// What the client decodes: it reads the field as Unix milliseconds.
	decoded := func(field int64) time.Time { return time.Unix(0, field*1e6) }
	for _, tc := range []struct {
		name string
		in   time.Time
		want time.Time
	}{
		// The emulator sends seconds: 1796190680 s is 2026-12-02T05:51:20Z,
		// which the client turns into 1970-01-21T18:56:30.68Z.
		{"seconds", decoded(1796190680), time.Date(2026, 12, 2, 5, 51, 20, 0, time.UTC)},
		// BigQuery sends milliseconds, which are kept to the millisecond.
		{"milliseconds", decoded(1796190680123), time.Date(2026, 12, 2, 5, 51, 20, 123e6, time.UTC)},
		{"zero", time.Time{}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := jobTime(tc.in)
			if !got.Equal(tc.want) {
				t.Errorf("jobTime(%s) = %s, want %s", tc.in.UTC().Format(time.RFC3339Nano), got.UTC().Format(time.RFC3339Nano), tc.want.Format(time.RFC3339Nano))
			}
		})
	}
}

func TestParameters(t *testing.T) {
	t.Parallel()
	ps, err := Parameters([]session.Parameter{
		{Name: "a", Type: "INT64", Value: json.RawMessage(`42`)},
		{Name: "b", Type: "STRING", Value: json.RawMessage(`"x"`)},
		{Name: "c", Type: "BOOL", Value: json.RawMessage(`true`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Value != int64(42) || ps[1].Value != "x" || ps[2].Value != true {
		t.Errorf("params = %+v", ps)
	}
	for _, bad := range []session.Parameter{
		{Name: "a", Type: "INT64", Value: json.RawMessage(`"42x"`)},
		{Name: "a", Type: "INT64", Value: json.RawMessage(`4.5`)},
		{Name: "b", Type: "GEOGRAPHY", Value: json.RawMessage(`"x"`)},
		{Name: "c", Type: "BOOL", Value: json.RawMessage(`1`)},
	} {
		if _, err := Parameters([]session.Parameter{bad}); err == nil || strings.Contains(err.Error(), string(bad.Value)) {
			t.Errorf("Parameters(%+v) err = %v, want an error without the value", bad, err)
		}
	}
}

func TestSafeMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Unrecognized name: emial at [1:8]", "Unrecognized name: emial at [1:8]"},
		{"Syntax error: Expected end of input but got keyword FROM at [1:10]", "Syntax error: Expected end of input but got keyword FROM at [1:10]"},
		{"failed to analyze: INVALID_ARGUMENT: Unrecognized name: emial; Did you mean email? [at 1:8]", "Unrecognized name: emial; Did you mean email? [at 1:8]"},
		{"no match for Alice Garcia 12 Maple St", "the query failed while running; BigQuery's message is withheld because run-time errors can quote data values"},
		{"failed to scan rows: no match for Alice Garcia", "the query failed while running; BigQuery's message is withheld because run-time errors can quote data values"},
		{"Bad int64 value: Alice", "the query failed while running; BigQuery's message is withheld because run-time errors can quote data values"},
	} {
		if got := SafeMessage(tc.in); got != tc.want {
			t.Errorf("SafeMessage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
