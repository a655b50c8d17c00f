package functions

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/querygate/querygate/internal/analyzerproc"
)

// TestMain lets this test binary serve as the policy analyzer's worker, as
// the cloud binary does (cmd/functions): the composition starts its own
// executable with analyzerproc.WorkerCommand, which here is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == analyzerproc.WorkerCommand {
		if err := analyzerproc.ServeWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "analyzer worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
