package cloudbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/goccy/bigquery-emulator/types"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/deid/dlpfake"
	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/workflow"
	"github.com/querygate/querygate/testing/firestoreemu"
	"github.com/querygate/querygate/testing/secretmanagerfake"
	"github.com/querygate/querygate/testing/workflowfake"
	"github.com/querygate/querygate/workflows"
)

// box is the cloud in a box: every function's process and what stands in
// for Google around them.
type box struct {
	t       *testing.T
	env     tfEnv
	procs   map[string]*proc
	google  *google
	fs      *firestoreemu.Emulator
	bq      *bqlocal.Server
	sink    *mail.Sink
	dlp     *dlpfake.Server
	runtime *workflow.Runtime
	// routes maps each service's run.app host to its process.
	routes map[string]string
	client *http.Client // reaches run.app URLs through routes
}

// approverEmail is the one member of the approvers group.
const approverEmail = "approver1@box.test"

func startBox(t *testing.T) *box {
	t.Helper()
	ctx := context.Background()
	b := &box{t: t, routes: map[string]string{}}
	b.fs = firestoreemu.ForTest(t) // skips when the emulator is missing, unless QUERYGATE_REQUIRE_EMULATORS is set
	dir := t.TempDir()
	b.google = startGoogle(t, dir)

	sinkTLS := b.google.tlsCfg.Clone()
	var err error
	if b.sink, err = mail.NewSink("127.0.0.1:0", mail.WithSinkTLS(sinkTLS, false)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.sink.Close() })
	smtpPort := b.sink.Addr()[strings.LastIndex(b.sink.Addr(), ":")+1:]
	smtpPortN, _ := strconv.Atoi(smtpPort)

	policyFile, _ := filepath.Abs("../../internal/policy/default.yaml")
	maskingFile, _ := filepath.Abs("../../terraform/examples/masking.yaml")
	const agentAudience = "box-agents"
	issuer := b.google.agents.Issuer
	b.env = terraformEnv(t, "../../terraform", boxVars(smtpPortN, issuer, agentAudience, policyFile, maskingFile))
	common := b.env.functions["intake"]

	// BigQuery: the demo dataset agents query and the results dataset
	// the execute function's jobs write (Terraform creates it; the audit
	// writer creates its own dataset and table).
	demo := bqlocal.DemoProject(boxProject)
	demo.Datasets = append(demo.Datasets, &types.Dataset{ID: common["QUERYGATE_RESULTS_DATASET"]})
	if b.bq, err = bqlocal.Start(ctx, bqlocal.Options{Project: boxProject, Addr: "127.0.0.1:0", Projects: []*bqlocal.Project{demo},
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.bq.Close() })
	createAuditTable(t, b.bq.Endpoint(), b.env.functions["record"])

	dlpSrv, dlpConn, stopDLP, err := dlpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	b.dlp = dlpSrv
	t.Cleanup(stopDLP)
	wf, err := workflowfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wf.Stop)
	sm, err := secretmanagerfake.Start(map[string]string{boxProject: testProjectNumber})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Stop)
	addLinkKey(t, sm.Addr, b.env.functions["approval"]["APPROVAL_KEY_SECRET"], b.env.functions["notify"]["APPROVAL_KEY_SECRET"])
	ci := httptest.NewServer(cloudIdentity(map[string][]string{approversGroupEmail: {approverEmail}}))
	t.Cleanup(ci.Close)

	// The mounted config files: Terraform stores local.config_files in
	// secrets that Cloud Run mounts under /etc/querygate/; here the same
	// paths live under dir.
	mount := func(v string) string {
		if !strings.HasPrefix(v, "/etc/querygate/") {
			return v
		}
		dst := filepath.Join(dir, v)
		src, ok := b.env.configFiles[filepath.Base(filepath.Dir(v))]
		if !ok {
			t.Fatalf("%s is mounted from no local.config_files entry", v)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o400); err != nil && !os.IsPermission(err) {
			t.Fatal(err)
		}
		return dst
	}

	envs := map[string]map[string]string{}
	for fn, tf := range b.env.functions {
		e := map[string]string{}
		for k, v := range tf {
			e[k] = mount(v)
		}
		// What Cloud Run gives every instance besides the service's env:
		// its service account's credentials (here a key file whose
		// token endpoint is the box's), and the box's endpoints.
		e["GOOGLE_APPLICATION_CREDENTIALS"] = b.google.keyFile(t, dir, b.env.serviceAccounts[fn])
		e["FIRESTORE_EMULATOR_HOST"] = b.fs.Addr
		e["QUERYGATE_BIGQUERY_ENDPOINT"] = b.bq.Endpoint()
		e["QUERYGATE_DLP_ENDPOINT"] = dlpConn.Target()
		e["QUERYGATE_WORKFLOWS_ENDPOINT"] = wf.Addr
		e["QUERYGATE_SECRETMANAGER_ENDPOINT"] = sm.Addr
		e["QUERYGATE_CLOUDIDENTITY_ENDPOINT"] = ci.URL
		e["QUERYGATE_GOOGLE_CERTS_URL"] = b.google.certsURL()
		e["SSL_CERT_FILE"] = b.google.caFile
		e["HTTPS_PROXY"] = b.google.proxyURL()
		e["TMPDIR"] = dir
		envs[fn] = e
	}
	t.Log("building cmd/functions")
	bin := buildFunctions(t, dir)
	t.Log("starting the functions")
	b.procs = startAll(t, bin, envs)
	t.Log("the functions are serving")
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range procList(b.procs) {
				t.Logf("function %s, last lines:\n%s", p.name, p.tail(12))
			}
		}
	})
	for fn, p := range b.procs {
		u, err := url.Parse(b.env.functions[fn]["QUERYGATE_SELF_URL"])
		if err != nil {
			t.Fatal(err)
		}
		b.routes[u.Host] = p.addr
	}
	b.client = &http.Client{Transport: runApp{routes: b.routes}, Timeout: time.Minute}

	// The workflow: the YAML in the local runtime, started through the
	// Executions API fake, calling the functions at their run.app URLs
	// with Google ID tokens of the workflow's service account.
	yaml, err := workflow.Load(workflows.QuerySession, workflows.QuerySessionFile)
	if err != nil {
		t.Fatal(err)
	}
	state, err := workflow.NewSQLiteStateStore(filepath.Join(dir, "workflows.db"))
	if err != nil {
		t.Fatal(err)
	}
	workflowSA, approvalSA := common["QUERYGATE_WORKFLOW_SA"], common["QUERYGATE_APPROVAL_SA"]
	if b.env.serviceAccounts["approval"] != approvalSA {
		t.Fatalf("the approval service runs as %s, but the functions expect callbacks from %s", b.env.serviceAccounts["approval"], approvalSA)
	}
	b.runtime, err = workflow.NewRuntime(workflow.Options{
		Workflow: yaml, Store: state, HTTPClient: b.client,
		IDToken: func(_ context.Context, audience string) (string, error) {
			return b.google.idToken(workflowSA, audience)
		},
		Env: b.env.workflow, CallbackBase: "https://" + callbackHost,
		Project: common["QUERYGATE_PROJECT"], Location: common["QUERYGATE_LOCATION"], Name: common["QUERYGATE_WORKFLOW"],
		// Workflows accepts a callback with an OAuth access token of a
		// caller allowed to send it; the box knows the tokens it issued.
		VerifyCaller: func(_ context.Context, bearer string) (string, error) {
			if e, ok := b.google.accessTokenEmail(bearer); ok {
				return e, nil
			}
			return "", fmt.Errorf("not an access token the box issued")
		},
		AllowedCallers: []string{approvalSA},
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.runtime.Close(); state.Close() })
	b.google.cbHandler = b.runtime.CallbackHandler()
	parent := "projects/" + common["QUERYGATE_PROJECT"] + "/locations/" + common["QUERYGATE_LOCATION"] + "/workflows/" + common["QUERYGATE_WORKFLOW"]
	wf.SetRunner(func(ctx context.Context, p string, arg map[string]any) (string, error) {
		if p != parent {
			return "", fmt.Errorf("execution of %s, want %s", p, parent)
		}
		return b.runtime.Start(ctx, arg)
	})
	return b
}

