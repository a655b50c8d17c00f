package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

const approveHelp = `usage: querygate approve SESSION_ID [--comment TEXT]
       querygate deny SESSION_ID [--comment TEXT]

Decides on a held query as you, the approver named by your own token, under
the rules of the mailed link: never on your own query, only while it waits,
each approver counted once. The command prints what will run, then sends
your decision bound to its sql_sha256 and run_sha256; pass --sql-sha256 and
--run-sha256 to bind it to hashes you checked before.

Exit codes: 0 decided (or counted towards a quorum), 1 no such held query
for you, 3 refused (your own query, no longer waiting, the query changed),
5 gateway unreachable or the token refused.

example:
  export QUERYGATE_URL=https://querygate.example.com QUERYGATE_TOKEN=$(gcloud auth print-identity-token)
  querygate approve qs_0123 --comment "checked with the data owner"
`

// runDecide implements `approve` and `deny` (decision is approve or deny).
func runDecide(ctx context.Context, decision string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(decision, approveHelp, stderr)
	api := apiFlags(fs)
	comment := fs.String("comment", "", "a comment recorded with your decision")
	sqlHash := fs.String("sql-sha256", "", "approve only this SQL hash (default: the one shown)")
	runHash := fs.String("run-sha256", "", "approve only this run hash (default: the one shown)")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	id := fs.Arg(0)
	if id == "" || fs.NArg() != 1 {
		fmt.Fprint(stderr, approveHelp)
		return exitUsage
	}
	c, err := api.client(stderr)
	if err != nil {
		return commandError(stderr, decision, err)
	}
	base := "/v1/approvals/" + url.PathEscape(id)
	held, err := c.do(ctx, http.MethodGet, base, nil)
	if err != nil {
		return commandError(stderr, decision, err)
	}
	if held.code != http.StatusOK {
		return failAnswer(stderr, decision, held)
	}
	fmt.Fprintf(stderr, "session %s, requested by %s\nSQL:\n%s\napprovals: %s\n", id, clean(held.str("requester")), indent(held.str("sql")), held.str("progress"))
	if *sqlHash == "" {
		*sqlHash = held.str("sql_sha256")
	}
	if *runHash == "" {
		*runHash = held.str("run_sha256")
	}
	body := map[string]string{"decision": decision, "comment": *comment, "sql_sha256": *sqlHash, "run_sha256": *runHash}
	out, err := c.do(ctx, http.MethodPost, base+"/decision", body)
	if err != nil {
		return commandError(stderr, decision, err)
	}
	if out.code != http.StatusOK {
		return failAnswer(stderr, decision, out)
	}
	return printJSON(stdout, out.body)
}

// indent prints agent-written text (SQL) indented, its control
// characters other than tabs made visible.
func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + strings.Join(strings.Split(clean(strings.ReplaceAll(l, "\t", "    ")), "\t"), "")
	}
	return strings.Join(lines, "\n")
}

const approvalsHelp = `usage: querygate approvals

Lists, as JSON, the held queries that wait for your decision
(GET /v1/approvals?status=pending).

example:
  QUERYGATE_TOKEN=$(querygate token --subject approver1@example.com) querygate approvals
`

func runApprovals(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("approvals", approvalsHelp, stderr)
	api := apiFlags(fs)
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() != 0 {
		fmt.Fprint(stderr, approvalsHelp)
		return exitUsage
	}
	c, err := api.client(stderr)
	if err != nil {
		return commandError(stderr, "approvals", err)
	}
	a, err := c.do(ctx, http.MethodGet, "/v1/approvals?status=pending", nil)
	if err != nil {
		return commandError(stderr, "approvals", err)
	}
	if a.code != http.StatusOK {
		return failAnswer(stderr, "approvals", a)
	}
	return printJSON(stdout, a.body)
}
