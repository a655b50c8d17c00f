package approval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/querygate/querygate/internal/session"
)

// details is what the mail and the page show about a held query. Every
// string in it has passed through visibleLine or visibleBlock, so nothing
// an agent wrote can hide, reorder or forge text on the approver's screen.
type details struct {
	SessionID      string
	Requester      string
	Agent          string
	Prompt         string
	SQL            string
	DefaultDataset string
	// Parameters are rendered "@name TYPE = value", one a line.
	Parameters     []string
	Reasons        []string
	Group          string
	EstimatedBytes string
	ExpiresAt      string
	// Quorum and Progress are set when more than one approval or group
	// is needed: "2 distinct approvers", "1 of 2 approvals: a@x.com".
	Quorum   string
	Progress string
	// Justification is the agent's stated reason for the query (issue 15),
	// empty when it gave none.
	Justification string
}

func newDetails(ss *session.Session, expires time.Time) details {
	d := details{
		SessionID:      visibleLine(ss.ID),
		Requester:      visibleLine(ss.Principal.Email),
		Prompt:         visibleBlock(ss.Prompt),
		Justification:  visibleLine(ss.Justification),
		SQL:            visibleBlock(ss.SQL),
		DefaultDataset: visibleLine(ss.DefaultDataset),
		ExpiresAt:      expires.UTC().Format("2006-01-02 15:04 MST"),
	}
	if d.Requester == "" {
		d.Requester = visibleLine(ss.Principal.Subject)
	}
	switch {
	case ss.Agent.Name != "" && ss.Agent.Model != "":
		d.Agent = visibleLine(ss.Agent.Name) + " (" + visibleLine(ss.Agent.Model) + ")"
	case ss.Agent.Name != "":
		d.Agent = visibleLine(ss.Agent.Name)
	case ss.Agent.Model != "":
		d.Agent = visibleLine(ss.Agent.Model)
	default:
		d.Agent = "(not declared)"
	}
	for _, p := range ss.Parameters {
		d.Parameters = append(d.Parameters, paramLine(p))
	}
	if ss.Decision != nil {
		for _, r := range ss.Decision.Reasons {
			d.Reasons = append(d.Reasons, visibleLine(r))
		}
		d.Group = visibleLine(ss.Decision.ApproverGroup)
		d.EstimatedBytes = humanBytes(ss.Decision.EstimatedBytes)
	} else {
		d.EstimatedBytes = humanBytes(0)
	}
	if ap := ss.Approval; ap != nil {
		if ap.Group != "" {
			d.Group = visibleLine(ap.Group)
		}
		if len(ap.Groups) > 1 {
			d.Group = visibleLine(strings.Join(ap.Groups, ", "))
		}
		if ap.MinApprovals > 1 || ap.AllGroupsMustApprove {
			d.Quorum = visibleLine(requirement(ap))
			d.Progress = visibleLine(quorumOf(ap).String())
		}
	}
	return d
}

// paramLine renders one parameter on one line. The value is compact JSON,
// so a string value's line breaks show as \n.
func paramLine(p session.Parameter) string {
	var v bytes.Buffer
	if err := json.Compact(&v, p.Value); err != nil {
		v.Reset()
		raw, _ := json.Marshal(string(p.Value))
		v.Write(raw)
	}
	typ := p.Type
	if typ == "" {
		typ = "(type not given)"
	}
	return visibleLine("@"+p.Name) + " " + visibleLine(typ) + " = " + visibleLine(v.String())
}

// hidden reports whether c would be invisible or change how the text
// around it is shown: control characters, format characters (bidi
// controls, zero-width characters), line and paragraph separators.
func hidden(c rune) bool {
	return unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == '\u2028' || c == '\u2029'
}

// visibleLine shows every hidden character, line breaks included, as
// <U+XXXX>, so the value stays on one line and shows what it holds.
func visibleLine(s string) string { return visible(s, false) }

// visibleBlock is visibleLine for multi-line text: LF and tab stay, CR
// and every other hidden character become <U+XXXX>.
func visibleBlock(s string) string { return visible(s, true) }

func visible(s string, block bool) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case block && (c == '\n' || c == '\t'):
			b.WriteRune(c)
		case c == unicode.ReplacementChar || hidden(c):
			fmt.Fprintf(&b, "<U+%04X>", c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// quote prefixes every line of s with prefix, so that no line of agent
// text starts where the mail's own structure (section markers, links)
// does.
func quote(prefix, s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// humanBytes renders n as "1.5 GiB (1610612736 bytes)".
func humanBytes(n int64) string {
	if n <= 0 {
		return "unknown"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", float64(n)/float64(div), "KMGTPE"[exp], n)
}
