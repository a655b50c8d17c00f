package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"cloud.google.com/go/bigquery"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/replay"
	"github.com/querygate/querygate/internal/session"
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

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", ".querygate", "the local gateway's data dir")
	conv := fs.String("conversation", "", "replay every session of this conversation")
	fsProject := fs.String("firestore-project", "", "read sessions from Firestore in this project (Application Default Credentials) instead of the local data dir")
	fsDatabase := fs.String("firestore-database", "(default)", "Firestore database, with --firestore-project")
	if err := fs.Parse(reorder(args)); err != nil {
		return exitCode(2)
	}
	id := fs.Arg(0)
	if (id == "") == (*conv == "") {
		fmt.Fprintln(stderr, "usage: querygate replay [--data-dir DIR] (SESSION_ID | --conversation ID)")
		return exitCode(2)
	}
	var st session.Store
	var err error
	if *fsProject != "" {
		st, err = session.OpenFirestore(ctx, *fsProject, *fsDatabase)
	} else {
		st, err = session.OpenSQLite(filepath.Join(*dataDir, "sessions.db"))
	}
	if err != nil {
		return err
	}
	defer st.Close()
	return replay.Run(ctx, st, id, *conv, stdout)
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
// `replay ID --data-dir D` parses like `replay --data-dir D ID`.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			if !containsEq(a) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

func containsEq(s string) bool {
	for _, c := range s {
		if c == '=' {
			return true
		}
	}
	return false
}
