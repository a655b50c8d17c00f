package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/openapi"
)

// documented fetches u with c and checks the response against the served
// OpenAPI document, recording the documented response it matched.
type documented struct {
	t       *testing.T
	c       *http.Client
	covered map[string]bool
}

func (d *documented) do(req *http.Request, want int) string {
	d.t.Helper()
	resp, err := d.c.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		d.t.Fatalf("%s %s = %d, want %d: %.300s", req.Method, req.URL.Path, resp.StatusCode, want, body)
	}
	key, err := openapi.CheckResponse(req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	if err != nil {
		d.t.Errorf("the response departs from the document: %v", err)
	}
	tmpl, _ := openapi.Match(req.URL.Path)
	d.covered[req.Method+" "+tmpl+" "+key] = true
	return string(body)
}

func (d *documented) get(u string, want int) string {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	return d.do(req, want)
}

func (d *documented) post(u string, form url.Values, contentType string, want int) string {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return d.do(req, want)
}

// TestOpenAPIServedAndApprovalPages checks the document the gateway serves
// as OpenAPI 3.1 and drives the approval pages through every response the
// document lists for them (the /v1 responses: internal/openapi's
// conformance test).
func TestOpenAPIServedAndApprovalPages(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	resp, err := http.Get(g.URL + openapi.Path)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d", resp.StatusCode)
	}
	if err := openapi.CheckDocument(doc); err != nil {
		t.Fatalf("the served document is not valid OpenAPI 3.1:\n%v", err)
	}

	jar, _ := cookiejar.New(nil)
	d := &documented{t: t, c: &http.Client{Jar: jar}, covered: map[string]bool{}}
	d.get(g.URL+openapi.Path, http.StatusOK)
	d.get(g.URL+"/.well-known/oauth-protected-resource", http.StatusOK)
	d.get(g.URL+"/.well-known/oauth-protected-resource/mcp", http.StatusOK)

	alice := token(t, g, "alice@example.com", "analysts")
	id := submitForApproval(t, g, alice, "documented approval")
	m := waitMail(t, g, "approver1@example.com", id)
	approve, _ := approvalLinks(t, g, m)

	d.get(g.URL+"/approval?token=not-a-token", http.StatusBadRequest)
	page := d.get(approve, http.StatusOK)
	fields := url.Values{}
	for _, x := range hiddenRE.FindAllStringSubmatch(page, -1) {
		fields.Set(x[1], strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#61;", "=").Replace(x[2]))
	}
	if fields.Get("csrf") == "" || fields.Get("token") == "" {
		t.Fatalf("approval page has no form fields: %v", fields)
	}
	fields.Set("decision", "approve")
	d.post(g.URL+"/approval/decide", fields, "text/plain", http.StatusBadRequest)
	forged := url.Values{}
	for k, v := range fields {
		forged[k] = v
	}
	forged.Set("csrf", "forged")
	d.post(g.URL+"/approval/decide", forged, "application/x-www-form-urlencoded", http.StatusForbidden)
	d.post(g.URL+"/approval/decide", fields, "application/x-www-form-urlencoded", http.StatusOK)
	// The link is spent: the page and a second decision are refusals.
	d.get(approve, http.StatusConflict)
	d.post(g.URL+"/approval/decide", fields, "application/x-www-form-urlencoded", http.StatusConflict)
	if r := waitSession(t, g, alice, id); r.body["status"] != "succeeded" {
		t.Errorf("approved session = %v", r.body["status"])
	}

	var missing []string
	for _, op := range openapi.Operations() {
		if strings.HasPrefix(op.Path, "/v1/") {
			continue
		}
		for _, st := range op.Statuses {
			if !d.covered[op.Method+" "+op.Path+" "+st] {
				missing = append(missing, fmt.Sprintf("%s %s %s", op.Method, op.Path, st))
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented but never produced:\n%s", strings.Join(missing, "\n"))
	}
}
