// Command functions serves one querygate Cloud Run function, selected by
// FUNCTION_TARGET (see functions.Targets). It builds that function at start
// and exits non-zero, with one JSON log entry naming every problem, when its
// configuration or clients fail. Every line it writes is a JSON log entry
// for Cloud Logging. It does not link the BigQuery emulator or any local
// stand-in.
package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/querygate/querygate/functions"
	"github.com/querygate/querygate/internal/analyzerproc"
	"github.com/querygate/querygate/internal/logging"
)

// Start-up retries for transient failures (OIDC discovery, first calls).
const (
	startAttempts = 4
	startBackoff  = time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	logger := logging.New(os.Stderr, slog.LevelInfo)
	slog.SetDefault(logger)
	// The functions framework and libraries log through the standard
	// logger; route each of their lines into a JSON entry too.
	log.SetFlags(0)
	log.SetOutput(lineLogger{logger})
	ctx = logging.WithLogger(ctx, logger)
	var err error
	if len(os.Args) == 2 && os.Args[1] == analyzerproc.WorkerCommand {
		// The policy function's analyzer worker (QUERYGATE_ANALYZER=process):
		// frames on stdout, exits when the function closes its stdin.
		// fd 1 carries the frames only (analyzerproc.ProtocolStdout).
		var proto *os.File
		if proto, err = analyzerproc.ProtocolStdout(); err == nil {
			err = analyzerproc.ServeWorker(ctx, os.Stdin, proto)
			proto.Close()
		}
	} else {
		err = realMain(ctx)
	}
	stop()
	if err != nil {
		logger.ErrorContext(ctx, "querygate function stopped", "error", err.Error())
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	target := os.Getenv("FUNCTION_TARGET")
	if target == "" {
		return fmt.Errorf("FUNCTION_TARGET is required: one of %s", strings.Join(functions.Targets(), ", "))
	}
	if err := functions.Prepare(ctx, target, startAttempts, startBackoff); err != nil {
		return fmt.Errorf("start %s: %w", target, err)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	slog.InfoContext(ctx, "serving querygate function", "target", target, "port", port)
	errc := make(chan error, 1)
	go func() { errc <- funcframework.StartHostPort("", port) }()
	select {
	case err := <-errc:
		return fmt.Errorf("funcframework: %w", err)
	case <-ctx.Done():
		// Cloud Run sends SIGTERM before stopping an instance.
		return nil
	}
}

// lineLogger turns each line written to the standard logger into an INFO
// entry.
type lineLogger struct{ l *slog.Logger }

func (w lineLogger) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(p), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			w.l.Info(line)
		}
	}
	return len(p), nil
}
