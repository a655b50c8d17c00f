package local

import (
	"context"
	"path/filepath"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/bqproc"
	"github.com/querygate/querygate/internal/gateway/hostguard"
)

// startBigQuery starts the embedded BigQuery: in this process, or, when
// cfg.BigQueryChild names a command, in a supervised child process that is
// recycled before its native memory grows large (see internal/bqproc). Both
// serve the same guarded REST endpoint on cfg.BigQueryAddr.
func startBigQuery(ctx context.Context, cfg Config, opts bqlocal.Options, allow hostguard.Allow) (endpoint string, closeFn func() error, err error) {
	if len(cfg.BigQueryChild) == 0 {
		bq, err := bqlocal.Start(ctx, opts)
		if err != nil {
			return "", nil, err
		}
		return bq.Endpoint(), bq.Close, nil
	}
	cmd := append(append([]string(nil), cfg.BigQueryChild...), "--data-dir", opts.DataDir, "--project", opts.Project)
	for _, f := range opts.YAMLFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return "", nil, err
		}
		cmd = append(cmd, "--data", abs)
	}
	sup, err := bqproc.Start(ctx, bqproc.Options{Command: cmd, MaxQueries: cfg.BigQueryMaxQueries, MaxRSS: cfg.BigQueryMaxRSS, Logger: opts.Logger})
	if err != nil {
		return "", nil, err
	}
	ep, stop, err := bqlocal.ServeGuarded(opts.Addr, opts.Token, allow, sup.Handler(), opts.Logger)
	if err != nil {
		sup.Close()
		return "", nil, err
	}
	return ep, func() error { stop(); return sup.Close() }, nil
}
