// Package bqlocal runs goccy/bigquery-emulator in process for the local
// gateway and for hermetic tests. Our code reaches it only through
// cloud.google.com/go/bigquery over REST, exactly as it reaches real
// BigQuery; only the endpoint differs.
//
// This package links ZetaSQL through cgo and must never be imported by the
// Cloud Run functions.
package bqlocal

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/goccy/bigquery-emulator/server"
	"github.com/goccy/bigquery-emulator/types"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/gateway/hostguard"
)

// Project is an emulator project with its datasets and rows.
type Project = types.Project

// Options configures Start.
type Options struct {
	// Project is the emulated project id.
	Project string
	// DataDir holds the emulator's database; empty keeps it in memory.
	DataDir string
	// Addr is the REST listen address, e.g. "127.0.0.1:9050" or
	// "127.0.0.1:0".
	Addr string
	// Projects are loaded once per distinct content (a marker in DataDir
	// records what was loaded), so restarts keep rows written since.
	Projects []*types.Project
	// YAMLFiles are datasets in the emulator's YAML format, loaded the same
	// way.
	YAMLFiles []string
	Logger    *slog.Logger
	// Debug enables the emulator's own error log on stderr.
	Debug bool
	// Token, when set, is the bearer token every REST request must carry
	// (Authorization: Bearer); others get 401. The local gateway always
	// sets one. Empty leaves the endpoint open, for in-process tests only.
	Token string
	// AllowHost, when set, is checked against every request's Host header;
	// others get 421 (DNS rebinding). Nil allows only the loopback names.
	AllowHost hostguard.Allow
}

// Server is a running emulator.
type Server struct {
	emu      *server.Server
	http     *http.Server
	endpoint string
	project  string
}

// Start starts the emulator and loads the given data.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Project == "" {
		return nil, errors.New("bqlocal: project is required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	storage := server.MemoryStorage
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("bqlocal: create data dir: %w", err)
		}
		// WAL with synchronous=FULL keeps every commit durable (the audit
		// table lives here: no rows are released before its write is on
		// disk) with one fsync per commit, where the default rollback
		// journal costs three or four (creating, syncing and deleting the
		// journal besides the database).
		storage = server.Storage("file:" + filepath.Join(opts.DataDir, "emulator.db") + "?cache=shared&_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000")
	}
	emu, err := server.New(storage)
	if err != nil {
		return nil, fmt.Errorf("bqlocal: start emulator: %w", err)
	}
	if opts.Debug {
		// The emulator's own log can quote query text and values: only on
		// request, for debugging the emulator itself.
		_ = emu.SetLogLevel(server.LogLevelError)
	}
	if err := emu.SetProject(opts.Project); err != nil {
		emu.Close()
		return nil, fmt.Errorf("bqlocal: set project: %w", err)
	}
	for i, p := range opts.Projects {
		key := fmt.Sprintf("struct-%d-%s", i, p.ID)
		if err := loadOnce(opts.DataDir, key, structDigest(p), func() error {
			if opts.DataDir != "" {
				// Content that changed since an earlier load (a new
				// version of the demo data) replaces the old datasets,
				// which the emulator would otherwise refuse to load over.
				if err := dropDatasets(ctx, emu, p); err != nil {
					return err
				}
			}
			return emu.Load(server.StructSource(p))
		}); err != nil {
			emu.Close()
			return nil, fmt.Errorf("bqlocal: load project %s: %w", p.ID, err)
		}
	}
	for _, f := range opts.YAMLFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			emu.Close()
			return nil, fmt.Errorf("bqlocal: read data file: %w", err)
		}
		sum := sha256.Sum256(b)
		if err := loadOnce(opts.DataDir, "yaml-"+filepath.Base(f), hex.EncodeToString(sum[:]), func() error { return emu.Load(server.YAMLSource(f)) }); err != nil {
			emu.Close()
			return nil, fmt.Errorf("bqlocal: load %s: %w", filepath.Base(f), err)
		}
	}
	// The emulator's own Serve would also open its Storage API (gRPC) on a
	// TCP port that no token guards: raw tables and writes for anyone on
	// the machine. TestServer instead serves that API over an in-memory
	// pipe that only this process can dial, and records the HTTP server
	// whose address the emulator's handlers write into self links. Its
	// random-port listener is closed at once; the REST API is served here,
	// behind the host and token checks, on the address asked for.
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		emu.Close()
		return nil, fmt.Errorf("bqlocal: listen on %s: %w", opts.Addr, err)
	}
	ts := emu.TestServer()
	ts.Close()
	ts.Config.Addr = ln.Addr().String()
	allow := opts.AllowHost
	if allow == nil {
		allow = hostguard.Loopback()
	}
	srv := &http.Server{
		Handler: hostguard.Handler(allow, requireToken(opts.Token, emu.Handler)),
		// The emulator's own timeouts.
		ReadTimeout: 15 * time.Second, WriteTimeout: 5 * time.Minute, ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("bigquery emulator stopped", "error", err.Error())
		}
	}()
	return &Server{emu: emu, http: srv, endpoint: "http://" + ln.Addr().String(), project: opts.Project}, nil
}

