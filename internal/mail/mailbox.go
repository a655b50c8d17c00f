package mail

import (
	"context"
	"encoding/json"
	"html/template"
	"mime"
	"net/http"
	"strings"
)

// MailboxAuth verifies a raw token presented to the mailbox and returns the
// email address it names. The local gateway passes the dev issuer's
// verifier, the same one intake uses.
type MailboxAuth func(ctx context.Context, rawToken string) (email string, err error)

// MailboxHandler serves the stored messages addressed to the caller, oldest
// first: an HTML page with clickable links, or with "Accept:
// application/json" a JSON array of {to, subject, text, html, links, from,
// received_at}. The caller presents a token as "Authorization: Bearer" or,
// for a browser page, as the query parameter "token"; authn verifies it and
// names the only recipient whose mail is shown. A nil authn refuses every
// request. It is a development aid: mount it only in local mode, since the
// links it shows are live approval links.
func (s *Sink) MailboxHandler(authn MailboxAuth) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		// A token in the page's URL must not travel to the pages its links
		// open.
		w.Header().Set("Referrer-Policy", "no-referrer")
		raw := mailboxToken(r)
		if authn == nil || raw == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="querygate dev mailbox"`)
			http.Error(w, "the dev mailbox needs a dev token: send Authorization: Bearer TOKEN, or open /dev/mailbox?token=TOKEN (querygate dev prints a link per approver)", http.StatusUnauthorized)
			return
		}
		email, err := authn(r.Context(), raw)
		if err != nil || email == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="querygate dev mailbox", error="invalid_token"`)
			http.Error(w, "the dev token was not accepted: mint a fresh one with querygate token --subject EMAIL", http.StatusUnauthorized)
			return
		}
		msgs := s.MessagesTo(email)
		w.Header().Set("Vary", "Accept, Authorization")
		if wantsJSON(r.Header.Get("Accept")) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(msgs)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		_ = mailboxTmpl.Execute(w, mailboxPage{Recipient: email, Messages: mailboxView(msgs)})
	})
}

// mailboxToken returns the bearer token of r, from the Authorization header
// or else the "token" query parameter.
func mailboxToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return ""
		}
		return strings.TrimSpace(tok)
	}
	return r.URL.Query().Get("token")
}

type mailboxPage struct {
	Recipient string
	Messages  []viewMsg
}

func wantsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}

type viewLink struct {
	Href string
	Text string
}

type viewMsg struct {
	Received
	Index   int
	Anchors []viewLink
}

func mailboxView(msgs []Received) []viewMsg {
	out := make([]viewMsg, 0, len(msgs))
	for i, m := range msgs {
		v := viewMsg{Received: m, Index: i + 1}
		texts := map[string]string{}
		for _, a := range m.anchors {
			if _, ok := texts[a.Href]; !ok {
				texts[a.Href] = a.Text
			}
		}
		for _, l := range m.Links {
			v.Anchors = append(v.Anchors, viewLink{Href: l, Text: texts[l]})
		}
		out = append(out, v)
	}
	return out
}

// The message's own HTML is shown as source, not rendered: the mailbox must
// not run or load anything the mail carries.
var mailboxTmpl = template.Must(template.New("mailbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>querygate dev mailbox</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
.msg{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1em 0}
.meta{color:#555;font-size:.9em}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.8em;border-radius:4px}
ul.links li{margin:.3em 0;word-break:break-all}
</style></head><body>
<h1>Dev mailbox</h1>
<p class="meta">{{len .Messages}} message(s) for <span id="recipient">{{.Recipient}}</span>. Mail the gateway sends to this address appears here; reload to refresh.</p>
{{range .Messages}}<div class="msg" id="msg-{{.Index}}" data-to="{{.To}}">
<h2 class="subject">{{.Subject}}</h2>
<p class="meta">To <span class="to">{{.To}}</span> · from {{.From}} · {{.ReceivedAt.Format "2006-01-02 15:04:05 UTC"}}</p>
{{if .Anchors}}<ul class="links">{{range .Anchors}}<li><a href="{{.Href}}">{{if .Text}}{{.Text}}{{else}}{{.Href}}{{end}}</a></li>{{end}}</ul>{{end}}
<pre class="text">{{.Text}}</pre>
{{if .HTML}}<details><summary>HTML part (source)</summary><pre>{{.HTML}}</pre></details>{{end}}
</div>{{else}}<p>No mail yet.</p>{{end}}
</body></html>`))