// addLinkKey creates the approval link key secret with one 32-byte
// version, as an operator does once after the first apply (docs/deploy.md).
func addLinkKey(t *testing.T, addr string, names ...string) {
	t.Helper()
	name := names[0]
	for _, n := range names {
		if n != name || n == "" {
			t.Fatalf("notify and approval disagree on APPROVAL_KEY_SECRET: %q", names)
		}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := secretmanager.NewClient(context.Background(), option.WithGRPCConn(conn), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	parent, id, _ := strings.Cut(name, "/secrets/")
	if _, err := c.CreateSecret(context.Background(), &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: id,
		Secret: &secretmanagerpb.Secret{}}); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if _, err := c.AddSecretVersion(context.Background(), &secretmanagerpb.AddSecretVersionRequest{Parent: name,
		Payload: &secretmanagerpb.SecretPayload{Data: key}}); err != nil {
		t.Fatal(err)
	}
}

// runApp sends requests for a service's run.app URL to its process, as
// Google's front end does after terminating TLS. Other hosts are refused.
type runApp struct{ routes map[string]string }

func (r runApp) RoundTrip(req *http.Request) (*http.Response, error) {
	addr, ok := r.routes[req.URL.Host]
	if !ok {
		return nil, fmt.Errorf("the box has no service at %s", req.URL.Host)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = "http", addr, req.URL.Host
	return http.DefaultTransport.RoundTrip(out)
}

// response is one HTTP answer.
type response struct {
	code int
	raw  []byte
	body map[string]any
}

func (b *box) do(method, u, token string, body any) response {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{code: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// intakeURL is the agents' base URL: the intake service.
func (b *box) intakeURL() string { return b.env.functions["intake"]["QUERYGATE_SELF_URL"] }

// agentAudience is what agents' tokens carry (QUERYGATE_OIDC_ISSUERS).
func (b *box) agentAudience() string {
	_, aud, _ := strings.Cut(b.env.functions["intake"]["QUERYGATE_OIDC_ISSUERS"], "|")
	return aud
}

// testWriter logs the runtime's warnings and errors in the test's output.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log("workflow runtime: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// createAuditTable creates the audit dataset and table as terraform/
// audit.tf does (testing/terraform checks that its schema is
// audit.Schema()): the cloud's record step may not create tables.
func createAuditTable(t *testing.T, endpoint string, env map[string]string) {
	t.Helper()
	ctx := context.Background()
	c, err := bqlocal.Client(ctx, endpoint, boxProject)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ds := c.Dataset(env["QUERYGATE_AUDIT_DATASET"])
	if err := ds.Create(ctx, &bigquery.DatasetMetadata{}); err != nil {
		t.Fatalf("create audit dataset: %v", err)
	}
	if err := ds.Table(env["QUERYGATE_AUDIT_TABLE"]).Create(ctx, &bigquery.TableMetadata{Schema: audit.Schema(),
		TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: audit.PartitionField},
		Clustering:       &bigquery.Clustering{Fields: audit.ClusteringFields}}); err != nil {
		t.Fatalf("create audit table: %v", err)
	}
}
