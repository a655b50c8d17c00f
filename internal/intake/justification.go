package intake

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/session"
)

// CleanJustification makes the agent's justification, untrusted text
// shown to approvers in mail and on the approval page, a single line:
// line breaks and tabs become spaces, every other control or invisible
// format character (Unicode Cc and Cf: bidi controls, zero-width
// characters) is removed, and runs of white space collapse to one space.
// Invalid UTF-8 is replaced, never passed on. The caller bounds the
// length of the result (session.MaxJustificationBytes).
func CleanJustification(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range s {
		switch {
		case c == '\n' || c == '\r' || c == '\t' || c == '\u2028' || c == '\u2029' || c == '\u0085':
			b.WriteByte(' ')
		case unicode.IsControl(c) || unicode.Is(unicode.Cf, c):
		default:
			b.WriteRune(c)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// checkJustification cleans r.Justification in place and checks it and
// the break-glass declaration.
func (r *QueryRequest) checkJustification() error {
	r.Justification = CleanJustification(r.Justification)
	switch {
	case len(r.Justification) > session.MaxJustificationBytes:
		return bad("justification is longer than %d bytes; say in one or two sentences why the query is needed", session.MaxJustificationBytes)
	case !utf8.ValidString(r.Justification):
		return bad("justification must be valid UTF-8")
	case r.BreakGlass && r.Justification == "":
		return bad("break_glass needs a justification: add \"justification\" saying why the query cannot wait for approval")
	}
	return nil
}

// MissingJustification reports whether sess was denied only because it
// needed a justification and had none: the caller's to fix by resending,
// so the front doors answer it as a bad request (400), not a denial.
func MissingJustification(sess *session.Session) bool {
	return sess.Status == session.StatusDenied && sess.Decision != nil && sess.Decision.MissingJustification
}

// JustificationMessage is the answer to a request MissingJustification
// holds: the policy's reason, then how to add the justification through
// the caller's front door (how, e.g. `add the field "justification"`).
func JustificationMessage(sess *session.Session, how string) string {
	msg := "a justification is required"
	if sess.Decision != nil && len(sess.Decision.Reasons) > 0 {
		msg = sess.Decision.Reasons[len(sess.Decision.Reasons)-1]
	}
	return msg + " To send one, " + how + " (at most " + strconv.Itoa(session.MaxJustificationBytes) + " bytes); nothing ran. [session " + sess.ID + "]"
}
