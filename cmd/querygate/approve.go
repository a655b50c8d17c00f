package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// apiFlags are the gateway and token flags of the commands that work over
// the API; they default to $QUERYGATE_URL and $QUERYGATE_TOKEN.
func apiFlags(fs *flag.FlagSet) (gw, token *string) {
	def := os.Getenv("QUERYGATE_URL")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	gw = fs.String("url", def, "gateway URL (default: $QUERYGATE_URL, else the dev gateway)")
	token = fs.String("token", "", "your own ID token (default: $QUERYGATE_TOKEN)")
	return gw, token
}

const approveUsage = `usage: querygate approve SESSION_ID [--comment TEXT] [--url URL] [--token TOKEN]
       querygate deny SESSION_ID [--comment TEXT] [--url URL] [--token TOKEN]

Decides on a held query as you, the approver named by your own token, under
the rules of the mailed link: never on your own query, only while it waits,
each approver counted once. The command prints what will run, then sends
your decision bound to its sql_sha256 and run_sha256; pass --sql-sha256 and
--run-sha256 to bind it to hashes you checked before.

example:
  export QUERYGATE_URL=https://querygate.example.com QUERYGATE_TOKEN=$(gcloud auth print-identity-token)
  querygate approve qs_0123 --comment "checked with the data owner"
`

// runDecide implements `approve` and `deny` (decision is approve or deny).
func runDecide(ctx context.Context, decision string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(decision, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, approveUsage) }
	gw, token := apiFlags(fs)
	comment := fs.String("comment", "", "a comment recorded with your decision")
	sqlHash := fs.String("sql-sha256", "", "approve only this SQL hash (default: the one shown)")
	runHash := fs.String("run-sha256", "", "approve only this run hash (default: the one shown)")
	if err := fs.Parse(reorder(args)); err != nil {
		return exitCode(2)
	}
	if *token == "" {
		*token = os.Getenv("QUERYGATE_TOKEN")
	}
	id := fs.Arg(0)
	if id == "" || fs.NArg() != 1 || *token == "" {
		fmt.Fprint(stderr, approveUsage)
		return exitCode(2)
	}
	base := strings.TrimRight(*gw, "/") + "/v1/approvals/" + url.PathEscape(id)
	code, held, err := apiCall(ctx, http.MethodGet, base, *token, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return refused(stderr, code, held)
	}
	sqlText, _ := held["sql"].(string)
	progress, _ := held["progress"].(string)
	fmt.Fprintf(stderr, "session %s, requested by %v\nSQL:\n%s\napprovals: %s\n", id, held["requester"], indent(sqlText), progress)
	if *sqlHash == "" {
		*sqlHash, _ = held["sql_sha256"].(string)
	}
	if *runHash == "" {
		*runHash, _ = held["run_sha256"].(string)
	}
	body, _ := json.Marshal(map[string]string{"decision": decision, "comment": *comment, "sql_sha256": *sqlHash, "run_sha256": *runHash})
	code, out, err := apiCall(ctx, http.MethodPost, base+"/decision", *token, body)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return refused(stderr, code, out)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// apiCall is call for the approvals API: a JSON refusal (4xx) is an
// answer for refused to print, not an error.
func apiCall(ctx context.Context, method, u, token string, body []byte) (int, map[string]any, error) {
	code, out, err := call(ctx, method, u, token, body)
	if err != nil && code >= 400 && code < 500 && out != nil {
		return code, out, nil
	}
	return code, out, err
}

// refused prints the gateway's refusal and ends with exit code 1.
func refused(stderr io.Writer, code int, out map[string]any) error {
	msg, _ := out["error"].(string)
	c, _ := out["code"].(string)
	fmt.Fprintf(stderr, "querygate: refused (%d %s): %s\n", code, c, msg)
	return exitCode(1)
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

const approvalsUsage = `usage: querygate approvals [--url URL] [--token TOKEN]

Lists, as JSON, the held queries that wait for your decision
(GET /v1/approvals?status=pending).

example:
  QUERYGATE_TOKEN=$(querygate token --subject approver1@example.com) querygate approvals
`

func runApprovals(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("approvals", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, approvalsUsage) }
	gw, token := apiFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *token == "" {
		*token = os.Getenv("QUERYGATE_TOKEN")
	}
	if *token == "" || fs.NArg() != 0 {
		fmt.Fprint(stderr, approvalsUsage)
		return exitCode(2)
	}
	code, out, err := apiCall(ctx, http.MethodGet, strings.TrimRight(*gw, "/")+"/v1/approvals?status=pending", *token, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return refused(stderr, code, out)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
