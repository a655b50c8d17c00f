// Command deid-jsonl runs deid.RunCLI, the logic behind `querygate deid`, so
// the benchmark script can time it end to end before the querygate binary
// wires it in.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/querygate/querygate/internal/deid"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := deid.RunCLI(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "deid:", err)
		os.Exit(1)
	}
}