// requireToken serves h only to requests with "Authorization: Bearer
// token". An empty token serves everyone.
func requireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="querygate embedded BigQuery"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":401,"message":"the embedded BigQuery needs the gateway's token (DATA_DIR/bigquery/token) as Authorization: Bearer","status":"UNAUTHENTICATED"}}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Endpoint is the REST base URL for option.WithEndpoint.
func (s *Server) Endpoint() string { return s.endpoint }

// Close stops the server and closes the database.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	// Stop shuts the in-memory gRPC server down and closes the database.
	return errors.Join(err, s.emu.Stop(ctx))
}

// Client returns a BigQuery client for an emulator at endpoint that needs
// no token (Options.Token empty).
func Client(ctx context.Context, endpoint, project string) (*bigquery.Client, error) {
	return ClientWithToken(ctx, endpoint, project, "")
}

// ClientWithToken returns a BigQuery client for the emulator at endpoint
// that sends token as its bearer token on every request.
func ClientWithToken(ctx context.Context, endpoint, project, token string) (*bigquery.Client, error) {
	if token == "" {
		return bigquery.NewClient(ctx, project, option.WithEndpoint(endpoint), option.WithoutAuthentication())
	}
	hc := &http.Client{Transport: bearer{token: token, next: http.DefaultTransport}}
	return bigquery.NewClient(ctx, project, option.WithEndpoint(endpoint), option.WithHTTPClient(hc))
}

// bearer adds the emulator's token to each request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// dropDatasets deletes, with their tables, the datasets of p that the
// emulator holds, through its own REST handler called in process: nothing
// listens yet, and no unguarded port is opened for this.
func dropDatasets(ctx context.Context, emu *server.Server, p *types.Project) error {
	hc := &http.Client{Transport: handlerTransport{emu.Handler}}
	c, err := bigquery.NewClient(ctx, p.ID, option.WithEndpoint("http://embedded-bigquery.invalid"), option.WithHTTPClient(hc))
	if err != nil {
		return err
	}
	defer c.Close()
	for _, d := range p.Datasets {
		err := c.DatasetInProject(p.ID, d.ID).DeleteWithContents(ctx)
		var ge *googleapi.Error
		if err != nil && !(errors.As(err, &ge) && ge.Code == http.StatusNotFound) {
			return fmt.Errorf("replace dataset %s: %w", d.ID, err)
		}
	}
	return nil
}

// handlerTransport serves requests with a handler in this process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// loadOnce runs load unless the marker for key already holds digest. In
// memory (dir == "") it always loads.
func loadOnce(dir, key, digest string, load func() error) error {
	if dir == "" {
		return load()
	}
	marker := filepath.Join(dir, "loaded-"+key)
	if b, err := os.ReadFile(marker); err == nil && string(b) == digest {
		return nil
	}
	if err := load(); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte(digest), 0o600)
}

func structDigest(p *types.Project) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s", p.ID)
	for _, d := range p.Datasets {
		fmt.Fprintf(h, "|%s", d.ID)
		for _, t := range d.Tables {
			fmt.Fprintf(h, "|%s:%d:%d", t.ID, len(t.Columns), len(t.Data))
			if len(t.Data) > 0 {
				fmt.Fprintf(h, ":%v", t.Data[len(t.Data)-1])
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
