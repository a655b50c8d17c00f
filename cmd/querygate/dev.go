package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/logging"
	"github.com/querygate/querygate/internal/steps"
)

type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "gateway listen address")
	dataDir := fs.String("data-dir", ".querygate", "state directory (survives restarts)")
	project := fs.String("project", "querygate-local", "the local BigQuery project id")
	bqAddr := fs.String("bigquery-addr", "127.0.0.1:9050", "where the embedded BigQuery REST endpoint listens")
	smtpAddr := fs.String("smtp-addr", "127.0.0.1:2525", "where the embedded SMTP sink listens")
	policyFile := fs.String("policy", "", "policy file (default: the built-in default policy)")
	maskingFile := fs.String("masking", "", "masking config (DLP DeidentifyConfig/InspectConfig YAML or JSON)")
	maxRows := fs.Int64("max-rows", 10000, "most result rows stored and returned per session (a capped session is recorded as truncated)")
	maxBytes := fs.Int64("max-bytes", 8<<20, "most bytes of masked rows stored per session")
	retention := fs.Int("retention-days", 400, "days a session is kept before it is purged")
	var data stringList
	fs.Var(&data, "data", "extra dataset file in the bigquery-emulator YAML format (repeatable)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	log := logging.FromContext(ctx)
	start := time.Now()
	g, err := local.Start(ctx, local.Config{Addr: *addr, DataDir: *dataDir, Project: *project, BigQueryAddr: *bqAddr,
		DataFiles: data, PolicyFile: *policyFile, MaskingFile: *maskingFile, SMTPAddr: *smtpAddr, Logger: log,
		Limits: steps.Limits{MaxRows: *maxRows, MaxBytes: *maxBytes, Retention: time.Duration(*retention) * 24 * time.Hour}})
	if err != nil {
		return err
	}
	defer g.Close()
	fmt.Fprintf(stdout, `querygate is running (started in %s)

  gateway:           %s
  embedded BigQuery: %s   (REST; point any BigQuery client here, project %q)
  approval mailbox:  %s/dev/mailbox   (SMTP sink at %s)
  data dir:          %s

First query:

  TOKEN=$(%s token --data-dir %s --subject alice@example.com --groups analysts)
  curl -s -H "Authorization: Bearer $TOKEN" %s/v1/queries \
    -d '{"sql":"SELECT full_name FROM demo.customers LIMIT 3","prompt":"show me three customers"}'

`, time.Since(start).Round(time.Millisecond), g.URL, g.BigQueryEndpoint, *project, g.URL, g.SMTPAddr, *dataDir, os.Args[0], *dataDir, g.URL)
	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down")
	return nil
}
