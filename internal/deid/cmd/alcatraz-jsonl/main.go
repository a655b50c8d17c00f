// Command alcatraz-jsonl is the benchmark baseline: a JSON Lines filter that
// masks the six infoTypes with hoophq/alcatraz. stdin to stdout.
package main

import (
	"fmt"
	"os"

	"github.com/querygate/querygate/internal/deid/internal/alcatrazjsonl"
)

func main() {
	if err := alcatrazjsonl.New().Filter(os.Stdin, os.Stdout, 0); err != nil {
		fmt.Fprintln(os.Stderr, "alcatraz-jsonl:", err)
		os.Exit(1)
	}
}
