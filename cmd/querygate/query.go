package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const queryHelp = `usage: querygate query --sql SQL [--prompt TEXT] [--conversation ID] [--wait 15m] [--json]

Sends a query to the gateway (POST /v1/queries) and waits for its end:
through policy, approval when it is held, execution and masking. While it
waits, a line on stderr shows the status and the elapsed time. Prints the
masked rows as a table, or with --json the API's last answer exactly as it
came.

Exit codes: 0 rows, 1 failed, 3 denied/rejected/expired, 4 still waiting
when --wait ended (continue with: querygate sessions show ID), 5 gateway
unreachable or the token refused.

example:
  export QUERYGATE_URL=https://querygate.example.com QUERYGATE_TOKEN=$(gcloud auth print-identity-token)
  querygate query --sql 'SELECT full_name, email FROM demo.customers LIMIT 3' --prompt 'three customers'
`

// pollSeconds is how long one GET /v1/sessions/{id} waits for a change.
const pollSeconds = 30

// terminalStatus reports whether a session status is final.
func terminalStatus(s string) bool {
	switch s {
	case "succeeded", "denied", "rejected", "expired", "failed":
		return true
	}
	return false
}

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("query", queryHelp, stderr)
	api := apiFlags(fs)
	sql := fs.String("sql", "", "SQL to run (required)")
	prompt := fs.String("prompt", "", "the prompt that led to this query")
	conv := fs.String("conversation", "", "conversation id")
	wait := fs.Duration("wait", 15*time.Minute, "how long to wait for approval and the result")
	jsonOut := fs.Bool("json", false, "print the API's answer exactly as it came instead of a table")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if *sql == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "querygate query: --sql is required (see querygate query --help)")
		return exitUsage
	}
	c, err := api.client(stderr)
	if err != nil {
		return commandError(stderr, "query", err)
	}
	body := map[string]any{"sql": *sql, "prompt": *prompt, "conversation_id": *conv,
		"agent": map[string]string{"name": "querygate-cli"}, "wait_seconds": 10}
	pr := newProgress(stderr, time.Now)
	defer pr.stop()
	a, err := c.do(ctx, http.MethodPost, "/v1/queries", body)
	if err != nil {
		return commandError(stderr, "query", err)
	}
	for a.code < 300 && !terminalStatus(a.str("status")) {
		id := a.str("session_id")
		if id == "" {
			pr.stop()
			fmt.Fprintln(stderr, "querygate query: the gateway's answer names no session")
			return exitUnavailable
		}
		pr.update(id, a.str("status"), approversOf(a))
		left := *wait - pr.elapsed()
		if left <= 0 {
			pr.stop()
			fmt.Fprintf(stderr, "querygate query: session %s is still %s after %s; continue with: querygate sessions show %s --wait 30\n",
				id, a.str("status"), *wait, id)
			if *jsonOut {
				_, _ = stdout.Write(a.raw)
			}
			return exitPending
		}
		secs := min(pollSeconds, int((left+time.Second-1)/time.Second))
		if a, err = c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/sessions/%s?wait_seconds=%d", url.PathEscape(id), secs), nil); err != nil {
			pr.stop()
			return commandError(stderr, "query", err)
		}
	}
	pr.stop()
	if *jsonOut {
		_, _ = stdout.Write(a.raw)
	}
	status := a.str("status")
	switch {
	case status == "succeeded":
		if *jsonOut {
			return nil
		}
		return printRows(ctx, c, a, stdout, stderr)
	case status == "denied" || status == "rejected" || status == "expired":
		fmt.Fprintf(stderr, "querygate query: %s: %s (session %s)\n", status, strings.Join(stringsOf(a.body["reasons"]), "; "), a.str("session_id"))
		return exitRefused
	case status == "failed":
		fmt.Fprintf(stderr, "querygate query: failed: %s (session %s)\n", strings.Join(stringsOf(a.body["errors"]), "; "), a.str("session_id"))
		return exitFailed
	case a.code >= 300:
		return failAnswer(stderr, "query", a)
	}
	fmt.Fprintf(stderr, "querygate query: the gateway answered an unknown status %q\n", status)
	return exitUnavailable
}

func approversOf(a *answer) []string {
	if ap, ok := a.body["approval"].(map[string]any); ok {
		return stringsOf(ap["approvers"])
	}
	return stringsOf(a.body["approvers"])
}

// printRows prints every page of a succeeded session's masked rows as a
// table on stdout and a summary on stderr.
func printRows(ctx context.Context, c *apiClient, a *answer, stdout, stderr io.Writer) error {
	id := a.str("session_id")
	cols := schemaNames(a.body["schema"])
	var rows []map[string]any
	for {
		for _, r := range anySlice(a.body["rows"]) {
			if m, ok := r.(map[string]any); ok {
				rows = append(rows, m)
			}
		}
		next := a.str("next_page_token")
		if next == "" {
			break
		}
		var err error
		a, err = c.do(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(id)+"?page_token="+url.QueryEscape(next), nil)
		if err != nil {
			return commandError(stderr, "query", err)
		}
		if a.code != http.StatusOK {
			return failAnswer(stderr, "query", a)
		}
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		for _, col := range cols {
			cells[i] = append(cells[i], cellString(r[col]))
		}
	}
	if err := writeTable(stdout, cols, cells); err != nil {
		return err
	}
	summary := fmt.Sprintf("%d rows, session %s", len(rows), id)
	if m := stringsOf(a.body["masked_columns"]); len(m) > 0 {
		summary += ", masked: " + strings.Join(m, ", ")
	}
	if t, _ := a.body["truncated"].(bool); t {
		summary += " (truncated by the gateway's storage cap)"
	}
	fmt.Fprintln(stderr, summary)
	return nil
}

func schemaNames(v any) []string {
	var out []string
	for _, f := range anySlice(v) {
		if m, ok := f.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				out = append(out, n)
			}
		}
	}
	return out
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func stringsOf(v any) []string {
	var out []string
	for _, x := range anySlice(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
