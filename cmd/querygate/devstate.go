package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/auth"
)

// A CLI run from any directory finds the local dev gateway through a small
// state file that `querygate dev` writes in the user's config directory
// (and removes when it stops): the gateway's URL and its data dir. With no
// token given, the CLI mints a fresh dev token with the dev issuer's key
// from that data dir, as `querygate token` does.
//
// There is deliberately no HTTP endpoint that hands out dev tokens: the
// agent querygate governs usually runs on the same machine, and any
// loopback endpoint would let it mint an approver's token and approve its
// own query. Minting stays behind the data dir's file permissions (0700,
// the key 0600), exactly where `querygate token` already has it; the state
// file only says where to look. A dev token is minted only for a loopback
// gateway that is the one the state file names, so a dev token never goes
// to another host.

// devState is the state file's content.
type devState struct {
	URL     string `json:"url"`
	DataDir string `json:"data_dir"`
	PID     int    `json:"pid"`
}

// devStateFile is the state file's name inside the user's config dir.
const devStateFile = "querygate/dev-gateway.json"

// defaultDevSubject is the identity of a minted dev token without --as:
// the analyst of the dev banner's first query.
const (
	defaultDevSubject = "alice@example.com"
	defaultDevGroups  = "analysts"
)

func devStatePath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, devStateFile), nil
}

// writeDevState records the running dev gateway; the returned func removes
// the file again if it still names this process.
func writeDevState(gatewayURL, dataDir string) (func(), error) {
	p, err := devStatePath()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(devState{URL: gatewayURL, DataDir: abs, PID: os.Getpid()})
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return nil, err
	}
	return func() {
		if st, err := readDevState(); err == nil && st.PID == os.Getpid() {
			_ = os.Remove(p)
		}
	}, nil
}

// errNoDevGateway: no `querygate dev` recorded itself.
var errNoDevGateway = errors.New("no running `querygate dev` recorded itself")

func readDevState() (*devState, error) {
	p, err := devStatePath()
	if err != nil {
		return nil, errNoDevGateway
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoDevGateway
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", devStateFile, err)
	}
	var st devState
	if err := json.Unmarshal(b, &st); err != nil || st.URL == "" || st.DataDir == "" {
		return nil, fmt.Errorf("%s is not a dev gateway state file", devStateFile)
	}
	return &st, nil
}

// mintDevToken mints a dev token for the gateway at base, which must be
// the loopback dev gateway of the state file.
func mintDevToken(st *devState, stErr error, base, as, asGroups string) (tok, who string, err error) {
	const how = "send your ID token with --token or $QUERYGATE_TOKEN"
	if stErr != nil {
		return "", "", usageError(fmt.Sprintf("no token: %s (%v, so no dev token can be minted)", how, stErr))
	}
	if !loopbackURL(base) || strings.TrimRight(st.URL, "/") != base {
		return "", "", usageError(fmt.Sprintf("no token: %s (dev tokens are minted only for the local dev gateway at %s)", how, st.URL))
	}
	if _, err := os.Stat(filepath.Join(st.DataDir, auth.DevKeyFile)); err != nil {
		return "", "", usageError(fmt.Sprintf("no token: %s (the dev gateway's issuer key is not readable: %v)", how, err))
	}
	dev, err := auth.LoadOrCreateDevIssuer(st.DataDir, "")
	if err != nil {
		return "", "", err
	}
	who, groups := as, splitList(asGroups)
	if who == "" {
		if asGroups != "" {
			return "", "", usageError("--as-groups needs --as")
		}
		who, groups = defaultDevSubject, []string{defaultDevGroups}
	}
	tok, err = dev.Mint(auth.MintOptions{Subject: who, Groups: groups, Audience: auth.DevAudience, TTL: 15 * time.Minute})
	return tok, who, err
}

// loopbackURL reports whether u is an http URL of a loopback address.
func loopbackURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "http" {
		return false
	}
	h := p.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func splitList(s string) []string {
	var out []string
	for _, g := range strings.Split(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}
