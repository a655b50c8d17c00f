package functions

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/config"
)

// TestEndpointsOnlyOnLoopback: an emulator endpoint turns off TLS and
// credentials for its clients, so anything but a loopback address is a
// configuration error, named by its variable.
func TestEndpointsOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, env, value string
		ok               bool
	}{
		{"bigquery loopback", "QUERYGATE_BIGQUERY_ENDPOINT", "http://127.0.0.1:9050", true},
		{"bigquery localhost", "QUERYGATE_BIGQUERY_ENDPOINT", "http://localhost:9050/", true},
		{"bigquery ipv6 loopback", "QUERYGATE_BIGQUERY_ENDPOINT", "http://[::1]:9050", true},
		{"bigquery remote", "QUERYGATE_BIGQUERY_ENDPOINT", "https://bigquery.googleapis.com", false},
		{"bigquery private range", "QUERYGATE_BIGQUERY_ENDPOINT", "http://10.0.0.5:9050", false},
		{"bigquery userinfo", "QUERYGATE_BIGQUERY_ENDPOINT", "http://u:p@127.0.0.1:9050", false},
		{"bigquery scheme", "QUERYGATE_BIGQUERY_ENDPOINT", "ftp://127.0.0.1:9050", false},
		{"dlp loopback", "QUERYGATE_DLP_ENDPOINT", "127.0.0.1:4000", true},
		{"dlp remote", "QUERYGATE_DLP_ENDPOINT", "dlp.googleapis.com:443", false},
		{"dlp no port", "QUERYGATE_DLP_ENDPOINT", "127.0.0.1", false},
		{"workflows lookalike", "QUERYGATE_WORKFLOWS_ENDPOINT", "127.0.0.1.example.com:443", false},
		{"secret manager loopback", "QUERYGATE_SECRETMANAGER_ENDPOINT", "localhost:4001", true},
		{"cloud identity remote", "QUERYGATE_CLOUDIDENTITY_ENDPOINT", "https://cloudidentity.googleapis.com", false},
		{"certs loopback https", "QUERYGATE_GOOGLE_CERTS_URL", "https://127.0.0.1:8443/certs", true},
		{"certs remote", "QUERYGATE_GOOGLE_CERTS_URL", "https://keys.example.com/certs", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"QUERYGATE_PROJECT": "p", "QUERYGATE_PUBLIC_URL": "https://qg.example", "QUERYGATE_AUDIENCE": "https://qg.example",
				"QUERYGATE_SELF_URL": "https://policy.run.app", "QUERYGATE_WORKFLOW_SA": "wf@p.iam.gserviceaccount.com", "QUERYGATE_APPROVAL_SA": "ap@p.iam.gserviceaccount.com",
				tc.env: tc.value}
			var c Config
			if err := config.Process(config.MapLookuper(env), &c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if tc.ok && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.env)) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.env)
			}
		})
	}
}

// TestGoogleCertsRedirect: the override serves only idtoken's fetch of
// Google's certificates, from the configured URL.
func TestGoogleCertsRedirect(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[],"path":"` + r.URL.Path + `"}`))
	}))
	defer srv.Close()
	hc, err := Endpoints{GoogleCerts: srv.URL + "/google/certs"}.googleCertsClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(googleCertsURL)
	if err != nil {
		t.Fatalf("GET %s: %v", googleCertsURL, err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if want := `"path":"/google/certs"`; !strings.Contains(buf.String(), want) {
		t.Errorf("body %s, want %s (the configured URL answered)", buf.String(), want)
	}
	if _, err := hc.Get("https://www.googleapis.com/other"); err == nil || !strings.Contains(err.Error(), "serves only") {
		t.Errorf("GET of another URL: err %v, want a refusal", err)
	}
	if hc, _ := (Endpoints{}).googleCertsClient(); hc != nil {
		t.Errorf("no override: client %v, want nil (idtoken's own)", hc)
	}
}
