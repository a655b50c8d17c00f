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
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/goccy/bigquery-emulator/server"
	"github.com/goccy/bigquery-emulator/types"
	"google.golang.org/api/option"
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
}

// Server is a running emulator.
type Server struct {
	emu      *server.Server
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
		storage = server.Storage("file:" + filepath.Join(opts.DataDir, "emulator.db") + "?cache=shared")
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
		if err := loadOnce(opts.DataDir, key, structDigest(p), func() error { return emu.Load(server.StructSource(p)) }); err != nil {
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
	// The emulator's Serve must own the listener: its table handlers read
	// the address from the server it starts. A port of 0 is resolved first.
	addr, err := resolvePort(opts.Addr)
	if err != nil {
		emu.Close()
		return nil, fmt.Errorf("bqlocal: listen on %s: %w", opts.Addr, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- emu.Serve(context.WithoutCancel(ctx), addr, "127.0.0.1:0") }()
	if err := waitListening(addr, serveErr); err != nil {
		emu.Close()
		return nil, fmt.Errorf("bqlocal: serve on %s: %w", addr, err)
	}
	go func() {
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("bigquery emulator stopped", "error", err.Error())
		}
	}()
	return &Server{emu: emu, endpoint: "http://" + addr, project: opts.Project}, nil
}

func resolvePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitListening(addr string, serveErr <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-serveErr:
			return err
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("emulator did not start listening within 10s")
}

// Endpoint is the REST base URL for option.WithEndpoint.
func (s *Server) Endpoint() string { return s.endpoint }

// Close stops the server and closes the database.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Stop shuts the HTTP and gRPC servers down and closes the database.
	return s.emu.Stop(ctx)
}

// Client returns a BigQuery client for the emulator at endpoint.
func Client(ctx context.Context, endpoint, project string) (*bigquery.Client, error) {
	return bigquery.NewClient(ctx, project, option.WithEndpoint(endpoint), option.WithoutAuthentication())
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
