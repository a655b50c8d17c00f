package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Exit codes of the commands, documented in `querygate help`.
const (
	exitFailed      exitCode = 1 // the query failed, or what was asked for does not exist
	exitUsage       exitCode = 2 // bad flags or arguments
	exitRefused     exitCode = 3 // policy denied, an approver rejected, approval expired, or a decision was refused
	exitPending     exitCode = 4 // --wait ended while the query still waited or ran
	exitUnavailable exitCode = 5 // the gateway was unreachable, refused the token, or failed
)

// defaultGateway is the address `querygate dev` listens on by default.
const defaultGateway = "http://127.0.0.1:8080"

// maxAnswerBytes bounds what the CLI reads of one API answer: a page of
// sessions is at most 4 MiB, a page of rows well under that.
const maxAnswerBytes = 64 << 20

// apiOpts are the flags every command that works over the API shares.
type apiOpts struct {
	url, token, as, asGroups *string
}

// apiFlags registers --url, --token and the dev identity flags on fs.
func apiFlags(fs *flag.FlagSet) *apiOpts {
	return &apiOpts{
		url:      fs.String("url", "", "gateway URL (default: $QUERYGATE_URL, else the running querygate dev gateway, else "+defaultGateway+")"),
		token:    fs.String("token", "", "your own ID token (default: $QUERYGATE_TOKEN, else a fresh dev token from the running dev gateway)"),
		as:       fs.String("as", "", "dev gateway only, without a token: the identity of the minted dev token (default "+defaultDevSubject+")"),
		asGroups: fs.String("as-groups", "", "dev gateway only, with --as: comma-separated groups of the minted dev token"),
	}
}

// client resolves the gateway and the token: flags, then the environment,
// then the local dev gateway (devstate.go).
func (o *apiOpts) client(stderr io.Writer) (*apiClient, error) {
	base := strings.TrimRight(firstOf(*o.url, os.Getenv("QUERYGATE_URL")), "/")
	dev, devErr := readDevState()
	if base == "" {
		base = defaultGateway
		if devErr == nil {
			base = dev.URL
		}
	}
	tok := firstOf(*o.token, os.Getenv("QUERYGATE_TOKEN"))
	if tok == "" {
		t, who, err := mintDevToken(dev, devErr, base, *o.as, *o.asGroups)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "querygate: no token given; using a dev token for %s from the dev gateway at %s\n", who, base)
		tok = t
	} else if *o.as != "" {
		return nil, usageError("--as mints a dev token; it cannot be combined with --token or $QUERYGATE_TOKEN")
	}
	return &apiClient{base: base, token: tok, hc: &http.Client{Timeout: 2 * time.Minute}}, nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// usageError is a mistake in the command line: printed, exit code 2.
type usageError string

func (e usageError) Error() string { return string(e) }

// apiClient calls the gateway's /v1 API with a bearer token.
type apiClient struct {
	base, token string
	hc          *http.Client
}

// answer is one API response: the status, the body exactly as it came,
// and the body decoded when it is a JSON object.
type answer struct {
	code int
	raw  []byte
	body map[string]any
}

func (a *answer) str(key string) string {
	s, _ := a.body[key].(string)
	return s
}

// do sends one request. The error is for a gateway that could not be
// reached or answered something that is not JSON; an HTTP error status is
// an answer.
func (c *apiClient) do(ctx context.Context, method, path string, body any) (*answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &unavailableError{fmt.Errorf("call the gateway at %s: %w", c.base, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, &unavailableError{fmt.Errorf("read the gateway's answer: %w", err)}
	}
	a := &answer{code: resp.StatusCode, raw: raw}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		return nil, &unavailableError{fmt.Errorf("the gateway at %s answered %d with a body that is not a JSON object", c.base, resp.StatusCode)}
	}
	return a, nil
}

// unavailableError is a gateway that could not be used: exit code 5.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// failAnswer prints the gateway's refusal or error for a non-2xx answer
// and returns the exit code that fits it: 404 → 1, 403/409 → 3 (refused),
// 401, 429 and 5xx → 5, other 4xx → 1.
func failAnswer(stderr io.Writer, cmd string, a *answer) error {
	msg := a.str("error")
	if msg == "" {
		msg = http.StatusText(a.code)
	}
	code := a.str("code")
	if code != "" {
		code = " " + code
	}
	switch {
	case a.code == http.StatusUnauthorized:
		fmt.Fprintf(stderr, "querygate %s: the gateway did not accept the token (%d%s): %s\n", cmd, a.code, code, msg)
		return exitUnavailable
	case a.code == http.StatusForbidden || a.code == http.StatusConflict:
		fmt.Fprintf(stderr, "querygate %s: refused (%d%s): %s\n", cmd, a.code, code, msg)
		return exitRefused
	case a.code == http.StatusTooManyRequests:
		fmt.Fprintf(stderr, "querygate %s: the gateway is busy (%d%s): %s; retry later\n", cmd, a.code, code, msg)
		return exitUnavailable
	case a.code >= 500:
		fmt.Fprintf(stderr, "querygate %s: the gateway failed (%d%s): %s\n", cmd, a.code, code, msg)
		return exitUnavailable
	}
	fmt.Fprintf(stderr, "querygate %s: %d%s: %s\n", cmd, a.code, code, msg)
	return exitFailed
}

// commandError turns an error of the client setup or a call into a
// printed message and an exit code.
func commandError(stderr io.Writer, cmd string, err error) error {
	var ue usageError
	var ua *unavailableError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "querygate %s: %s\n", cmd, ue)
		return exitUsage
	case errors.As(err, &ua):
		fmt.Fprintf(stderr, "querygate %s: %s\n", cmd, ua)
		return exitUnavailable
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "querygate %s: interrupted\n", cmd)
		return exitFailed
	}
	fmt.Fprintf(stderr, "querygate %s: %s\n", cmd, err)
	return exitFailed
}

// newFlags returns a flag set whose -h prints help (usage text with an
// example) and then the flags.
func newFlags(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, help)
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args (flags may follow positional arguments) and maps
// -h to exit 0 and a bad flag to exit 2; ok is false when the command
// should return err at once.
func parseFlags(fs *flag.FlagSet, args []string) (ok bool, err error) {
	switch err := fs.Parse(reorder(fs, args)); {
	case errors.Is(err, flag.ErrHelp):
		return false, nil
	case err != nil:
		return false, exitUsage
	}
	return true, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
