package setup

import (
	"cmp"
	"fmt"

	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
)

// buildLimits makes the enforcer of the policy's limits, in both modes
// alike: intake admits through it and the steps deny over bytes_per_day
// and settle through it. A policy with limits and a session store without
// counters is a configuration error: the limits would silently not hold.
func buildLimits(pol *policy.Policy, cfg Config, p Ports, c *Components) (*limits.Enforcer, error) {
	if !pol.HasLimits() || p.Store == nil {
		return nil, nil
	}
	counters, ok := p.Store.(session.Counters)
	if !ok {
		return nil, fmt.Errorf("%w: the policy sets limits, and the session store (%T) keeps no counters", ErrConfig, p.Store)
	}
	enf, err := limits.New(limits.Config{Policy: pol, Counters: counters, Sessions: p.Store,
		JobTimeout: cmp.Or(cfg.Limits.JobTimeout, steps.DefaultLimits.JobTimeout), Now: c.Now, Logger: c.Logger})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.Limits = enf
	return enf, nil
}
