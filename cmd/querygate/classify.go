package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"cloud.google.com/go/bigquery"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/classify"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/warehouse"
)

const classifyUsage = "usage: querygate policy classify [--bigquery-endpoint URL] [--project P] [--policy FILE] [--masking FILE] [--sessions-db FILE] [--json] [project.]dataset.table"

// runPolicyClassify prints a table's classification: every column with its
// infoTypes and their sources (policy file, policy tag, profile), the sample
// size and the match share. It samples the table through tabledata.list
// and inspects with the local engine and the masking config.
func runPolicyClassify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.Bool("json", false, "print JSON")
	policyFile := fs.String("policy", "", "policy file (default: the built-in default policy)")
	maskingFile := fs.String("masking", "", "masking config whose inspectConfig classifies (default: the built-in one)")
	project := fs.String("project", "querygate-local", "project of a table named dataset.table, and of the BigQuery client")
	endpoint := fs.String("bigquery-endpoint", "", "BigQuery REST endpoint (e.g. a running `querygate dev`); default: BigQuery with application default credentials")
	sessionsDB := fs.String("sessions-db", "", "SQLite session store whose cached profiles to use and update (e.g. DATA_DIR/sessions.db of `querygate dev`); default: profile afresh")
	// Flags may come before or after the table.
	var table string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return exitCode(2)
		}
		if fs.NArg() == 0 {
			break
		}
		if table != "" {
			fmt.Fprintln(stderr, classifyUsage)
			return exitCode(2)
		}
		table, rest = fs.Arg(0), fs.Args()[1:]
	}
	if table == "" {
		fmt.Fprintln(stderr, classifyUsage)
		return exitCode(2)
	}
	ref, err := parseTableRef(table, *project)
	if err != nil {
		fmt.Fprintln(stderr, err)
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
	maskCfg := deid.DefaultConfig()
	if *maskingFile != "" {
		b, err := os.ReadFile(*maskingFile)
		if err != nil {
			return err
		}
		if maskCfg, err = deid.LoadConfig(b); err != nil {
			return fmt.Errorf("masking config %s: %w", *maskingFile, err)
		}
	}
	insp, err := deid.NewLocal(maskCfg)
	if err != nil {
		return fmt.Errorf("de-identifier: %w", err)
	}
	var client *bigquery.Client
	if *endpoint != "" {
		client, err = bqlocal.Client(ctx, *endpoint, *project)
	} else {
		client, err = bigquery.NewClient(ctx, *project)
	}
	if err != nil {
		return fmt.Errorf("bigquery client: %w", err)
	}
	defer client.Close()
	var store session.ProfileStore = classify.NewMemoryStore()
	if *sessionsDB != "" {
		st, err := session.OpenSQLite(*sessionsDB)
		if err != nil {
			return err
		}
		defer st.Close()
		store = st
	}
	r, err := classify.ForPolicy(pol, warehouse.New(client), insp, store).Report(ctx, pol, ref)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	return classify.WriteReport(stdout, r, *jsonOut)
}

// parseTableRef reads [project.]dataset.table (backticks allowed).
func parseTableRef(s, project string) (sqlscan.TableRef, error) {
	parts := strings.Split(strings.Trim(s, "`"), ".")
	switch {
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return sqlscan.TableRef{Project: project, Dataset: parts[0], Table: parts[1]}, nil
	case len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != "":
		return sqlscan.TableRef{Project: parts[0], Dataset: parts[1], Table: parts[2]}, nil
	}
	return sqlscan.TableRef{}, fmt.Errorf("querygate policy classify: %q is not dataset.table or project.dataset.table", s)
}
