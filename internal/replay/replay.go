// Package replay shows a recorded session as it happened: `querygate
// replay` on a terminal and the /sessions/{id} page in a browser. Both read
// the session store only, whose result pages hold masked rows, so neither
// can show a raw value.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/querygate/querygate/internal/session"
)

// Entry is one timeline event with its time relative to the session's
// creation.
type Entry struct {
	Seq    int64
	Offset time.Duration
	Type   session.EventType
	Actor  string
	// Data is the event's data as canonical JSON, or "" when it has none.
	Data string
}

// View is what a replay shows of one session.
type View struct {
	Session *session.Session
	Entries []Entry
	// BrokenAt is the first event whose hash chain does not hold, 0 when
	// the timeline is intact.
	BrokenAt int64
	Pages    []*session.Page
}

// Load reads session id and its masked pages.
func Load(ctx context.Context, st session.Store, id string) (*View, error) {
	s, err := st.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", id, err)
	}
	var pages []*session.Page
	if s.Result != nil {
		for i := 0; i < s.Result.Pages; i++ {
			p, err := st.GetPage(ctx, id, i)
			if err != nil {
				return nil, fmt.Errorf("replay %s: page %d: %w", id, i, err)
			}
			pages = append(pages, p)
		}
	}
	return NewView(s, pages)
}

// NewView builds the view of session s with its masked pages, read from a
// store (Load) or from the sessions API (`querygate replay` over the API).
// It checks the timeline's hash chain.
func NewView(s *session.Session, pages []*session.Page) (*View, error) {
	v := &View{Session: s, BrokenAt: s.VerifyChain(), Pages: pages}
	start := s.CreatedAt
	if len(s.Timeline) > 0 && (start.IsZero() || s.Timeline[0].Time.Before(start)) {
		start = s.Timeline[0].Time
	}
	for _, e := range s.Timeline {
		ent := Entry{Seq: e.Seq, Offset: e.Time.Sub(start), Type: e.Type, Actor: e.Actor}
		if len(e.Data) > 0 {
			b, err := json.Marshal(e.Data)
			if err != nil {
				return nil, fmt.Errorf("replay %s: event %d: %w", s.ID, e.Seq, err)
			}
			ent.Data = string(b)
		}
		v.Entries = append(v.Entries, ent)
	}
	return v, nil
}

// Rows returns the stored pages' rows of session id exactly as stored, in
// page order: the bytes the agent received.
func Rows(ctx context.Context, st session.Store, id string) ([]json.RawMessage, error) {
	v, err := Load(ctx, st, id)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, len(v.Pages))
	for i, p := range v.Pages {
		out[i] = p.Rows
	}
	return out, nil
}

// Run is `querygate replay <session_id>` (sessionID set) and `querygate
// replay --conversation <id>` (conversationID set): it prints each session
// to w, a conversation's oldest first. Exactly one of the two ids must be
// given.
func Run(ctx context.Context, st session.Store, sessionID, conversationID string, w io.Writer) error {
	switch {
	case sessionID == "" && conversationID == "":
		return errors.New("replay: give a session id or --conversation")
	case sessionID != "" && conversationID != "":
		return errors.New("replay: give a session id or --conversation, not both")
	case sessionID != "":
		v, err := Load(ctx, st, sessionID)
		if err != nil {
			return err
		}
		return WriteText(w, v, 0)
	}
	var ids []string
	var first time.Time
	tok := ""
	for {
		res, err := st.List(ctx, session.ListQuery{ConversationID: conversationID, PageSize: 200, PageToken: tok})
		if err != nil {
			return fmt.Errorf("replay conversation %s: %w", conversationID, err)
		}
		for _, s := range res.Sessions {
			ids = append(ids, s.ID)
			first = s.CreatedAt // newest first, so the last one is the oldest
		}
		if res.NextPageToken == "" {
			break
		}
		tok = res.NextPageToken
	}
	if len(ids) == 0 {
		return fmt.Errorf("replay conversation %s: %w", conversationID, session.ErrNotFound)
	}
	slices.Reverse(ids)
	fmt.Fprintf(w, "conversation %s: %d sessions\n", conversationID, len(ids))
	for _, id := range ids {
		v, err := Load(ctx, st, id)
		if err != nil {
			return err
		}
		fmt.Fprintln(w)
		if err := WriteText(w, v, v.Session.CreatedAt.Sub(first)); err != nil {
			return err
		}
	}
	return nil
}

