package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const sessionsHelp = `usage: querygate sessions list [--status S] [--conversation ID] [--limit N] [--page-token T] [--json]
       querygate sessions show SESSION_ID [--wait SECONDS] [--page-token T]

list prints your sessions (every session for auditors), newest first, as a
table (GET /v1/sessions), or with --json the API's pages as they came
(with --status, the matching sessions, one JSON object per line). The API
filters by conversation; --status is applied here, to the pages read (at
most 20), until --limit sessions match. When more remain, the last line on
stderr names the --page-token to continue with.

show prints one session as the API returns it (GET /v1/sessions/{id}):
prompt, SQL, decision, approval, timeline and the first page of masked
rows; --wait long-polls until it changes.

Exit codes: 0 ok, 1 no such session, 5 gateway unreachable or the token refused.

examples:
  querygate sessions list --status pending_approval --limit 20
  querygate sessions show qs_0123 --wait 30
`

func runSessions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "show") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help") {
			fmt.Fprint(stdout, sessionsHelp)
			return nil
		}
		fmt.Fprint(stderr, sessionsHelp)
		return exitUsage
	}
	if args[0] == "list" {
		return runSessionsList(ctx, args[1:], stdout, stderr)
	}
	return runSessionsShow(ctx, args[1:], stdout, stderr)
}

// maxListPages bounds how many API pages one `sessions list` reads while
// it looks for sessions matching --status.
const maxListPages = 20

func runSessionsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sessions list", sessionsHelp, stderr)
	api := apiFlags(fs)
	status := fs.String("status", "", "only sessions in this status (pending_approval, running, succeeded, denied, rejected, expired, failed)")
	conv := fs.String("conversation", "", "only the sessions of this conversation")
	limit := fs.Int("limit", 50, "most sessions to print (1-1000)")
	pageToken := fs.String("page-token", "", "continue a listing where an earlier one stopped")
	jsonOut := fs.Bool("json", false, "print the API's pages (JSON, one per line) instead of a table")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() != 0 || *limit < 1 || *limit > 1000 || (*status != "" && !knownStatus(*status)) {
		fmt.Fprintln(stderr, "querygate sessions list: --limit is 1 to 1000 and --status one of pending_approval, running, succeeded, denied, rejected, expired, failed")
		return exitUsage
	}
	c, err := api.client(stderr)
	if err != nil {
		return commandError(stderr, "sessions list", err)
	}
	var rows [][]string
	next := *pageToken
	for page := 0; page < maxListPages && len(rows) < *limit; page++ {
		q := url.Values{"page_size": {strconv.Itoa(*limit - len(rows))}}
		if *status != "" {
			q.Set("page_size", "100")
		}
		if *conv != "" {
			q.Set("conversation_id", *conv)
		}
		if next != "" {
			q.Set("page_token", next)
		}
		a, err := c.do(ctx, http.MethodGet, "/v1/sessions?"+q.Encode(), nil)
		if err != nil {
			return commandError(stderr, "sessions list", err)
		}
		if a.code != http.StatusOK {
			return failAnswer(stderr, "sessions list", a)
		}
		if *jsonOut && *status == "" {
			_, _ = stdout.Write(a.raw)
		}
		next = a.str("next_page_token")
		for _, x := range anySlice(a.body["sessions"]) {
			m, _ := x.(map[string]any)
			if m == nil || (*status != "" && m["status"] != *status) {
				continue
			}
			if *jsonOut && *status != "" {
				b, _ := json.Marshal(m)
				fmt.Fprintf(stdout, "%s\n", b)
			}
			rows = append(rows, listRow(m))
			if len(rows) == *limit {
				// A status filter may stop inside a page: the rest of it
				// is not shown, and --page-token resumes after the page.
				break
			}
		}
		if next == "" {
			break
		}
	}
	if !*jsonOut {
		if err := writeTable(stdout, []string{"SESSION", "STATUS", "CREATED", "PRINCIPAL", "CONVERSATION", "SQL"}, rows); err != nil {
			return err
		}
	}
	if next != "" {
		fmt.Fprintf(stderr, "more sessions: querygate sessions list --page-token %s\n", next)
	}
	return nil
}

func knownStatus(s string) bool {
	return terminalStatus(s) || s == "pending_approval" || s == "running"
}

func listRow(m map[string]any) []string {
	str := func(k string) string { s, _ := m[k].(string); return s }
	created := str("created_at")
	if t, err := time.Parse(time.RFC3339Nano, created); err == nil {
		created = t.UTC().Format("2006-01-02 15:04:05")
	}
	who := ""
	if p, ok := m["principal"].(map[string]any); ok {
		who, _ = p["email"].(string)
		if who == "" {
			who, _ = p["subject"].(string)
		}
	}
	sql := strings.Join(strings.Fields(str("sql")), " ")
	return []string{str("session_id"), str("status"), created, who, str("conversation_id"), sql}
}

func runSessionsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sessions show", sessionsHelp, stderr)
	api := apiFlags(fs)
	wait := fs.Int("wait", 0, "wait up to this many seconds (at most 60) for the session to change")
	pageToken := fs.String("page-token", "", "the page of rows to show (next_page_token of the previous answer)")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() != 1 || *wait < 0 || *wait > 60 {
		fmt.Fprintln(stderr, "querygate sessions show: give one SESSION_ID; --wait is 0 to 60 seconds")
		return exitUsage
	}
	c, err := api.client(stderr)
	if err != nil {
		return commandError(stderr, "sessions show", err)
	}
	q := url.Values{}
	if *wait > 0 {
		q.Set("wait_seconds", strconv.Itoa(*wait))
	}
	if *pageToken != "" {
		q.Set("page_token", *pageToken)
	}
	path := "/v1/sessions/" + url.PathEscape(fs.Arg(0))
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	a, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return commandError(stderr, "sessions show", err)
	}
	if a.code != http.StatusOK {
		return failAnswer(stderr, "sessions show", a)
	}
	_, err = stdout.Write(a.raw)
	return err
}
