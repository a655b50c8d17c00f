package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/logging"
	"github.com/querygate/querygate/internal/steps"
)

type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

const devHelp = `usage: querygate dev [--addr 127.0.0.1:8080] [--data-dir .querygate] [--policy FILE] [--masking FILE]

Runs the whole gateway locally: embedded BigQuery with the demo dataset, the
Workflows runtime, the DLP engine, a dev OIDC issuer and an SMTP sink with a
mailbox page. It records its URL and data dir in the user's config dir
(querygate/dev-gateway.json) so that the CLI, run from any directory, finds
it and mints dev tokens without --url or --token.

example:
  querygate dev --policy policy.yaml &
  querygate query --sql 'SELECT full_name FROM demo.customers LIMIT 3'
`

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev", devHelp, stderr)
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
	bqInProcess := fs.Bool("bigquery-in-process", false, "run the embedded BigQuery in this process instead of a recycled child process")
	bqMaxQueries := fs.Int("bigquery-max-queries", 500, "recycle the embedded BigQuery's child process after this many queries")
	bqMaxRSS := fs.Int64("bigquery-max-rss-mb", 512, "recycle the embedded BigQuery's child process once its memory passes this many MiB")
	analyzer := addAnalyzerFlags(fs)
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060), for profiling")
	var data stringList
	fs.Var(&data, "data", "extra dataset file in the bigquery-emulator YAML format (repeatable)")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	log := logging.FromContext(ctx)
	start := time.Now()
	cfg := local.Config{Addr: *addr, DataDir: *dataDir, Project: *project, BigQueryAddr: *bqAddr,
		DataFiles: data, PolicyFile: *policyFile, MaskingFile: *maskingFile, SMTPAddr: *smtpAddr, Logger: log,
		Limits: steps.Limits{MaxRows: *maxRows, MaxBytes: *maxBytes, Retention: time.Duration(*retention) * 24 * time.Hour}}
	if !*bqInProcess {
		// go-zetasql never frees the emulator's native memory: contain it in
		// a child process that is replaced before it grows large.
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find own executable for the BigQuery child: %w", err)
		}
		cfg.BigQueryChild = []string{exe, bigQueryChildCommand}
		cfg.BigQueryMaxQueries, cfg.BigQueryMaxRSS = *bqMaxQueries, *bqMaxRSS<<20
	}
	if !*analyzer.inProcess {
		// go-zetasql never frees the analyzer's native memory either, and a
		// runaway analysis must be killed, not waited for.
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find own executable for the analyzer workers: %w", err)
		}
		cfg.Analyzer = analyzer.options(exe)
	}
	if *pprofAddr != "" {
		if err := servePprof(ctx, *pprofAddr); err != nil {
			return err
		}
	}
	g, err := local.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer g.Close()
	// The CLI, run from any directory, finds this gateway and its dev
	// issuer key through the state file (devstate.go).
	if forget, err := writeDevState(g.URL, *dataDir); err != nil {
		log.Warn("could not record the dev gateway for the CLI; pass --url and --token to it", "error", err.Error())
	} else {
		defer forget()
	}
	if err := printDevBanner(stdout, g, *project, *dataDir, time.Since(start)); err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down")
	return nil
}

// printDevBanner tells the operator where everything is. The mailbox links
// and the BigQuery token are credentials: the banner goes to the operator's
// terminal, never to a log.
func printDevBanner(w io.Writer, g *local.Gateway, project, dataDir string, took time.Duration) error {
	var links strings.Builder
	for _, a := range g.Approvers {
		u, err := g.MailboxURL(a)
		if err != nil {
			return fmt.Errorf("mailbox link for %s: %w", a, err)
		}
		fmt.Fprintf(&links, "    %s\n      %s\n", a, u)
	}
	if links.Len() == 0 {
		links.WriteString("    (no approvers configured)\n")
	}
	_, err := fmt.Fprintf(w, `querygate is running (started in %s)

  gateway:           %s
  embedded BigQuery: %s   (REST, project %q; needs the token below)
  BigQuery token:    %s   (also in %s)
  SMTP sink:         %s   (takes only the gateway's own authenticated mail)
  data dir:          %s

Approval mailboxes (each link carries a dev token for that approver, valid %s;
a fresh one: %s token --data-dir %s --subject EMAIL, then open %s/dev/mailbox?token=TOKEN):
%s
First query:

  TOKEN=$(%s token --data-dir %s --subject alice@example.com --groups analysts)
  curl -s -H "Authorization: Bearer $TOKEN" %s/v1/queries \
    -d '{"sql":"SELECT full_name FROM demo.customers LIMIT 3","prompt":"show me three customers"}'

`, took.Round(time.Millisecond), g.URL, g.BigQueryEndpoint, project, g.BigQueryToken, filepath.Join(dataDir, local.BigQueryTokenFile),
		g.SMTPAddr, dataDir, local.MailboxLinkTTL, os.Args[0], dataDir, g.URL, links.String(), os.Args[0], dataDir, g.URL)
	return err
}
