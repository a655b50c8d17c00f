package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/auth"
)

// TestDevTokenDefaults: with no token given, the API commands mint a dev
// token only for the loopback dev gateway the state file names, with the
// key from its data dir; everything else is a usage error that says how
// to send a token.
func TestDevTokenDefaults(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("QUERYGATE_URL", "")
	t.Setenv("QUERYGATE_TOKEN", "")
	dataDir := t.TempDir()
	noFlags := func(url, token, as, groups string) *apiOpts {
		return &apiOpts{url: &url, token: &token, as: &as, asGroups: &groups}
	}
	var stderr bytes.Buffer

	// No state file: no dev token.
	_, err := noFlags("", "", "", "").client(&stderr)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--token or $QUERYGATE_TOKEN") {
		t.Fatalf("without a dev gateway: err %v, want a usage error naming --token", err)
	}

	if _, err := auth.LoadOrCreateDevIssuer(dataDir, "http://127.0.0.1:18080/dev/oidc"); err != nil {
		t.Fatal(err)
	}
	forget, err := writeDevState("http://127.0.0.1:18080", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := noFlags("", "", "", "").client(&stderr)
	if err != nil {
		t.Fatal(err)
	}
	if c.base != "http://127.0.0.1:18080" {
		t.Errorf("base = %q, want the dev gateway's URL", c.base)
	}
	claims := claimsOf(t, c.token)
	if diff := cmp.Diff(map[string]any{"sub": "alice@example.com", "iss": "http://127.0.0.1:18080/dev/oidc", "groups": []any{"analysts"}},
		map[string]any{"sub": claims["sub"], "iss": claims["iss"], "groups": claims["groups"]}); diff != "" {
		t.Errorf("default dev token claims (-want, +got):\n%s", diff)
	}
	c, err = noFlags("", "", "approver1@example.com", "").client(&stderr)
	if err != nil {
		t.Fatal(err)
	}
	if claims := claimsOf(t, c.token); claims["sub"] != "approver1@example.com" || claims["groups"] != nil {
		t.Errorf("--as token claims = %v, want approver1 without groups", claims)
	}

	for _, tc := range []struct {
		name, url, token, as, want string
	}{
		{name: "another host", url: "https://querygate.example.com", want: "only for the local dev gateway"},
		{name: "another loopback gateway", url: "http://127.0.0.1:9999", want: "only for the local dev gateway"},
		{name: "as with a token", url: "http://127.0.0.1:18080", token: "t", as: "x@example.com", want: "cannot be combined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := noFlags(tc.url, tc.token, tc.as, "").client(&stderr)
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want a usage error containing %q", err, tc.want)
			}
		})
	}

	// A state file whose data dir lost its key mints nothing (and never
	// creates a key).
	if err := os.Remove(filepath.Join(dataDir, auth.DevKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := noFlags("", "", "", "").client(&stderr); !errors.As(err, &ue) || !strings.Contains(err.Error(), "issuer key is not readable") {
		t.Errorf("without the key: err %v, want a usage error", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, auth.DevKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the CLI created a dev issuer key: %v", err)
	}
	forget()
	if _, err := readDevState(); !errors.Is(err, errNoDevGateway) {
		t.Errorf("after forget: %v, want no dev gateway", err)
	}
}

func TestReorder(t *testing.T) {
	t.Parallel()
	fs := newFlags("x", "", &bytes.Buffer{})
	fs.Bool("json", false, "")
	fs.String("comment", "", "")
	got := reorder(fs, []string{"qs_1", "--json", "--comment", "fine", "-comment=x", "--", "-not-a-flag"})
	want := []string{"--json", "--comment", "fine", "-comment=x", "--", "qs_1", "-not-a-flag"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reorder (-want, +got):\n%s", diff)
	}
}

func TestTableCells(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := writeTable(&out, []string{"name", "n"}, [][]string{{"a\x1b[31mb\tc", cellString(float64(3))}, {strings.Repeat("x", 70), cellString(nil)}}); err != nil {
		t.Fatal(err)
	}
	want := "name" + strings.Repeat(" ", 58) + "n\n" +
		"a\uFFFD[31mb c" + strings.Repeat(" ", 53) + "3\n" +
		strings.Repeat("x", 59) + "…  NULL\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want, +got):\n%s", diff)
	}
}
