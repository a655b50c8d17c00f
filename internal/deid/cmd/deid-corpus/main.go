// Command deid-corpus writes the seeded benchmark corpus as JSON Lines, and
// with -recall FILE scores a filter's output against the seeded values.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/querygate/querygate/internal/deid/corpus"
)

func main() {
	rows := flag.Int("rows", 100000, "rows to generate")
	seed := flag.Uint64("seed", 1, "generator seed")
	recall := flag.String("recall", "", "score this JSON Lines output instead of writing the corpus")
	flag.Parse()
	c := corpus.Generate(*seed, *rows)
	if *recall == "" {
		os.Stdout.Write(c.JSONL())
		return
	}
	out, err := os.ReadFile(*recall)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	found, total, err := c.RecallJSONL(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d %d %.4f\n", found, total, float64(found)/float64(total))
}
