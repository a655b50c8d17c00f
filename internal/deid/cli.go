package deid

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
)

// RunCLI implements `querygate deid [--config FILE] [--stats] [--workers N]`:
// JSON Lines rows ({column: value} per line) on stdin, de-identified rows in
// the same shape and order on stdout. With no --config it uses DefaultConfig.
// --stats writes one JSON object to stderr:
//
//	{"rows":N,"cells":N,"findings":{"EMAIL_ADDRESS":N,...},"elapsed_ms":F}
//
// On any error nothing more is written to stdout and the error (which never
// holds cell values) is returned.
func RunCLI(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deid", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "masking config file (YAML or JSON; see docs/masking.md); default: built-in infoTypes replaced with [INFO_TYPE]")
	stats := fs.Bool("stats", false, "print rows, cells, findings by infoType and elapsed time to stderr")
	workers := fs.Int("workers", 0, "worker goroutines (default GOMAXPROCS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("deid: unexpected arguments %q", fs.Args())
	}
	cfg := DefaultConfig()
	if *configPath != "" {
		src, err := os.ReadFile(*configPath)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		if cfg, err = LoadConfig(src); err != nil {
			return fmt.Errorf("load %s: %w", *configPath, err)
		}
	}
	var opts []LocalOption
	if *workers > 0 {
		opts = append(opts, WithWorkers(*workers))
	}
	l, err := NewLocal(cfg, opts...)
	if err != nil {
		return err
	}
	st, err := l.Stream(ctx, stdin, stdout)
	if err != nil {
		return err
	}
	if *stats {
		return writeStats(stderr, st)
	}
	return nil
}

func writeStats(w io.Writer, st *Stats) error {
	out := struct {
		Rows          int64            `json:"rows"`
		Cells         int64            `json:"cells"`
		Findings      map[string]int64 `json:"findings"`
		MaskedColumns []string         `json:"masked_columns,omitempty"`
		ElapsedMS     float64          `json:"elapsed_ms"`
	}{st.Rows, st.Cells, st.Findings, st.MaskedColumns, float64(st.Elapsed.Microseconds()) / 1000}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
