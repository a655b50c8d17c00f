package approval

import (
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/session"
)

// How far back ReviewBreakGlass looks for break-glass runs, and how many
// sessions it reads at most per sweep. A sweep runs every few minutes, so
// a run is found many times over within the window; the approval store's
// mark keeps it to one mail. Each sweep lists the window's sessions (no
// timelines), so the window is short: an hour of sessions, at most 1000,
// per sweep. A run older than that when the sweep first sees it (a sweep
// outage of over an hour, or more than 1000 sessions an hour) is not
// mailed; its policy.break_glass event is in the audit table regardless.
const (
	reviewWindow   = time.Hour
	reviewPageSize = 100
	reviewMaxPages = 10
)

// ReviewBreakGlass mails the approvers of every break-glass run that has
// ended (policy decision BreakGlass, session terminal) within the review
// window a review mail: who ran what under break-glass, and why. Each run
// is mailed once across instances: a review request in the approval store
// (closed at once, so it never waits for anyone) carries
// MarkBreakGlassReview, claimed before mailing. The approvers become
// readers of the session, so its link opens for them. It returns how many
// runs it mailed.
func (s *Service) ReviewBreakGlass(ctx context.Context) (int, error) {
	now := s.now().UTC()
	since := now.Add(-reviewWindow)
	sent := 0
	var errs []error
	token := ""
	for range reviewMaxPages {
		res, err := s.deps.Store.List(ctx, session.ListQuery{PageSize: reviewPageSize, PageToken: token})
		if err != nil {
			return sent, errors.Join(append(errs, fmt.Errorf("list sessions: %w", err))...)
		}
		for _, ls := range res.Sessions {
			if ls.CreatedAt.Before(since) {
				return sent, errors.Join(errs...)
			}
			if ls.Decision == nil || !ls.Decision.BreakGlass || !ls.Status.Terminal() {
				continue
			}
			ok, err := s.reviewOne(ctx, ls.ID, now)
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				sent++
			}
		}
		if token = res.NextPageToken; token == "" {
			break
		}
	}
	return sent, errors.Join(errs...)
}

// reviewOne claims and sends the review mail of one break-glass session.
func (s *Service) reviewOne(ctx context.Context, id string, now time.Time) (bool, error) {
	if r, err := s.deps.State.Get(ctx, id); err == nil && !r.DeliveredAt.IsZero() {
		return false, nil // reviewed already
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("get review request: %w", err)
	}
	ss, err := s.deps.Store.Get(ctx, id)
	if err != nil {
		return false, fmt.Errorf("get session: %w", err)
	}
	// The review request outlives the window, so a later sweep finds it
	// (and its mark) rather than making a new one.
	exp := ss.CreatedAt.Add(reviewWindow + time.Hour).Truncate(time.Second)
	if _, err := s.deps.State.Begin(ctx, Request{SessionID: id, ExpiresAt: exp, CreatedAt: now}); err != nil {
		return false, fmt.Errorf("store review request: %w", err)
	}
	won, err := s.deps.State.Claim(ctx, id, MarkBreakGlassReview, now)
	if err != nil {
		return false, fmt.Errorf("claim review: %w", err)
	}
	// Delivered: nothing waits on a review, so the request stays out of
	// Open (the waiting lists, the reminders).
	if err := s.deps.State.MarkDelivered(ctx, id, now); err != nil {
		return false, fmt.Errorf("close review request: %w", err)
	}
	if !won {
		return false, nil
	}
	approvers, _, err := s.approvers(ctx, ss)
	if err != nil {
		return false, fmt.Errorf("break-glass review of %s: %w", id, err)
	}
	if _, err := s.deps.Store.Update(ctx, id, func(x *session.Session) error {
		for _, a := range approvers {
			if !slices.Contains(x.Readers, a) {
				x.Readers = append(x.Readers, a)
			}
		}
		return nil
	}); err != nil {
		return false, fmt.Errorf("let reviewers read %s: %w", id, err)
	}
	for _, a := range approvers {
		msg, err := renderReview(reviewView{details: newDetails(ss, ss.CreatedAt), To: a,
			Groups: visibleLine(strings.Join(ss.Decision.BreakGlassGroups, ", ")), Status: string(ss.Status),
			SessionURL: strings.TrimSuffix(s.cfg.PublicBaseURL, "/") + "/sessions/" + ss.ID})
		if err == nil {
			err = s.deps.Mailer.Send(ctx, msg)
		}
		if err != nil {
			slog.ErrorContext(ctx, "break-glass review mail failed", "session_id", id, "error", err.Error())
		}
	}
	slog.InfoContext(ctx, "break-glass review mailed", "session_id", id, "approvers", len(approvers))
	return true, nil
}

