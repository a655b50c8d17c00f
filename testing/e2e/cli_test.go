package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/gateway/local"
)

// The CLI over the API (issue 14, item 4 and its acceptance): the real
// querygate binary, built once, run from a directory with no data dir
// against a running gateway, with nothing but QUERYGATE_URL and
// QUERYGATE_TOKEN (or the dev gateway's state file) to find it.

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)

// cliBinary builds cmd/querygate once per test binary run.
func cliBinary(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "querygate-cli-")
		if err != nil {
			cliErr = err
			return
		}
		cliBin = filepath.Join(dir, "querygate")
		out, err := exec.Command("go", "build", "-o", cliBin, "github.com/querygate/querygate/cmd/querygate").CombinedOutput()
		if err != nil {
			cliErr = errors.New("go build cmd/querygate: " + err.Error() + "\n" + string(out))
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

// cliRun is one finished CLI run.
type cliRun struct {
	stdout, stderr string
	exit           int
}

// cliEnv is the environment of a CLI run: a fresh HOME and config dir (so
// no dev gateway state of the machine is seen) plus extra.
func cliEnv(t *testing.T, home string, extra ...string) []string {
	t.Helper()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "PATH=" + os.Getenv("PATH")}
	return append(env, extra...)
}

// startCLI starts the CLI in dir; wait returns its outcome.
func startCLI(t *testing.T, dir string, env []string, args ...string) (wait func() cliRun) {
	t.Helper()
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Dir, cmd.Env = dir, env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() cliRun {
		err := cmd.Wait()
		var ee *exec.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("querygate %v: %v", args, err)
		}
		return cliRun{stdout: out.String(), stderr: errb.String(), exit: code}
	}
}

func runCLI(t *testing.T, dir string, env []string, args ...string) cliRun {
	t.Helper()
	return startCLI(t, dir, env, args...)()
}

