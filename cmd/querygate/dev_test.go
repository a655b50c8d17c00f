package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/gateway/local"
)

// TestDevBannerAndAuditVerify starts a local gateway, checks that the
// banner gives the operator the embedded BigQuery's token and a working
// mailbox link per approver, and that `audit verify --data-dir` reads the
// token (and fails without it).
func TestDevBannerAndAuditVerify(t *testing.T) {
	dir := t.TempDir()
	g, err := local.Start(context.Background(), local.Config{Addr: "127.0.0.1:0", DataDir: dir, Project: "querygate-local",
		BigQueryAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	var out bytes.Buffer
	if err := printDevBanner(&out, g, "querygate-local", dir, time.Second); err != nil {
		t.Fatal(err)
	}
	banner := out.String()
	if !strings.Contains(banner, "BigQuery token:    "+g.BigQueryToken) {
		t.Errorf("banner lacks the BigQuery token:\n%s", banner)
	}
	links := regexp.MustCompile(`(?m)^    (\S+@example\.com)\n      (http://\S+/dev/mailbox\?token=\S+)$`).FindAllStringSubmatch(banner, -1)
	if len(links) != 2 || links[0][1] != "approver1@example.com" || links[1][1] != "approver2@example.com" {
		t.Fatalf("banner mailbox links = %v, want one per approver:\n%s", links, banner)
	}
	for _, l := range links {
		resp, err := http.Get(l[2])
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<span id="recipient">`+l[1]+`</span>`) {
			t.Errorf("mailbox link for %s: %d, page not addressed to them", l[1], resp.StatusCode)
		}
	}

	stdout, stderr, err := run(t, "audit", "verify", "--bigquery-endpoint", g.BigQueryEndpoint, "--data-dir", dir)
	if err != nil {
		t.Fatalf("audit verify --data-dir: %v\n%s%s", err, stdout, stderr)
	}
	_, stderr, err = run(t, "audit", "verify", "--bigquery-endpoint", g.BigQueryEndpoint, "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error()+stderr, "no embedded BigQuery token") {
		t.Errorf("audit verify without the token: err %v, stderr %q; want a missing-token error", err, stderr)
	}
}
