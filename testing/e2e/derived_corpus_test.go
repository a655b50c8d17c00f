package e2e

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
	"gopkg.in/yaml.v3"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/gateway/local"
)

// derivedCorpus is testing/sql/derived.yaml: queries over a table no policy
// lists, with what must happen to each output column.
type derivedCorpus struct {
	Cases []struct {
		Name    string            `yaml:"name"`
		SQL     string            `yaml:"sql"`
		Action  string            `yaml:"action"`
		Outputs map[string]string `yaml:"outputs"`
	} `yaml:"cases"`
}

// seededForms are the seeded sensitive values of rows in every form an
// attacker could carry them out in: whole (raw, reversed, digits only, hex
// and base64 of the bytes) and as fragments of six or more characters (of
// the digits, and of an email's local part).
func seededForms(rows []piiRow) (whole, fragments []string) {
	seen := map[string]bool{}
	add := func(list *[]string, s string) {
		if len(s) >= 6 && !seen[s] {
			seen[s] = true
			*list = append(*list, s)
		}
	}
	for _, r := range rows {
		for _, v := range []string{r.contact, r.mobile, r.taxID, r.cc} {
			add(&whole, v)
			add(&whole, reverse(v))
			add(&whole, hex.EncodeToString([]byte(v)))
			add(&whole, strings.ToUpper(hex.EncodeToString([]byte(v))))
			add(&whole, base64.StdEncoding.EncodeToString([]byte(v)))
			d := digitsOnly(v)
			if len(d) >= 9 {
				add(&whole, d)
				add(&whole, reverse(d))
			}
			src := d
			if at := strings.IndexByte(v, '@'); at > 0 {
				src = v[:at]
			}
			for i := 0; i+6 <= len(src); i++ {
				add(&fragments, src[i:i+6])
			}
		}
	}
	return whole, fragments
}

