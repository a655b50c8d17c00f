package intake

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/session"
)

func TestJustificationField(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", session.MaxJustificationBytes+1)
	tests := []struct {
		name, body string
		want       string // cleaned justification
		bg         bool
		err        string
	}{
		{"absent", `{"sql":"SELECT 1"}`, "", false, ""},
		{"kept", `{"sql":"SELECT 1","justification":"incident 4711"}`, "incident 4711", false, ""},
		{"controls stripped", `{"sql":"SELECT 1","justification":" line one\r\nline\ttwo\u202e\u200b\u0007 end "}`, "line one line two end", false, ""},
		{"break-glass", `{"sql":"SELECT 1","justification":"pager 9","break_glass":true}`, "pager 9", true, ""},
		{"break-glass without justification", `{"sql":"SELECT 1","break_glass":true}`, "", false,
			`break_glass needs a justification: add "justification"`},
		{"break-glass with only controls", `{"sql":"SELECT 1","break_glass":true,"justification":"\u200b\n"}`, "", false, "break_glass needs a justification"},
		{"too long", `{"sql":"SELECT 1","justification":"` + long + `"}`, "", false, "justification is longer than 1000 bytes"},
		{"not a bool", `{"sql":"SELECT 1","break_glass":"yes"}`, "", false, `field "break_glass" must be a boolean`},
		{"not a string", `{"sql":"SELECT 1","justification":7}`, "", false, `field "justification" must be a string`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := DecodeQueryRequest([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("DecodeQueryRequest error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Justification != tc.want || req.BreakGlass != tc.bg {
				t.Errorf("justification %q break_glass %v, want %q %v", req.Justification, req.BreakGlass, tc.want, tc.bg)
			}
		})
	}
}

func TestJustificationMessage(t *testing.T) {
	t.Parallel()
	sess := &session.Session{ID: "qs_1", Status: session.StatusDenied, Decision: &session.Decision{Action: "deny",
		RuleIDs: []string{"r", "builtin.justification_required"},
		Reasons: []string{"held", "Rule r holds this query for approval and requires a justification: resend it."},
		Justify: session.Justify{MissingJustification: true}}}
	if !MissingJustification(sess) {
		t.Fatal("MissingJustification = false")
	}
	want := "Rule r holds this query for approval and requires a justification: resend it. To send one, add the field \"justification\" (at most 1000 bytes); nothing ran. [session qs_1]"
	if got := JustificationMessage(sess, `add the field "justification"`); got != want {
		t.Errorf("JustificationMessage =\n%s\nwant\n%s", got, want)
	}
	sess.Decision.MissingJustification = false
	if MissingJustification(sess) {
		t.Error("MissingJustification of an ordinary denial = true")
	}
}

// FuzzCleanJustification: the cleaned justification is valid UTF-8, one
// line, without control or format characters or surrounding space, and
// cleaning it again changes nothing.
func FuzzCleanJustification(f *testing.F) {
	f.Add("incident 4711")
	f.Add(" a\r\nb\t\u202e\u200bc\u2028d\x00\xff ")
	f.Fuzz(func(t *testing.T, s string) {
		got := CleanJustification(s)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 in %q", got)
		}
		for _, c := range got {
			if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == '\u2028' || c == '\u2029' {
				t.Fatalf("U+%04X survived in %q", c, got)
			}
		}
		if strings.TrimSpace(got) != got || strings.Contains(got, "  ") {
			t.Fatalf("white space not collapsed: %q", got)
		}
		if again := CleanJustification(got); again != got {
			t.Fatalf("not idempotent: %q then %q", got, again)
		}
	})
}
