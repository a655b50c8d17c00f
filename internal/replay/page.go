package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/querygate/querygate/internal/logging"
	"github.com/querygate/querygate/internal/session"
)

// contentSecurityPolicy allows no script, no fetch, no form and no
// framing: the page is plain server-rendered HTML with inline styles.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// NewPageHandler serves GET /sessions/{id}: the session's timeline, its
// decision, approval, execution and masked rows, as server-rendered HTML.
// Mount it at "/sessions/" or as "GET /sessions/{id}".
//
// authorize decides who may see a session; the caller passes one that
// allows the requester, that session's approvers and the auditors group,
// from the verified identity. A session the caller may not see answers 404
// like a missing one, so the page does not confirm that an id exists.
func NewPageHandler(st session.Store, authorize func(r *http.Request, s *session.Session) bool) http.Handler {
	return &pageHandler{st: st, authorize: authorize}
}

type pageHandler struct {
	st        session.Store
	authorize func(r *http.Request, s *session.Session) bool
}

func (h *pageHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Mounted as "GET /sessions/{id}" the mux has the id; mounted at
	// "/sessions/" it is the rest of the path.
	id := r.PathValue("id")
	if id == "" {
		id, _ = strings.CutPrefix(r.URL.Path, "/sessions/")
	}
	if id == "" || strings.Contains(id, "/") {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	s, err := h.st.Get(ctx, id)
	if errors.Is(err, session.ErrNotFound) || (err == nil && !h.authorize(r, s)) {
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	if err != nil {
		logging.FromContext(ctx).ErrorContext(ctx, "session page: read session", "session_id", id, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v, err := Load(ctx, h.st, id)
	if err != nil {
		logging.FromContext(ctx).ErrorContext(ctx, "session page: load session", "session_id", id, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, pageData(v)); err != nil {
		logging.FromContext(ctx).ErrorContext(ctx, "session page: render", "session_id", id, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

type pageView struct {
	*View
	Columns []string
	Tables  []pageTable
}

type pageTable struct {
	Page *session.Page
	// Cells is nil when the page's rows are not an array of objects; the
	// raw bytes are shown then.
	Cells [][]string
}

// pageData lays out each page as a table in the result schema's column
// order.
func pageData(v *View) pageView {
	pv := pageView{View: v}
	if v.Session.Result != nil {
		for _, f := range v.Session.Result.Schema {
			pv.Columns = append(pv.Columns, f.Name)
		}
	}
	for _, p := range v.Pages {
		t := pageTable{Page: p}
		var objs []map[string]json.RawMessage
		if len(pv.Columns) > 0 && json.Unmarshal(p.Rows, &objs) == nil {
			for _, o := range objs {
				row := make([]string, len(pv.Columns))
				for i, c := range pv.Columns {
					row[i] = cellText(o[c])
				}
				t.Cells = append(t.Cells, row)
			}
		}
		pv.Tables = append(pv.Tables, t)
	}
	return pv
}

var pageTemplate = template.Must(template.New("session").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>querygate session {{.Session.ID}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#111}
pre{background:#f4f4f4;padding:.75rem;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top;font-family:monospace}
.broken{color:#a00;font-weight:bold}
dt{font-weight:bold}
</style>
</head>
<body>
<h1>Session {{.Session.ID}}</h1>
<dl>
<dt>Status</dt><dd>{{.Session.Status}}</dd>
<dt>Requester</dt><dd>{{with .Session.Principal}}{{.Email}} ({{.Issuer}} {{.Subject}}){{end}}</dd>
{{with .Session.ConversationID}}<dt>Conversation</dt><dd>{{.}}</dd>{{end}}
{{with .Session.Agent}}<dt>Agent (declared)</dt><dd>{{.Name}} {{.Model}}</dd>{{end}}
<dt>Created</dt><dd>{{.Session.CreatedAt.UTC.Format "2006-01-02T15:04:05.000Z07:00"}}</dd>
</dl>
<h2>Prompt</h2>
<pre>{{.Session.Prompt}}</pre>
<h2>SQL</h2>
<p>SHA-256 <code>{{.Session.SQLSHA256}}</code></p>
<pre>{{.Session.SQL}}</pre>
{{with .Session.Decision}}
<h2>Decision: {{.Action}}</h2>
{{if .RuleIDs}}<p>Rules: {{range $i, $r := .RuleIDs}}{{if $i}}, {{end}}{{$r}}{{end}}</p>{{end}}
{{if .Reasons}}<ul>{{range .Reasons}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{end}}
{{with .Session.Approval}}
<h2>Approval: {{or .Decision "pending"}}</h2>
<p>Group {{.Group}}{{with .DecidedBy}}; decided by {{.}}{{end}}</p>
{{with .Comment}}<p>Comment: {{.}}</p>{{end}}
{{end}}
{{with .Session.Execution}}
<h2>Execution</h2>
<p>Job {{.JobID}}: {{.BytesProcessed}} bytes processed, {{.TotalRows}} rows.</p>
{{end}}
<h2>Timeline</h2>
{{if .BrokenAt}}<p class="broken">The timeline's hash chain is broken at event {{.BrokenAt}}.</p>{{else}}<p>Hash chain intact.</p>{{end}}
<table>
<tr><th>#</th><th>At</th><th>Event</th><th>Actor</th><th>Data</th></tr>
{{range .Entries}}<tr><td>{{.Seq}}</td><td>+{{.Offset}}</td><td>{{.Type}}</td><td>{{.Actor}}</td><td>{{.Data}}</td></tr>
{{end}}</table>
{{with .Session.Result}}
<h2>Masked result</h2>
<p>{{.TotalRows}} rows, {{.StoredRows}} stored{{if .Truncated}} (truncated by the storage cap){{end}}.</p>
{{end}}
{{$cols := .Columns}}
{{range .Tables}}
<h3>Page {{.Page.Index}} ({{.Page.Count}} rows)</h3>
{{if .Cells}}<table>
<tr>{{range $cols}}<th>{{.}}</th>{{end}}</tr>
{{range .Cells}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
<details><summary>Rows as stored</summary><pre>{{printf "%s" .Page.Rows}}</pre></details>
{{end}}
</body>
</html>
`))

// cellText shows a JSON string as its text and any other value (numbers,
// null, arrays, records) as its JSON; the exact bytes are on the page too.
func cellText(v json.RawMessage) string {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}