// noise matches what querygate writes besides values that a six-character
// fragment of a seeded value can match by chance: times (with their
// fractions of a second), durations and other decimals, and long runs of
// hex or token characters (hashes, session and job ids, tokens).
var noise = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?|\d+\.\d+|[0-9a-fA-F]{16,}|[A-Za-z0-9_-]{24,}`)

// scrubNoise removes noise from s before it is searched for fragments.
func scrubNoise(s string) string { return noise.ReplaceAllString(s, " ") }

// TestDerivedCorpusEndToEnd runs every case of testing/sql/derived.yaml
// (issue 11: at least 40 derived forms) through the local gateway against
// a table that no policy lists, loaded as `querygate dev --data` loads one,
// and approves those that need it. No seeded value, and no derived form of
// one, may come back in a result cell, the stored session, the logs or the
// audit table; intact columns must not be replaced.
func TestDerivedCorpusEndToEnd(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "sql", "derived.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var corpus derivedCorpus
	if err := yaml.Unmarshal(raw, &corpus); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	rows := piiRows(24)
	g, _ := startGatewayConfig(t, local.Config{DataFiles: []string{writePIIData(t, rows)},
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	alice := token(t, g, "alice@example.com", "analysts")
	auditor := token(t, g, "auditor@example.com", "auditors")
	whole, fragments := seededForms(rows)
	leaks := func(s string, forms []string) []string {
		var out []string
		for _, f := range forms {
			if strings.Contains(s, f) {
				out = append(out, f)
			}
		}
		return out
	}

	ran, derived := 0, 0
	for _, c := range corpus.Cases {
		// The e2e table has no created_at column (crm.people).
		if strings.Contains(c.SQL, "created_at") {
			continue
		}
		ran++
		for _, how := range c.Outputs {
			if how == "derived" {
				derived++
				break
			}
		}
		sql := strings.ReplaceAll(c.SQL, "demo.unlisted", "crm.people")
		t.Run(c.Name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"sql": sql, "prompt": "derived corpus: " + c.Name})
			r := do(t, "POST", g.URL+"/v1/queries", alice, body)
			id, _ := r.body["session_id"].(string)
			switch {
			case r.code == http.StatusForbidden:
				if r.body["rows"] != nil {
					t.Fatalf("denied, yet rows came back: %s", r.raw)
				}
				return
			case r.code == http.StatusAccepted && r.body["status"] == "pending_approval":
				m := waitMail(t, g, "approver1@example.com", id)
				approve, _ := approvalLinks(t, g, m)
				if _, res := newHTTPBrowser(t).decide(g, approve, "approve", "derived corpus"); res.status != http.StatusOK {
					t.Fatalf("approve = %d (%s)", res.status, res.code())
				}
				r = waitSession(t, g, alice, id)
			case r.code == http.StatusAccepted:
				r = waitSession(t, g, alice, id)
			}
			if r.body["status"] != "succeeded" {
				t.Fatalf("%s ended %v: %s", sql, r.body["status"], r.raw)
			}
			cells, _ := r.body["rows"].([]any)
			for i, x := range cells {
				row, _ := x.(map[string]any)
				for col, how := range c.Outputs {
					v := fmt.Sprint(row[col])
					if l := leaks(v, append(append([]string(nil), whole...), fragments...)); len(l) > 0 {
						t.Errorf("row %d column %s (%s) carries seeded data %q: %q", i, col, how, l, v)
					}
					switch how {
					case "derived":
						if row[col] != nil && !strings.HasPrefix(v, "[DERIVED") {
							t.Errorf("row %d column %s is derived but came back %q", i, col, v)
						}
					case "intact":
						if strings.HasPrefix(v, "[DERIVED") {
							t.Errorf("row %d column %s must be intact, came back %q", i, col, v)
						}
					}
				}
			}
			// The stored session as an auditor reads it.
			s := do(t, "GET", g.URL+"/v1/sessions/"+id, auditor, nil)
			if l := leaks(string(s.raw), whole); len(l) > 0 {
				t.Errorf("the stored session carries seeded data %q", l)
			}
			// The session store itself: the session document with its
			// timeline (every form; fragments outside the noise that ids,
			// hashes and times make), and every stored page (every form,
			// unscrubbed: pages hold only cells).
			stored, err := g.Store.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			doc, _ := json.Marshal(stored)
			if l := leaks(string(doc), whole); len(l) > 0 {
				t.Errorf("the session document carries seeded data %q", l)
			}
			if l := leaks(scrubNoise(string(doc)), fragments); len(l) > 0 {
				t.Errorf("the session document carries fragments of seeded data %q", l)
			}
			if stored.Result != nil {
				for p := range stored.Result.Pages {
					page, err := g.Store.GetPage(context.Background(), id, p)
					if err != nil {
						t.Fatal(err)
					}
					if l := leaks(string(page.Rows), append(append([]string(nil), whole...), fragments...)); len(l) > 0 {
						t.Errorf("stored page %d carries seeded data %q", p, l)
					}
				}
			}
		})
	}
	if ran < 40 || derived < 40 {
		t.Fatalf("ran %d cases, %d with a derived output: the corpus needs at least 40 derived forms", ran, derived)
	}

	if l := leaks(string(logs.Bytes()), whole); len(l) > 0 {
		t.Errorf("the gateway's logs carry seeded data %q", l)
	}
	if l := leaks(scrubNoise(string(logs.Bytes())), fragments); len(l) > 0 {
		t.Errorf("the gateway's logs carry fragments of seeded data %q", l)
	}
	bq, err := bqlocal.ClientWithToken(context.Background(), g.BigQueryEndpoint, "querygate-local", g.BigQueryToken)
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	it, err := bq.Query("SELECT TO_JSON_STRING(t) FROM `querygate-local." + local.AuditDataset + "." + local.AuditTable + "` AS t").Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		var row []bigquery.Value
		if err := it.Next(&row); err == iterator.Done {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		if l := leaks(fmt.Sprint(row[0]), whole); len(l) > 0 {
			t.Errorf("an audit row carries seeded data %q", l)
		}
		if l := leaks(scrubNoise(fmt.Sprint(row[0])), fragments); len(l) > 0 {
			t.Errorf("an audit row carries fragments of seeded data %q", l)
		}
	}
	if n == 0 {
		t.Error("no audit rows were written")
	}
	t.Logf("%d cases (%d with derived outputs), %d audit rows checked", ran, derived, n)
}
