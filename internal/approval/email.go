package approval

import (
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/querygate/querygate/internal/mail"
)

type emailView struct {
	details
	To         string
	ApproveURL string
	DenyURL    string
	// Reminder marks the one reminder sent at half the approval window
	// (remind.go).
	Reminder bool
}

// The text mail puts what runs first, between fixed markers, and agent
// text last. Every line an agent wrote is indented behind "  | " (what
// runs) or "  > " (what the agent says), while the mail's own lines start
// at the margin, so no SQL, parameter or prompt line can pass for a
// section marker, a header or a link line.
var emailText = texttemplate.Must(texttemplate.New("text").Funcs(texttemplate.FuncMap{"quote": quote}).Parse(
	`{{if .Reminder}}Reminder: an AI agent's query is still waiting for your approval; half of its approval window has passed.{{else}}An AI agent's query is waiting for your approval.{{end}}

==================== WHAT WILL RUN ====================
Default dataset:
{{if .DefaultDataset}}{{quote "  | " .DefaultDataset}}{{else}}  (none){{end}}
Parameters:
{{range .Parameters}}{{quote "  | " .}}
{{else}}  (none)
{{end}}SQL:
{{quote "  | " .SQL}}
================= END OF WHAT WILL RUN ================

Requester:       {{.Requester}}
Session:         {{.SessionID}}
Approver group:  {{.Group}}
{{if .Quorum}}Needs:           {{.Quorum}}
Progress:        {{.Progress}}
{{end}}Estimated scan:  {{.EstimatedBytes}}
Link expires:    {{.ExpiresAt}}

Why approval is needed:
{{range .Reasons}}  - {{.}}
{{else}}  - (no reason given)
{{end}}
Approve: {{.ApproveURL}}
Deny:    {{.DenyURL}}

Each link opens a page where you confirm your decision; opening it decides nothing.
The links work once, only for {{.To}}, and only for this exact SQL, default dataset and parameters.

------- Written by the agent (not verified, quoted) -------
Agent:
{{quote "  > " .Agent}}
Justification:
{{if .Justification}}{{quote "  > " .Justification}}{{else}}  (none){{end}}
Prompt:
{{if .Prompt}}{{quote "  > " .Prompt}}{{else}}  (none){{end}}
------------------- End of agent text -------------------
`))

var emailHTML = htmltemplate.Must(htmltemplate.New("html").Parse(`<!doctype html>
<html><body style="font-family:Arial,Helvetica,sans-serif;color:#222;max-width:720px">
<p>{{if .Reminder}}<b>Reminder:</b> an AI agent's query is still waiting for your approval; half of its approval window has passed.{{else}}An AI agent's query is waiting for your approval.{{end}}</p>
<div style="border:2px solid #1f2328;padding:8px 12px;margin:12px 0">
<p style="margin:0 0 6px"><b>What will run</b></p>
<p style="margin:6px 0 2px"><b>Default dataset</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{if .DefaultDataset}}{{.DefaultDataset}}{{else}}(none){{end}}</pre>
<p style="margin:6px 0 2px"><b>Parameters</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{range .Parameters}}{{.}}
{{else}}(none){{end}}</pre>
<p style="margin:6px 0 2px"><b>SQL</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{.SQL}}</pre>
</div>
<table cellpadding="4" style="border-collapse:collapse">
<tr><td><b>Requester</b></td><td>{{.Requester}}</td></tr>
<tr><td><b>Session</b></td><td>{{.SessionID}}</td></tr>
<tr><td><b>Approver group</b></td><td>{{.Group}}</td></tr>
{{if .Quorum}}<tr><td><b>Needs</b></td><td>{{.Quorum}}</td></tr>
<tr><td><b>Progress</b></td><td>{{.Progress}}</td></tr>
{{end}}<tr><td><b>Estimated scan</b></td><td>{{.EstimatedBytes}}</td></tr>
<tr><td><b>Link expires</b></td><td>{{.ExpiresAt}}</td></tr>
</table>
<p><b>Why approval is needed</b></p>
<ul>{{range .Reasons}}<li>{{.}}</li>{{else}}<li>(no reason given)</li>{{end}}</ul>
<p>
<a href="{{.ApproveURL}}" style="background:#1a7f37;color:#fff;padding:10px 18px;text-decoration:none;border-radius:4px">Approve</a>
&nbsp;
<a href="{{.DenyURL}}" style="background:#b42318;color:#fff;padding:10px 18px;text-decoration:none;border-radius:4px">Deny</a>
</p>
<p style="color:#555;font-size:12px">Each link opens a page where you confirm your decision; opening it decides nothing.
The links work once, only for {{.To}}, and only for this exact SQL, default dataset and parameters.</p>
<div style="border:1px dashed #888;padding:8px 12px;margin:12px 0;color:#444">
<p style="margin:0 0 6px"><b>Written by the agent</b> (not verified)</p>
<p style="margin:6px 0 2px"><b>Agent</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{.Agent}}</pre>
<p style="margin:6px 0 2px"><b>Justification</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{if .Justification}}{{.Justification}}{{else}}(none){{end}}</pre>
<p style="margin:6px 0 2px"><b>Prompt</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">{{if .Prompt}}{{.Prompt}}{{else}}(none){{end}}</pre>
</div>
</body></html>`))

func renderEmail(v emailView) (mail.Message, error) {
	subject := "[querygate] Approval needed: query by "
	if v.Reminder {
		subject = "[querygate] Reminder: approval needed: query by "
	}
	return renderMail(v.To, subject+v.Requester+" (session "+v.SessionID+")", emailText, emailHTML, v)
}

// renderMail renders one mail's text and HTML parts from their templates.
func renderMail(to, subject string, text *texttemplate.Template, html *htmltemplate.Template, v any) (mail.Message, error) {
	var tb, hb strings.Builder
	if err := text.Execute(&tb, v); err != nil {
		return mail.Message{}, err
	}
	if err := html.Execute(&hb, v); err != nil {
		return mail.Message{}, err
	}
	return mail.Message{To: to, Subject: subject, Text: tb.String(), HTML: hb.String()}, nil
}
