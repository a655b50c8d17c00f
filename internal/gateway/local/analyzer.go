package local

import (
	"github.com/querygate/querygate/internal/analyzerproc"
	"github.com/querygate/querygate/internal/policy"
)

// analyzerOption returns the engine option that analyzes in worker
// processes when cfg.Analyzer.Command is set (see internal/analyzerproc),
// and the pool's close function; with no command the engine analyzes in
// this process.
func analyzerOption(cfg Config) (policy.Analyzer, func() error, error) {
	if len(cfg.Analyzer.Command) == 0 {
		return nil, func() error { return nil }, nil
	}
	o := cfg.Analyzer
	if o.Logger == nil {
		o.Logger = cfg.Logger
	}
	p, err := analyzerproc.New(o)
	if err != nil {
		return nil, nil, err
	}
	return p, p.Close, nil
}
