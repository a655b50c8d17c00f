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
}

var emailText = texttemplate.Must(texttemplate.New("text").Parse(`An AI agent's query is waiting for your approval.

Requester:       {{.Requester}}
Agent:           {{.Agent}}
Session:         {{.SessionID}}
Approver group:  {{.Group}}
Estimated scan:  {{.EstimatedBytes}}
Link expires:    {{.ExpiresAt}}

Why approval is needed:
{{range .Reasons}}  - {{.}}
{{else}}  - (no reason given)
{{end}}
Prompt:
{{if .Prompt}}{{.Prompt}}{{else}}(none){{end}}

SQL:
{{.SQL}}

Approve: {{.ApproveURL}}
Deny:    {{.DenyURL}}

Each link opens a page where you confirm your decision; opening it decides nothing.
The links work once, only for {{.To}}, and only for this exact SQL.
`))

var emailHTML = htmltemplate.Must(htmltemplate.New("html").Parse(`<!doctype html>
<html><body style="font-family:Arial,Helvetica,sans-serif;color:#222;max-width:720px">
<p>An AI agent's query is waiting for your approval.</p>
<table cellpadding="4" style="border-collapse:collapse">
<tr><td><b>Requester</b></td><td>{{.Requester}}</td></tr>
<tr><td><b>Agent</b></td><td>{{.Agent}}</td></tr>
<tr><td><b>Session</b></td><td>{{.SessionID}}</td></tr>
<tr><td><b>Approver group</b></td><td>{{.Group}}</td></tr>
<tr><td><b>Estimated scan</b></td><td>{{.EstimatedBytes}}</td></tr>
<tr><td><b>Link expires</b></td><td>{{.ExpiresAt}}</td></tr>
</table>
<p><b>Why approval is needed</b></p>
<ul>{{range .Reasons}}<li>{{.}}</li>{{else}}<li>(no reason given)</li>{{end}}</ul>
<p><b>Prompt</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px">{{if .Prompt}}{{.Prompt}}{{else}}(none){{end}}</pre>
<p><b>SQL</b></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px">{{.SQL}}</pre>
<p>
<a href="{{.ApproveURL}}" style="background:#1a7f37;color:#fff;padding:10px 18px;text-decoration:none;border-radius:4px">Approve</a>
&nbsp;
<a href="{{.DenyURL}}" style="background:#b42318;color:#fff;padding:10px 18px;text-decoration:none;border-radius:4px">Deny</a>
</p>
<p style="color:#555;font-size:12px">Each link opens a page where you confirm your decision; opening it decides nothing.
The links work once, only for {{.To}}, and only for this exact SQL.</p>
</body></html>`))

func renderEmail(v emailView) (mail.Message, error) {
	var text, html strings.Builder
	if err := emailText.Execute(&text, v); err != nil {
		return mail.Message{}, err
	}
	if err := emailHTML.Execute(&html, v); err != nil {
		return mail.Message{}, err
	}
	return mail.Message{
		To:      v.To,
		Subject: "[querygate] Approval needed: query by " + v.Requester + " (session " + v.SessionID + ")",
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}
