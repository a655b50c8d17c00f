package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/querygate/querygate/internal/replay"
	"github.com/querygate/querygate/internal/session"
)

const replayHelp = `usage: querygate replay (SESSION_ID | --conversation ID)
       querygate replay --data-dir DIR (SESSION_ID | --conversation ID)
       querygate replay --firestore-project P (SESSION_ID | --conversation ID)

Prints a recorded session as it happened: who asked, the prompt, the SQL,
policy's decision, the approval, the timeline with its hash chain checked,
and the masked rows exactly as the agent received them. By default it reads
the sessions API (GET /v1/sessions/{id}) with your token, under its rules
(requester, approvers, auditors). --data-dir reads a local gateway's store
and --firestore-project Firestore directly, for operators.

Exit codes: 0 ok, 1 no such session, 5 gateway unreachable or the token refused.

examples:
  querygate replay qs_0123
  querygate replay --conversation conv-42
  querygate replay --data-dir .querygate qs_0123
`

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	stdout = replayOut(stdout)
	fs := newFlags("replay", replayHelp, stderr)
	api := apiFlags(fs)
	dataDir := fs.String("data-dir", "", "read the session store of the local gateway with this data dir instead of the API")
	conv := fs.String("conversation", "", "replay every session of this conversation")
	fsProject := fs.String("firestore-project", "", "read sessions from Firestore in this project (Application Default Credentials) instead of the API")
	fsDatabase := fs.String("firestore-database", "(default)", "Firestore database, with --firestore-project")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	id := fs.Arg(0)
	if (id == "") == (*conv == "") || fs.NArg() > 1 || (*dataDir != "" && *fsProject != "") {
		fmt.Fprint(stderr, replayHelp)
		return exitUsage
	}
	if *dataDir == "" && *fsProject == "" {
		c, err := api.client(stderr)
		if err != nil {
			return commandError(stderr, "replay", err)
		}
		return replayAPI(ctx, c, id, *conv, stdout, stderr)
	}
	var st session.Store
	var err error
	if *fsProject != "" {
		st, err = session.OpenFirestore(ctx, *fsProject, *fsDatabase)
	} else {
		st, err = session.OpenSQLite(filepath.Join(*dataDir, "sessions.db"))
	}
	if err != nil {
		return err
	}
	defer st.Close()
	if err := replay.Run(ctx, st, id, *conv, stdout); err != nil {
		if errors.Is(err, session.ErrNotFound) {
			fmt.Fprintln(stderr, "querygate replay:", err)
			return exitFailed
		}
		return err
	}
	return nil
}

// replayAPI prints sessions read through the sessions API, as replay.Run
// prints them from a store.
func replayAPI(ctx context.Context, c *apiClient, id, conv string, stdout, stderr io.Writer) error {
	if id != "" {
		v, fail := apiView(ctx, c, id, stderr)
		if fail != nil {
			return fail
		}
		return replay.WriteText(stdout, v, 0)
	}
	var ids []string
	next := ""
	for {
		q := url.Values{"conversation_id": {conv}, "page_size": {"200"}}
		if next != "" {
			q.Set("page_token", next)
		}
		a, err := c.do(ctx, http.MethodGet, "/v1/sessions?"+q.Encode(), nil)
		if err != nil {
			return commandError(stderr, "replay", err)
		}
		if a.code != http.StatusOK {
			return failAnswer(stderr, "replay", a)
		}
		for _, x := range anySlice(a.body["sessions"]) {
			if m, ok := x.(map[string]any); ok {
				if s, ok := m["session_id"].(string); ok {
					ids = append(ids, s)
				}
			}
		}
		if next = a.str("next_page_token"); next == "" {
			break
		}
	}
	if len(ids) == 0 {
		fmt.Fprintf(stderr, "querygate replay: no session of conversation %s that you may read\n", conv)
		return exitFailed
	}
	slices.Reverse(ids) // the API lists newest first
	var views []*replay.View
	for _, sid := range ids {
		v, fail := apiView(ctx, c, sid, stderr)
		if fail != nil {
			return fail
		}
		views = append(views, v)
	}
	first := views[0].Session.CreatedAt
	fmt.Fprintf(stdout, "conversation %s: %d sessions\n", conv, len(views))
	for _, v := range views {
		fmt.Fprintln(stdout)
		if err := replay.WriteText(stdout, v, v.Session.CreatedAt.Sub(first)); err != nil {
			return err
		}
	}
	return nil
}

