package policy

import (
	"context"

	"github.com/querygate/querygate/internal/sqlscan"
)

// Analyzer is how the engine runs sqlscan's analysis: sqlscan.Analyze in
// this process (the default), or an out-of-process pool of recycled
// workers (internal/analyzerproc) whose deadline errors the engine denies
// as builtin.analysis_timeout.
type Analyzer interface {
	Analyze(ctx context.Context, sql string, opts sqlscan.Options) (*sqlscan.Analysis, error)
}

// AnalyzerFunc adapts a function to Analyzer.
type AnalyzerFunc func(ctx context.Context, sql string, opts sqlscan.Options) (*sqlscan.Analysis, error)

// Analyze calls f.
func (f AnalyzerFunc) Analyze(ctx context.Context, sql string, opts sqlscan.Options) (*sqlscan.Analysis, error) {
	return f(ctx, sql, opts)
}

// WithAnalyzer makes the engine analyze through a instead of calling
// sqlscan.Analyze in process.
func WithAnalyzer(a Analyzer) EngineOption {
	return func(e *Engine) {
		if a != nil {
			e.analyzer = a
		}
	}
}
