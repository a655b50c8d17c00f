// Package firestoreemu starts the npm Firestore emulator
// (@firestore-emulator/server, pinned in testing/firestore-emulator) for
// tests, on a loopback port the kernel picks.
//
// The emulator is a partial implementation of google.firestore.v1.Firestore:
// it has no GetDocument, ListDocuments, BatchWrite, UpdateDocument,
// DeleteDocument, CreateDocument, ListCollectionIds, PartitionQuery or Write
// RPCs; its transactions do not isolate (BeginTransaction returns a fixed id
// and Commit applies writes one after another); it ignores update_time
// preconditions, query cursors and offsets; it enforces no document size
// limit, no index requirement and no TTL. Code tested against it must stay
// within BatchGetDocuments, RunQuery, RunAggregationQuery, BeginTransaction,
// Commit (exists preconditions only), Rollback and Listen.
package firestoreemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// ErrNotInstalled means node or the emulator's npm package is missing.
var ErrNotInstalled = errors.New("firestore emulator not installed: run `npm ci` in testing/firestore-emulator (needs node)")

// Emulator is a running emulator process.
type Emulator struct {
	// Addr is host:port of the emulator's gRPC endpoint, the value
	// FIRESTORE_EMULATOR_HOST would hold.
	Addr string

	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// Dir returns the directory holding package.json and serve.js.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "firestore-emulator")
}

// Start launches the emulator and waits until it listens. The process ends
// on Close, or by itself when the test binary exits (its stdin closes).
func Start(ctx context.Context) (*Emulator, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@firestore-emulator", "server", "package.json")); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	cmd := exec.Command(node, "serve.js")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start firestore emulator: %w", err)
	}
	e := &Emulator{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() { cmd.Wait(); close(e.done) }()

	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addrc <- a
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case e.Addr = <-addrc:
		return e, nil
	case <-e.done:
		return nil, fmt.Errorf("firestore emulator exited before listening: %v", cmd.ProcessState)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("firestore emulator did not listen within 60s")
	}
}

// ClientOptions returns the options that point cloud.google.com/go/firestore
// at the emulator: its endpoint over an insecure gRPC connection and no
// credentials. It does the same as FIRESTORE_EMULATOR_HOST without touching
// the process environment.
func (e *Emulator) ClientOptions() ([]option.ClientOption, error) {
	conn, err := grpc.NewClient(e.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dial firestore emulator: %w", err)
	}
	return []option.ClientOption{option.WithGRPCConn(conn), option.WithoutAuthentication()}, nil
}

// Close stops the emulator and waits for it to exit.
func (e *Emulator) Close() error {
	e.stdin.Close()
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		e.cmd.Process.Kill()
		<-e.done
	}
	return nil
}

// ForTest starts an emulator for t and stops it when t ends. It skips t
// when the emulator is not installed, unless QUERYGATE_REQUIRE_EMULATORS is
// set (CI sets it, so a missing install fails there instead of skipping).
func ForTest(t testing.TB) *Emulator {
	t.Helper()
	e, err := Start(context.Background())
	if errors.Is(err, ErrNotInstalled) && os.Getenv("QUERYGATE_REQUIRE_EMULATORS") == "" {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
