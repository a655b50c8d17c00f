package approval

import (
	"html/template"
	"net/http"
)

// pageHeaders are set on every approval page: no framing, no scripts, no
// outside resources, forms only to this origin, no caching, and no Referer
// that would leak the token in the URL.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

type pageView struct {
	details
	Approver   string
	Decision   string // the link's decision, the only one its form can post
	Action     string
	Token      string
	CSRF       string
	MaxComment int
}

type messageView struct {
	Code    string
	Title   string
	Detail  string
	Status  int
	Outcome *Outcome
	// Retry, when set, renders a form that posts the same link again.
	Retry *pageView
}

const pageStyle = `<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1f2328}
main{max-width:52em;margin:2em auto;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1.5em 2em}
h1{font-size:1.4em;margin-top:0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4em 1.2em}
dt{font-weight:600}
dd{margin:0;word-break:break-word}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.8em}
textarea{width:100%;box-sizing:border-box;min-height:5em;font:inherit}
.buttons{display:flex;gap:1em;margin-top:1em}
button{font:inherit;font-weight:600;padding:.7em 1.6em;border-radius:6px;border:1px solid transparent;cursor:pointer}
.approve{background:#1a7f37;color:#fff}
.deny{background:#b42318;color:#fff}
.secondary{opacity:.75}
.note{color:#57606a;font-size:.9em}
.runs{border:2px solid #1f2328;border-radius:6px;padding:0 1em .6em;margin:1em 0}
.agent{border:1px dashed #8c959f;border-radius:6px;padding:0 1em .6em;margin:1em 0;color:#57606a}
h3{font-size:1em;margin:.8em 0 .3em}
.refusal h1{color:#b42318}
.ok h1{color:#1a7f37}
.ok.rejected h1{color:#b42318}
</style>`

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>querygate approval</title>` + pageStyle + `</head><body><main id="approval" data-session="{{.SessionID}}">
<h1>{{if eq .Decision "deny"}}Deny this query?{{else}}Approve this query?{{end}}</h1>
<p class="note">This link was sent to <b>{{.Approver}}</b>. Nothing is decided until you press a button.</p>
<section class="runs" id="runs">
<h2>What will run</h2>
<h3>Default dataset</h3>
<pre id="default_dataset">{{if .DefaultDataset}}{{.DefaultDataset}}{{else}}(none){{end}}</pre>
<h3>Parameters</h3>
<pre id="parameters">{{range .Parameters}}{{.}}
{{else}}(none){{end}}</pre>
<h3>SQL</h3>
<pre id="sql">{{.SQL}}</pre>
</section>
<dl>
<dt>Requester</dt><dd id="requester">{{.Requester}}</dd>
<dt>Session</dt><dd>{{.SessionID}}</dd>
<dt>Approver group</dt><dd>{{.Group}}</dd>
{{if .Quorum}}<dt>Needs</dt><dd id="quorum">{{.Quorum}}</dd>
<dt>Progress</dt><dd id="progress">{{.Progress}}</dd>
{{end}}<dt>Estimated scan</dt><dd>{{.EstimatedBytes}}</dd>
<dt>Expires</dt><dd>{{.ExpiresAt}}</dd>
</dl>
<h2>Why approval is needed</h2>
<ul>{{range .Reasons}}<li>{{.}}</li>{{else}}<li>(no reason given)</li>{{end}}</ul>
<section class="agent" id="agent_text">
<h2>Written by the agent (not verified)</h2>
<h3>Agent</h3>
<pre id="agent">{{.Agent}}</pre>
<h3>Justification</h3>
<pre id="justification">{{if .Justification}}{{.Justification}}{{else}}(none){{end}}</pre>
<h3>Prompt</h3>
<pre id="prompt">{{if .Prompt}}{{.Prompt}}{{else}}(none){{end}}</pre>
</section>
<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<input type="hidden" name="session_id" value="{{.SessionID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="comment">Comment (optional)</label>
<textarea id="comment" name="comment" maxlength="{{.MaxComment}}"></textarea>
<div class="buttons">
{{if eq .Decision "deny"}}<button id="deny" class="deny" type="submit" name="decision" value="deny">Deny</button>
{{else}}<button id="approve" class="approve" type="submit" name="decision" value="approve">Approve</button>{{end}}
</div>
<p class="note">This link can only {{.Decision}}. To {{if eq .Decision "deny"}}approve{{else}}deny{{end}} instead, open the other link in the approval email.</p>
</form>
</main></body></html>`))

var messageTmpl = template.Must(template.New("message").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>querygate approval: {{.Title}}</title>` + pageStyle + `</head><body>
<main id="result" class="{{if .Outcome}}ok {{.Code}}{{else}}refusal{{end}}" data-code="{{.Code}}" data-status="{{.Status}}">
<h1>{{.Title}}</h1>
<p>{{.Detail}}</p>
{{with .Outcome}}<dl>
<dt>Session</dt><dd>{{.SessionID}}</dd>
<dt>Decision</dt><dd id="decision">{{.Decision}}</dd>
<dt>By</dt><dd>{{.Approver}}</dd>
{{if .Progress}}<dt>Progress</dt><dd id="progress">{{.Progress}}</dd>{{end}}
{{if .Comment}}<dt>Comment</dt><dd>{{.Comment}}</dd>{{end}}
</dl>{{end}}
{{with .Retry}}<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<input type="hidden" name="session_id" value="{{.SessionID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="decision" value="{{.Decision}}">
<div class="buttons"><button id="retry" type="submit">Try again</button></div>
</form>{{end}}
</main></body></html>`))

func writeMessage(w http.ResponseWriter, v messageView) {
	pageHeaders(w)
	w.WriteHeader(v.Status)
	_ = messageTmpl.Execute(w, v)
}

func writeRefusal(w http.ResponseWriter, ref *Refusal) {
	writeMessage(w, messageView{Code: ref.Code, Title: ref.Title, Detail: ref.Detail, Status: ref.Status})
}
