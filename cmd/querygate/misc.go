package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"cloud.google.com/go/bigquery"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/workflow"
)

func runDeid(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := deid.RunCLI(ctx, args, stdin, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "querygate deid:", err)
		return exitCode(1)
	}
	return nil
}

func runWorkflows(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "validate" {
		fmt.Fprintln(stderr, "usage: querygate workflows validate FILE")
		return exitCode(2)
	}
	src, err := os.ReadFile(args[1])
	if err != nil {
		return err
	}
	probs := workflow.Validate(src, args[1])
	for _, p := range probs {
		fmt.Fprintln(stdout, p.String())
	}
	if len(probs) > 0 {
		return exitCode(1)
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[1])
	return nil
}

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: querygate audit verify [--data-dir DIR] [--bigquery-endpoint URL] [--project P] [--dataset D] [--table T]")
		return exitCode(2)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("bigquery-endpoint", "http://127.0.0.1:9050", "BigQuery REST endpoint of a running `querygate dev`; empty uses real BigQuery with Application Default Credentials")
	project := fs.String("project", "querygate-local", "project of the audit dataset")
	dataset := fs.String("dataset", local.AuditDataset, "audit dataset")
	table := fs.String("table", local.AuditTable, "audit table")
	dataDir := fs.String("data-dir", ".querygate", "data dir of the `querygate dev` behind --bigquery-endpoint (holds the embedded BigQuery's token)")
	if err := fs.Parse(args[1:]); err != nil {
		return exitCode(2)
	}
	var client *bigquery.Client
	var err error
	if *endpoint == "" {
		client, err = bigquery.NewClient(ctx, *project)
	} else {
		client, err = localBigQuery(ctx, *endpoint, *project, *dataDir)
	}
	if err != nil {
		return err
	}
	defer client.Close()
	if err := audit.RunVerify(ctx, client, *dataset, *table, stdout); err != nil {
		fmt.Fprintln(stderr, "querygate audit verify:", err)
		return exitCode(1)
	}
	return nil
}

// localBigQuery returns a client for the embedded BigQuery of a `querygate
// dev` at endpoint, with the token from its data dir.
func localBigQuery(ctx context.Context, endpoint, project, dataDir string) (*bigquery.Client, error) {
	tok, err := local.ReadBigQueryToken(dataDir)
	if err != nil {
		return nil, err
	}
	return bqlocal.ClientWithToken(ctx, endpoint, project, tok)
}

// reorder moves flags before positional arguments so that
// `replay ID --data-dir D` parses like `replay --data-dir D ID`. A flag
// takes the next argument as its value unless it is boolean or written
// -flag=value; "--" ends the flags.
func reorder(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !hasValue && !isBoolFlag(fs, name) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(append(flags, "--"), pos...)
}

func isBoolFlag(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	if f == nil {
		return name == "h" || name == "help"
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