type reviewView struct {
	details
	To         string
	Groups     string
	Status     string
	SessionURL string
}

// The review mail keeps the approval mail's structure: what ran between
// markers, the agent's text quoted, last.
var reviewText = texttemplate.Must(texttemplate.New("review").Funcs(texttemplate.FuncMap{"quote": quote}).Parse(
	`A query was run under break-glass by {{.Requester}}, without waiting for approval. Please review it.

==================== WHAT RAN ====================
Default dataset:
{{if .DefaultDataset}}{{quote "  | " .DefaultDataset}}{{else}}  (none){{end}}
Parameters:
{{range .Parameters}}{{quote "  | " .}}
{{else}}  (none)
{{end}}SQL:
{{quote "  | " .SQL}}
================= END OF WHAT RAN ================

Run by:            {{.Requester}}
Break-glass group: {{.Groups}}
Session:           {{.SessionID}}
Outcome:           {{.Status}}
Approver group:    {{.Group}}

Rules it would have waited for:
{{range .Reasons}}  - {{.}}
{{else}}  - (no reason given)
{{end}}
Review: {{.SessionURL}}

------- Written by the agent (not verified, quoted) -------
Justification:
{{quote "  > " .Justification}}
Agent:
{{quote "  > " .Agent}}
Prompt:
{{if .Prompt}}{{quote "  > " .Prompt}}{{else}}  (none){{end}}
------------------- End of agent text -------------------
`))

var reviewHTML = htmltemplate.Must(htmltemplate.New("review").Parse(`<!doctype html>
<html><body style="font-family:Arial,Helvetica,sans-serif;color:#222;max-width:720px">
<p>A query was run <b>under break-glass</b> by {{.Requester}}, without waiting for approval. Please review it.</p>
<div style="border:2px solid #1f2328;padding:8px 12px;margin:12px 0">
<p style="margin:0 0 6px"><b>What ran</b></p>
<p style="margin:6px 0 2px"><b>Default dataset</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{if .DefaultDataset}}{{.DefaultDataset}}{{else}}(none){{end}}</pre>
<p style="margin:6px 0 2px"><b>Parameters</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{range .Parameters}}{{.}}
{{else}}(none){{end}}</pre>
<p style="margin:6px 0 2px"><b>SQL</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{.SQL}}</pre>
</div>
<table cellpadding="4" style="border-collapse:collapse">
<tr><td><b>Run by</b></td><td>{{.Requester}}</td></tr>
<tr><td><b>Break-glass group</b></td><td>{{.Groups}}</td></tr>
<tr><td><b>Session</b></td><td>{{.SessionID}}</td></tr>
<tr><td><b>Outcome</b></td><td>{{.Status}}</td></tr>
<tr><td><b>Approver group</b></td><td>{{.Group}}</td></tr>
</table>
<p><b>Rules it would have waited for</b></p>
<ul>{{range .Reasons}}<li>{{.}}</li>{{else}}<li>(no reason given)</li>{{end}}</ul>
<p><a href="{{.SessionURL}}">Review the session</a></p>
<div style="border:1px dashed #888;padding:8px 12px;margin:12px 0;color:#444">
<p style="margin:0 0 6px"><b>Written by the agent</b> (not verified)</p>
<p style="margin:6px 0 2px"><b>Justification</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{.Justification}}</pre>
<p style="margin:6px 0 2px"><b>Agent</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{.Agent}}</pre>
<p style="margin:6px 0 2px"><b>Prompt</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{if .Prompt}}{{.Prompt}}{{else}}(none){{end}}</pre>
</div>
</body></html>`))

func renderReview(v reviewView) (mail.Message, error) {
	return renderMail(v.To, "[querygate] Review: query run under break-glass by "+v.Requester+" (session "+v.SessionID+")", reviewText, reviewHTML, v)
}
