package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestFailAnswerExitCodes: each refusal of the API maps to the exit code
// `querygate help` documents, with the gateway's message on stderr.
func TestFailAnswerExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		code   int
		body   map[string]any
		exit   exitCode
		stderr string
	}{
		{"unauthenticated", 401, map[string]any{"error": "the ID token is invalid"}, exitUnavailable, "querygate x: the gateway did not accept the token (401): the ID token is invalid\n"},
		{"self approval", 403, map[string]any{"error": "You cannot approve your own query.", "code": "self_approval"}, exitRefused, "querygate x: refused (403 self_approval): You cannot approve your own query.\n"},
		{"not pending", 409, map[string]any{"error": "no longer waiting", "code": "not_pending"}, exitRefused, "querygate x: refused (409 not_pending): no longer waiting\n"},
		{"not found", 404, map[string]any{"error": "no such session"}, exitFailed, "querygate x: 404: no such session\n"},
		{"bad request", 400, map[string]any{"error": "sql is required"}, exitFailed, "querygate x: 400: sql is required\n"},
		{"busy", 429, map[string]any{}, exitUnavailable, "querygate x: the gateway is busy (429): Too Many Requests; retry later\n"},
		{"server fault", 503, map[string]any{"error": "retry later"}, exitUnavailable, "querygate x: the gateway failed (503): retry later\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var errb bytes.Buffer
			got := failAnswer(&errb, "x", &answer{code: tc.code, body: tc.body})
			if got != tc.exit || errb.String() != tc.stderr {
				t.Errorf("failAnswer = %v, %q; want %v, %q", got, errb.String(), tc.exit, tc.stderr)
			}
		})
	}
}

// TestHelpShowsExample: `querygate CMD --help` exits 0 with an example.
func TestHelpShowsExample(t *testing.T) {
	t.Parallel()
	for _, cmd := range [][]string{{"dev"}, {"token"}, {"query"}, {"sessions"}, {"sessions", "list"}, {"sessions", "show"}, {"replay"},
		{"approve"}, {"deny"}, {"approvals"}, {"policy"}, {"policy", "check"}, {"deid"}, {"workflows"}, {"audit"}} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			stdout, stderr, err := run(t, append(cmd, "--help")...)
			if err != nil || !strings.Contains(stdout+stderr, "example") || !strings.Contains(stdout+stderr, "querygate "+cmd[0]) {
				t.Errorf("--help: err %v\n%s%s", err, stdout, stderr)
			}
		})
	}
}