func TestCLIOverTheAPI(t *testing.T) {
	dataDir := t.TempDir()
	g, _ := startGatewayConfig(t, local.Config{DataDir: dataDir})
	work, home := t.TempDir(), t.TempDir() // no .querygate here
	alice := token(t, g, "alice@example.com", "analysts")
	asAlice := cliEnv(t, home, "QUERYGATE_URL="+g.URL, "QUERYGATE_TOKEN="+alice)

	// query --json: the API's answer as it came, rows masked.
	r := runCLI(t, work, asAlice, "query", "--json", "--prompt", "two customers",
		"--sql", "SELECT customer_id, email FROM demo.customers WHERE customer_id <= 2 ORDER BY customer_id")
	if r.exit != 0 {
		t.Fatalf("query --json: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	var ans struct {
		SessionID     string           `json:"session_id"`
		Status        string           `json:"status"`
		Rows          []map[string]any `json:"rows"`
		MaskedColumns []string         `json:"masked_columns"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil {
		t.Fatalf("query --json printed something that is not the API's JSON: %v\n%s", err, r.stdout)
	}
	wantRows := []map[string]any{{"customer_id": float64(1), "email": "[EMAIL_ADDRESS]"}, {"customer_id": float64(2), "email": "[EMAIL_ADDRESS]"}}
	if diff := cmp.Diff(wantRows, ans.Rows); diff != "" || ans.Status != "succeeded" || !strings.HasPrefix(ans.SessionID, "qs_") {
		t.Errorf("query --json: status %q id %q rows (-want, +got):\n%s", ans.Status, ans.SessionID, diff)
	}
	if diff := cmp.Diff([]string{"email"}, ans.MaskedColumns); diff != "" {
		t.Errorf("masked_columns (-want, +got):\n%s", diff)
	}
	id := ans.SessionID

	// The table: a header, the masked values, the summary on stderr.
	r = runCLI(t, work, asAlice, "query", "--sql", "SELECT customer_id, email FROM demo.customers WHERE customer_id = 3")
	if r.exit != 0 || !regexp.MustCompile(`(?m)^customer_id\s+email\n3\s+\[EMAIL_ADDRESS\]\n$`).MatchString(r.stdout) ||
		!strings.Contains(r.stderr, "1 rows, session qs_") || !strings.Contains(r.stderr, "masked: email") {
		t.Errorf("query table: exit %d\nstdout:\n%s\nstderr:\n%s", r.exit, r.stdout, r.stderr)
	}

	// A denied query: exit 3, the policy's reason on stderr.
	r = runCLI(t, work, asAlice, "query", "--sql", "DELETE FROM demo.customers WHERE TRUE")
	if r.exit != 3 || !strings.Contains(r.stderr, "querygate query: denied: ") {
		t.Errorf("denied query: exit %d, stderr %q; want exit 3 with the reasons", r.exit, r.stderr)
	}

	// sessions list: the sessions just made, newest first.
	r = runCLI(t, work, asAlice, "sessions", "list", "--status", "succeeded")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.exit != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "SESSION ") || !strings.HasPrefix(lines[2], id+" ") ||
		!strings.Contains(lines[2], "succeeded") || !strings.Contains(lines[2], "alice@example.com") {
		t.Errorf("sessions list --status succeeded: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	r = runCLI(t, work, asAlice, "sessions", "list", "--json", "--limit", "1")
	var page struct {
		Sessions []struct {
			Status string `json:"status"`
		} `json:"sessions"`
		Next string `json:"next_page_token"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Sessions) != 1 || page.Sessions[0].Status != "denied" ||
		page.Next == "" || !strings.Contains(r.stderr, "--page-token "+page.Next) {
		t.Errorf("sessions list --json --limit 1: %v exit %d\n%s%s", err, r.exit, r.stdout, r.stderr)
	}

	// sessions show: the API's session.
	r = runCLI(t, work, asAlice, "sessions", "show", id)
	var shown map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || r.exit != 0 || shown["prompt"] != "two customers" || shown["session_id"] != id {
		t.Errorf("sessions show: %v exit %d\n%s%s", err, r.exit, r.stdout, r.stderr)
	}
	// Another analyst may not see it: not found, exit 1.
	asBob := cliEnv(t, home, "QUERYGATE_URL="+g.URL, "QUERYGATE_TOKEN="+token(t, g, "bob@example.com", "analysts"))
	if r = runCLI(t, work, asBob, "sessions", "show", id); r.exit != 1 || !strings.Contains(r.stderr, "no such session") {
		t.Errorf("bob shows alice's session: exit %d, stderr %q; want 1, no such session", r.exit, r.stderr)
	}

	// replay through the API prints what the store-reading replay prints.
	r = runCLI(t, work, asAlice, "replay", id)
	direct := runCLI(t, work, cliEnv(t, home), "replay", "--data-dir", dataDir, id)
	if r.exit != 0 || direct.exit != 0 {
		t.Fatalf("replay: exit %d / %d\n%s%s", r.exit, direct.exit, r.stderr, direct.stderr)
	}
	for _, want := range []string{"session " + id, "status:     succeeded", "prompt:\n  two customers", "timeline hash chain intact",
		"--- page 0 (2 rows)\n" + `[{"customer_id":1,"email":"[EMAIL_ADDRESS]"},{"customer_id":2,"email":"[EMAIL_ADDRESS]"}]` + "\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("replay over the API lacks %q:\n%s", want, r.stdout)
		}
	}
	// The two differ only in how errors are attributed (the API gives
	// messages without their step); this session has none.
	if diff := cmp.Diff(direct.stdout, r.stdout); diff != "" {
		t.Errorf("replay over the API differs from replay --data-dir (-direct, +api):\n%s", diff)
	}

	// A held query: the agent's CLI waits; its own approval is refused;
	// an approver's CLI approves; the agent's CLI then prints the rows.
	carol := token(t, g, "carol@example.com", "analysts")
	asCarol := cliEnv(t, home, "QUERYGATE_URL="+g.URL, "QUERYGATE_TOKEN="+carol)
	wait := startCLI(t, work, asCarol, "query", "--sql", starSQL, "--prompt", "everything about five customers")
	held := waitPendingSession(t, g, carol)
	r = runCLI(t, work, asCarol, "approve", held, "--comment", "I approve of myself")
	if r.exit != 3 || !strings.Contains(r.stderr, "refused (403 self_approval): You cannot approve your own query") {
		t.Errorf("self-approval: exit %d, stderr %q; want 3 and a clear refusal", r.exit, r.stderr)
	}
	asApprover := cliEnv(t, home, "QUERYGATE_URL="+g.URL, "QUERYGATE_TOKEN="+token(t, g, approvers[0]))
	r = runCLI(t, work, asApprover, "approve", held, "--comment", "ok for the report")
	if r.exit != 0 || !strings.Contains(r.stdout, `"decision": "approved"`) || !strings.Contains(r.stderr, "requested by carol@example.com") ||
		!strings.Contains(r.stderr, starSQL) {
		t.Fatalf("approve: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	q := wait()
	tableLines := strings.Split(strings.TrimSpace(q.stdout), "\n")
	if q.exit != 0 || len(tableLines) != 6 || !strings.HasPrefix(tableLines[0], "customer_id ") ||
		!strings.Contains(q.stdout, "[US_SOCIAL_SECURITY_NUMBER]") || !strings.Contains(q.stderr, held+"  pending_approval  asked: ") {
		t.Errorf("held query after approval: exit %d\nstdout:\n%s\nstderr:\n%s", q.exit, q.stdout, q.stderr)
	}
	for _, c := range customerByID() {
		if ssn, _ := c["ssn"].(string); ssn != "" && strings.Contains(q.stdout, ssn) {
			t.Fatalf("the table shows a raw SSN")
		}
	}
	// Once decided, approving again is refused: exit 3.
	if r = runCLI(t, work, asApprover, "approve", held); r.exit != 3 || !strings.Contains(r.stderr, "not_pending") {
		t.Errorf("approve twice: exit %d, stderr %q", r.exit, r.stderr)
	}

	// With no token at all, the CLI mints a dev token only for the dev
	// gateway recorded in the user's config dir, as `querygate dev` does.
	noToken := cliEnv(t, home)
	if r = runCLI(t, work, noToken, "sessions", "list"); r.exit != 2 || !strings.Contains(r.stderr, "--token or $QUERYGATE_TOKEN") {
		t.Errorf("no token and no dev gateway: exit %d, stderr %q; want 2", r.exit, r.stderr)
	}
	state, _ := json.Marshal(map[string]any{"url": g.URL, "data_dir": dataDir, "pid": 1})
	if err := os.MkdirAll(filepath.Join(home, ".config", "querygate"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".config", "querygate", "dev-gateway.json"), state, 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, work, noToken, "sessions", "list", "--status", "succeeded", "--limit", "1")
	if r.exit != 0 || !strings.Contains(r.stdout, "alice@example.com") || !strings.Contains(r.stderr, "dev token for alice@example.com") {
		t.Errorf("sessions list with the dev gateway's token: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	// The dev token is never sent elsewhere.
	if r = runCLI(t, work, append(noToken, "QUERYGATE_URL=https://querygate.example.com"), "sessions", "list"); r.exit != 2 ||
		!strings.Contains(r.stderr, "only for the local dev gateway") {
		t.Errorf("dev token for another host: exit %d, stderr %q; want 2", r.exit, r.stderr)
	}
}
