// Command querygate is the CLI and the local gateway.
//
//	querygate dev                       run everything locally
//	querygate token --subject EMAIL     mint a dev ID token
//	querygate query --sql SQL           send a query and wait for it
//	querygate sessions list|show        read sessions through the API
//	querygate policy check|test         try the policy
//	querygate deid                      de-identify JSON Lines from stdin
//	querygate workflows validate FILE   check a workflow against the local runtime's subset
//	querygate approve|deny ID           decide on a held query as an approver
//	querygate approvals                 list what waits for your decision
//	querygate replay ID                 print a recorded session
//	querygate audit verify              recompute the audit hash chains
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/querygate/querygate/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := logging.New(os.Stderr, slog.LevelInfo)
	slog.SetDefault(log)
	ctx = logging.WithLogger(ctx, log)
	err := realMain(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	var ec exitCode
	if errors.As(err, &ec) {
		os.Exit(int(ec))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "querygate:", err)
		os.Exit(1)
	}
}

// exitCode ends the program with a code after the command printed its own
// message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

const usage = `usage: querygate <command> [flags]    (querygate <command> --help shows an example)

commands:
  dev                 run the gateway locally with embedded BigQuery, Workflows, DLP, OIDC and SMTP
  token               print a dev ID token
  query               send a query to a gateway and wait for the result
  sessions list|show  list your sessions, show one (as the sessions API returns it)
  replay              print a recorded session or conversation (API, or a store directly)
  approve|deny        decide on a held query as an approver, through the API
  approvals           list the held queries waiting for your decision
  policy check|test   evaluate SQL against a policy / run a policy test table
  deid                de-identify JSON Lines rows from stdin
  workflows validate  check a workflow file against the local runtime's subset
  audit verify        recompute the audit hash chains

gateway and token (query, sessions, replay, approve, deny, approvals):
  --url, else $QUERYGATE_URL, else the running ` + "`querygate dev`" + `, else ` + defaultGateway + `
  --token, else $QUERYGATE_TOKEN, else, for the local dev gateway only, a
  fresh dev token minted with its data dir's issuer key (--as EMAIL picks the
  identity; default ` + defaultDevSubject + `, groups ` + defaultDevGroups + `)

exit codes:
  0  ok
  1  the query failed, or what was asked for does not exist (or is not yours to see)
  2  usage: bad flags or arguments
  3  refused: policy denied the query, an approver rejected it, its approval
     expired, or your approve/deny was refused (your own query, no longer waiting)
  4  still waiting: --wait ended while the query awaited approval or ran
  5  the gateway was unreachable, did not accept the token, or failed
`

func realMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	if wantsHelp(rest) && printHelp(cmd, stdout) {
		return nil
	}
	switch cmd {
	case "dev":
		return runDev(ctx, rest, stdout, stderr)
	case "token":
		return runToken(rest, stdout, stderr)
	case "query":
		return runQuery(ctx, rest, stdout, stderr)
	case "sessions":
		return runSessions(ctx, rest, stdout, stderr)
	case "policy":
		return runPolicy(ctx, rest, stdout, stderr)
	case "deid":
		return runDeid(ctx, rest, stdin, stdout, stderr)
	case "workflows":
		return runWorkflows(rest, stdout, stderr)
	case "approve", "deny":
		return runDecide(ctx, cmd, rest, stdout, stderr)
	case "approvals":
		return runApprovals(ctx, rest, stdout, stderr)
	case "replay":
		return runReplay(ctx, rest, stdout, stderr)
	case "audit":
		return runAudit(ctx, rest, stdout, stderr)
	case bigQueryChildCommand: // started by `querygate dev`, not listed
		return runBigQueryChild(ctx, rest, stdin, stdout, stderr)
	case analyzerWorkerCommand: // started by `querygate dev`, not listed
		return runAnalyzerWorker(ctx, rest, stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "querygate: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}
