// Command worker is the zetafuzz worker: it reads fuzz inputs framed by
// zetafuzz.WriteCall on stdin, runs the named target's check against the
// real analyzer and policy engine, and answers each with
// zetafuzz.WriteReply on stdout, until stdin closes. A panic in a check is
// answered as a violation with its stack; a crash in ZetaSQL's C++ ends
// the process, which the fuzz target reports.
//
//	worker -repo DIR    DIR is the repository root (for testing/sql)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/querygate/querygate/internal/analyzerproc"
	"github.com/querygate/querygate/testing/zetafuzz"
	"github.com/querygate/querygate/testing/zetafuzz/check"
)

func main() {
	if err := realMain(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "zetafuzz worker:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	repo := flag.String("repo", ".", "repository root")
	flag.Parse()
	c, err := check.New(*repo)
	if err != nil {
		return err
	}
	// The frames get fd 1 to themselves: ZetaSQL's C++ logs to stdout on
	// an internal check failure, which read as a 842,019,382-byte frame.
	proto, err := analyzerproc.ProtocolStdout()
	if err != nil {
		return err
	}
	defer proto.Close()
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(proto)
	for {
		call, err := zetafuzz.ReadCall(in)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := zetafuzz.WriteReply(out, run(ctx, c, call)); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
}

// run dispatches one call and returns its violation, "" if none.
func run(ctx context.Context, c *check.Checker, call zetafuzz.Call) (violation string) {
	defer func() {
		if r := recover(); r != nil {
			violation = fmt.Sprintf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	arg := func(i int) []byte {
		if i < len(call.Args) {
			return call.Args[i]
		}
		return nil
	}
	var err error
	switch call.Target {
	case zetafuzz.TargetAnalyze:
		err = c.Analyze(ctx, string(arg(0)))
	case zetafuzz.TargetLimits:
		shape, count := arg(0), arg(1)
		if len(shape) != 1 || len(count) != 2 {
			return "limits: want a 1-byte shape and a 2-byte count"
		}
		err = c.Limits(ctx, shape[0], uint16(count[0])<<8|uint16(count[1]), string(arg(2)))
	case zetafuzz.TargetEvaluate:
		err = c.Evaluate(ctx, string(arg(0)))
	case zetafuzz.TargetLoad:
		err = check.Load(string(arg(0)))
	default:
		return fmt.Sprintf("unknown target %q", call.Target)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}
