package main

import (
	"context"
	"fmt"
	"os"

	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
)

// limitLines are the limits `policy check` shows for the principal: as
// configured, or with their current use when a session store file is given.
func limitLines(ctx context.Context, pol *policy.Policy, store, email string, groups []string) ([]policy.LimitLine, error) {
	if store == "" || !pol.HasLimits() {
		return policy.ConfiguredLimits(pol.LimitsFor(email, groups)), nil
	}
	if _, err := os.Stat(store); err != nil {
		// Opening would create an empty store and report no use.
		return nil, fmt.Errorf("--store: %w", err)
	}
	st, err := session.OpenSQLite(store)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	enf, err := limits.New(limits.Config{Policy: pol, Counters: st, Sessions: st})
	if err != nil {
		return nil, err
	}
	u, err := enf.Usage(ctx, &session.Principal{Email: email, Groups: groups})
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	return u.Lines(), nil
}