// apiSession is GET /v1/sessions/{id}'s answer: the session's fields, its
// error messages, and one page of the masked result.
type apiSession struct {
	session.Session
	Errors        []string        `json:"errors"`
	Schema        []session.Field `json:"schema"`
	TotalRows     int64           `json:"total_rows"`
	MaskedColumns []string        `json:"masked_columns"`
	Truncated     bool            `json:"truncated"`
	Rows          json.RawMessage `json:"rows"`
	NextPageToken string          `json:"next_page_token"`
}

// maxReplayPages bounds the pages one replay reads (the gateway's storage
// caps keep real sessions far below it).
const maxReplayPages = 10000

// apiView reads session id and every page of its rows through the API.
// fail is the printed failure's exit code.
func apiView(ctx context.Context, c *apiClient, id string, stderr io.Writer) (v *replay.View, fail error) {
	var r apiReplay
	token := ""
	for i := 0; i < maxReplayPages; i++ {
		path := "/v1/sessions/" + url.PathEscape(id)
		if token != "" {
			path += "?page_token=" + url.QueryEscape(token)
		}
		a, err := c.do(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, commandError(stderr, "replay", err)
		}
		if a.code != http.StatusOK {
			return nil, failAnswer(stderr, "replay", a)
		}
		if token, err = r.add(a.raw); err != nil {
			return nil, commandError(stderr, "replay", fmt.Errorf("session %s: %w", id, err))
		}
		if token == "" {
			break
		}
	}
	v, err := r.view()
	if err != nil {
		return nil, commandError(stderr, "replay", err)
	}
	return v, nil
}

// apiReplay assembles a session from GET /v1/sessions/{id} answers, the
// first and then one per page of rows. The answers come from the gateway
// and are checked as outside input.
type apiReplay struct {
	s     *session.Session
	pages []*session.Page
}

// add takes one answer and returns its next_page_token.
func (r *apiReplay) add(raw []byte) (next string, err error) {
	var as apiSession
	if err := json.Unmarshal(raw, &as); err != nil {
		return "", fmt.Errorf("the gateway's answer is not a session in the API's shape: %w", err)
	}
	if r.s == nil {
		r.s = &as.Session
		for _, m := range as.Errors {
			r.s.Errors = append(r.s.Errors, session.ErrorEntry{Step: "-", Message: m})
		}
		if as.Schema != nil {
			r.s.Result = &session.Result{Schema: as.Schema, MaskedColumns: as.MaskedColumns, TotalRows: as.TotalRows, Truncated: as.Truncated}
		}
	}
	if r.s.Result != nil && len(as.Rows) > 0 {
		var n []json.RawMessage
		if err := json.Unmarshal(as.Rows, &n); err != nil {
			return "", fmt.Errorf("page %d is not a JSON array", len(r.pages))
		}
		if len(n) > 0 {
			var buf bytes.Buffer
			_ = json.Compact(&buf, as.Rows)
			r.pages = append(r.pages, &session.Page{Index: len(r.pages), Rows: buf.Bytes(), Count: len(n)})
			r.s.Result.StoredRows += int64(len(n))
		}
	}
	return as.NextPageToken, nil
}

func (r *apiReplay) view() (*replay.View, error) {
	if r.s == nil {
		return nil, fmt.Errorf("the gateway sent no session")
	}
	if r.s.Result != nil {
		r.s.Result.Pages = len(r.pages)
	}
	return replay.NewView(r.s, r.pages)
}

// terminalSafe passes text to a terminal with its control characters
// other than newline and tab replaced: a session's fields and rows come
// from agents and data, and a terminal must not run their escape
// sequences. Output to a file or a pipe stays byte for byte.
type terminalSafe struct{ w io.Writer }

func (t terminalSafe) Write(p []byte) (int, error) {
	safe := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return unicode.ReplacementChar
	}, string(p))
	if _, err := io.WriteString(t.w, safe); err != nil {
		return 0, err
	}
	return len(p), nil
}

// replayOut is where replay prints: terminalSafe on a terminal.
func replayOut(w io.Writer) io.Writer {
	if isTerminal(w) {
		return terminalSafe{w}
	}
	return w
}
