package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/bqproc"
)

// bigQueryChildCommand runs the embedded BigQuery for a parent `querygate
// dev` (internal/bqproc); it is not a user command.
const bigQueryChildCommand = "internal-bigquery"

func runBigQueryChild(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(bigQueryChildCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "the emulator's state directory")
	project := fs.String("project", "querygate-local", "the local project")
	var data stringList
	fs.Var(&data, "data", "extra dataset file (repeatable)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *dataDir == "" {
		fmt.Fprintln(stderr, "querygate internal-bigquery: --data-dir is required (this command is started by `querygate dev`)")
		return exitCode(2)
	}
	return bqproc.ServeChild(ctx, bqlocal.Options{Project: *project, DataDir: *dataDir, YAMLFiles: data,
		Projects: []*bqlocal.Project{bqlocal.DemoProject(*project)}, Debug: os.Getenv("QUERYGATE_BIGQUERY_DEBUG") != ""}, stdin, stdout)
}

// servePprof serves the runtime profiles on a loopback address only.
func servePprof(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("--pprof must listen on a loopback address")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	go func() { _ = srv.Serve(ln) }()
	return nil
}
