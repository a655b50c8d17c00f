package main

import (
	"fmt"
	"io"
	"time"

	"github.com/querygate/querygate/internal/auth"
)

const tokenHelp = `usage: querygate token --subject EMAIL [--groups g1,g2] [--ttl 1h] [--data-dir .querygate]

Prints a dev ID token signed with the dev issuer key in the data dir, which
the local gateway accepts. The other commands mint one themselves for the
running dev gateway (see --as); this is for curl and agents.

example:
  export QUERYGATE_TOKEN=$(querygate token --subject alice@example.com --groups analysts)
`

func runToken(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", tokenHelp, stderr)
	dataDir := fs.String("data-dir", ".querygate", "the gateway's data dir (holds the dev issuer key)")
	subject := fs.String("subject", "", "subject and email of the token (required)")
	groups := fs.String("groups", "", "comma-separated groups claim")
	ttl := fs.Duration("ttl", time.Hour, "lifetime; negative gives an already-expired token")
	audience := fs.String("audience", auth.DevAudience, "audience claim")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if *subject == "" {
		fmt.Fprintln(stderr, "querygate token: --subject is required")
		return exitCode(2)
	}
	d, err := auth.LoadOrCreateDevIssuer(*dataDir, "")
	if err != nil {
		return err
	}
	gs := splitList(*groups)
	if *ttl == 0 {
		fmt.Fprintln(stderr, "querygate token: --ttl must not be zero")
		return exitCode(2)
	}
	tok, err := d.Mint(auth.MintOptions{Subject: *subject, Groups: gs, Audience: *audience, TTL: *ttl})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