// WriteText prints v; offset is the session's start relative to its
// conversation's first session (0 for a single session). Page rows are
// printed exactly as stored, one page per line between "--- page" lines.
func WriteText(w io.Writer, v *View, offset time.Duration) error {
	s := v.Session
	b := &strings.Builder{}
	fmt.Fprintf(b, "session %s", s.ID)
	if s.ConversationID != "" {
		fmt.Fprintf(b, " (conversation %s, +%s)", s.ConversationID, offset)
	}
	fmt.Fprintf(b, "\nstatus:     %s\n", s.Status)
	fmt.Fprintf(b, "principal:  %s\n", principal(s.Principal))
	if s.Agent.Name != "" || s.Agent.Model != "" {
		fmt.Fprintf(b, "agent:      %s %s (declared by the agent)\n", clean(s.Agent.Name), clean(s.Agent.Model))
	}
	fmt.Fprintf(b, "created:    %s\n", s.CreatedAt.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(b, "prompt:\n%s\n", indent(s.Prompt))
	fmt.Fprintf(b, "sql (sha256 %s):\n%s\n", s.SQLSHA256, indent(s.SQL))
	if d := s.Decision; d != nil {
		fmt.Fprintf(b, "decision:   %s", d.Action)
		if len(d.RuleIDs) > 0 {
			fmt.Fprintf(b, " (rules %s)", strings.Join(d.RuleIDs, ", "))
		}
		fmt.Fprintln(b)
		for _, r := range d.Reasons {
			fmt.Fprintf(b, "  reason:   %s\n", clean(r))
		}
		if len(d.MaskedColumns) > 0 {
			fmt.Fprintf(b, "  masked:   %s\n", strings.Join(d.MaskedColumns, ", "))
		}
		writeDecisionColumns(b, d)
	}
	if a := s.Approval; a != nil {
		fmt.Fprintf(b, "approval:   %s", orDash(a.Decision))
		if a.DecidedBy != "" {
			fmt.Fprintf(b, " by %s at +%s", clean(a.DecidedBy), a.DecidedAt.Sub(s.CreatedAt))
		}
		fmt.Fprintf(b, " (group %s, requested at +%s)\n", orDash(a.Group), a.RequestedAt.Sub(s.CreatedAt))
		if a.Comment != "" {
			fmt.Fprintf(b, "  comment:  %s\n", clean(a.Comment))
		}
	}
	if x := s.Execution; x != nil {
		fmt.Fprintf(b, "execution:  job %s, %d bytes processed, %d rows", orDash(x.JobID), x.BytesProcessed, x.TotalRows)
		if !x.StartedAt.IsZero() && !x.FinishedAt.IsZero() {
			fmt.Fprintf(b, ", ran %s", x.FinishedAt.Sub(x.StartedAt))
		}
		fmt.Fprintln(b)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(b, "error:      %s: %s\n", e.Step, clean(e.Message))
	}
	fmt.Fprintln(b, "timeline:")
	for _, e := range v.Entries {
		fmt.Fprintf(b, "  +%-10s %-22s %-24s %s\n", e.Offset, e.Type, orDash(clean(e.Actor)), e.Data)
	}
	if v.BrokenAt != 0 {
		fmt.Fprintf(b, "WARNING: the timeline's hash chain is broken at event %d\n", v.BrokenAt)
	} else {
		fmt.Fprintln(b, "timeline hash chain intact")
	}
	if r := s.Result; r != nil {
		fmt.Fprintf(b, "result:     %d rows, %d stored in %d pages", r.TotalRows, r.StoredRows, r.Pages)
		if r.Truncated {
			fmt.Fprint(b, " (truncated by the storage cap)")
		}
		fmt.Fprintln(b)
		if len(r.MaskedColumns) > 0 {
			fmt.Fprintf(b, "  masked:   %s\n", strings.Join(r.MaskedColumns, ", "))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	for _, p := range v.Pages {
		if _, err := fmt.Fprintf(w, "--- page %d (%d rows)\n", p.Index, p.Count); err != nil {
			return err
		}
		if _, err := w.Write(p.Rows); err != nil {
			return err
		}
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
	}
	return nil
}

func principal(p session.Principal) string {
	id := p.Issuer + " " + p.Subject
	if p.Email != "" {
		return clean(p.Email + " (" + id + ")")
	}
	return clean(id)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func indent(s string) string {
	if s == "" {
		return "  -"
	}
	return "  " + strings.ReplaceAll(clean(s), "\n", "\n  ")
}

// clean escapes control characters other than newline and tab: prompts,
// SQL and actors come from agents, and a terminal must not run their escape
// sequences.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return unicode.ReplacementChar
	}, s)
}
