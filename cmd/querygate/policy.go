package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/querygate/querygate/internal/catalog"
	"github.com/querygate/querygate/internal/demodata"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
)

func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "classify" {
		return runPolicyClassify(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "check" && args[0] != "test") {
		fmt.Fprintln(stderr, "usage: querygate policy check --sql SQL [--groups g] [--json] | querygate policy test FILE | querygate policy classify TABLE")
		return exitCode(2)
	}
	sub := args[0]
	fs := flag.NewFlagSet("policy "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	sql := fs.String("sql", "", "SQL to evaluate")
	groups := fs.String("groups", "analysts", "comma-separated groups of the principal")
	email := fs.String("email", "alice@example.com", "email of the principal")
	jsonOut := fs.Bool("json", false, "print JSON")
	policyFile := fs.String("policy", "", "policy file (default: the built-in default policy)")
	project := fs.String("project", "querygate-local", "default project")
	dataset := fs.String("default-dataset", "", "default dataset")
	endpoint := fs.String("bigquery-endpoint", "", "read schemas from this BigQuery REST endpoint (e.g. a running `querygate dev`); default: the demo schema")
	dataDir := fs.String("data-dir", ".querygate", "data dir of the `querygate dev` behind --bigquery-endpoint (holds the embedded BigQuery's token)")
	store := fs.String("store", "", "session store file (DATA_DIR/sessions.db of `querygate dev`): show the principal's current use of its limits")
	if err := fs.Parse(args[1:]); err != nil {
		return exitCode(2)
	}
	pol := policy.Default()
	if *policyFile != "" {
		b, err := os.ReadFile(*policyFile)
		if err != nil {
			return err
		}
		if pol, err = policy.Load(b, *policyFile); err != nil {
			return err
		}
	}
	var cat sqlscan.Catalog = demoCatalog(*project)
	if *endpoint != "" {
		client, err := localBigQuery(ctx, *endpoint, *project, *dataDir)
		if err != nil {
			return err
		}
		defer client.Close()
		cat = catalog.New(client, 0)
	}
	if sub == "test" {
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: querygate policy test FILE")
			return exitCode(2)
		}
		if err := policy.RunTest(ctx, func(p *policy.Policy) *policy.Engine { return policy.NewEngine(p, cat) }, fs.Arg(0), stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return exitCode(1)
		}
		return nil
	}
	if *sql == "" {
		fmt.Fprintln(stderr, "querygate policy check: --sql is required")
		return exitCode(2)
	}
	gs := splitList(*groups)
	lines, err := limitLines(ctx, pol, *store, *email, gs)
	if err != nil {
		return err
	}
	return policy.RunCheck(ctx, policy.NewEngine(pol, cat), policy.Input{SQL: *sql, Groups: gs, Email: *email,
		DefaultProject: *project, DefaultDataset: *dataset}, *jsonOut, stdout, policy.WithLimits(lines))
}

// demoCatalog is the demo dataset's schema, so `policy check` works without
// a running gateway.
func demoCatalog(project string) sqlscan.Catalog {
	var metas []*sqlscan.TableMeta
	for _, t := range demodata.Tables() {
		m := &sqlscan.TableMeta{Ref: sqlscan.TableRef{Project: project, Dataset: t.Dataset, Table: t.Name}, Type: "TABLE", NumRows: int64(len(t.Rows))}
		for _, c := range t.Columns {
			m.Columns = append(m.Columns, sqlscan.Column{Name: c.Name, Type: c.Type, Mode: "NULLABLE"})
		}
		m.NumBytes = m.NumRows * catalog.EstimatedRowBytes(m.Columns)
		metas = append(metas, m)
	}
	return sqlscan.NewMemoryCatalog(metas...)
}
