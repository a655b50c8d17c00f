package main

import (
	"context"
	"flag"
	"io"
	"os"
	"time"

	"github.com/querygate/querygate/internal/analyzerproc"
)

// analyzerWorkerCommand runs one policy-analyzer worker for a parent
// `querygate dev` (internal/analyzerproc); it is not a user command.
const analyzerWorkerCommand = analyzerproc.WorkerCommand

func runAnalyzerWorker(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(analyzerWorkerCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return exitCode(2)
	}
	// A real worker process keeps fd 1 for the frames only (ZetaSQL's
	// C++ logs to it); a test calling this with its own writer does not.
	if stdout == io.Writer(os.Stdout) {
		proto, err := analyzerproc.ProtocolStdout()
		if err != nil {
			return err
		}
		defer proto.Close()
		stdout = proto
	}
	return analyzerproc.ServeWorker(ctx, stdin, stdout)
}

// analyzerFlags are `querygate dev`'s flags for the analyzer workers.
type analyzerFlags struct {
	inProcess   *bool
	workers     *int
	maxAnalyses *int
	maxRSSMB    *int64
	timeout     *time.Duration
}

func addAnalyzerFlags(fs *flag.FlagSet) analyzerFlags {
	return analyzerFlags{
		inProcess:   fs.Bool("analyzer-in-process", false, "run the policy analyzer (ZetaSQL) in this process instead of recycled, time-boxed worker processes"),
		workers:     fs.Int("analyzer-workers", analyzerproc.DefaultWorkers, "policy analyzer worker processes (analyses that may run at once)"),
		maxAnalyses: fs.Int("analyzer-max-analyses", analyzerproc.DefaultMaxAnalyses, "replace a policy analyzer worker after this many analyses"),
		maxRSSMB:    fs.Int64("analyzer-max-rss-mb", analyzerproc.DefaultMaxRSS>>20, "replace a policy analyzer worker once its memory passes this many MiB"),
		timeout:     fs.Duration("analyzer-timeout", analyzerproc.DefaultTimeout, "deny a request whose SQL analysis runs longer than this (the worker is killed)"),
	}
}

// options returns the pool options, or zero options (in process).
func (f analyzerFlags) options(exe string) analyzerproc.Options {
	if *f.inProcess {
		return analyzerproc.Options{}
	}
	return analyzerproc.Options{Command: []string{exe, analyzerWorkerCommand}, Workers: *f.workers,
		MaxAnalyses: *f.maxAnalyses, MaxRSS: *f.maxRSSMB << 20, Timeout: *f.timeout}
}
