package bqproc

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/goccy/bigquery-emulator/types"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/bqlocal"
)

const childEnv = "QUERYGATE_BQPROC_TEST_CHILD_DIR"

// TestMain lets the test binary act as the child: the supervisor under test
// starts this same binary with childEnv set.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		err := ServeChild(context.Background(), bqlocal.Options{Project: "p", DataDir: dir, Projects: []*bqlocal.Project{testProject()}},
			os.Stdin, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testProject() *types.Project {
	tbl := &types.Table{ID: "t", Columns: []*types.Column{{Name: "id", Type: types.INT64, Mode: types.NullableMode}}}
	var rows types.Data
	for i := 1; i <= 5; i++ {
		rows = append(rows, map[string]any{"id": int64(i)})
	}
	tbl.Data = rows
	return &types.Project{ID: "p", Datasets: []*types.Dataset{{ID: "d", Tables: []*types.Table{tbl}}}}
}

func startSupervisor(t *testing.T, maxQueries int) (*Supervisor, *bigquery.Client) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Setenv(childEnv, dir)
	s, err := Start(context.Background(), Options{Command: []string{exe, "-test.run=^$"}, MaxQueries: maxQueries})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	c, err := bigquery.NewClient(context.Background(), "p", option.WithEndpoint(srv.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

func sum(t *testing.T, c *bigquery.Client, sql string) int64 {
	t.Helper()
	it, err := c.Query(sql).Read(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var total int64
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if err == iterator.Done {
			return total
		}
		if err != nil {
			t.Fatal(err)
		}
		total += row[0].(int64)
	}
}

// A recycle neither fails a request nor loses state: concurrent queries run
// across several recycles, and a table written before them is still there.
func TestRecycleKeepsStateAndFailsNoRequest(t *testing.T) {
	s, c := startSupervisor(t, 3)
	if got := sum(t, c, "SELECT SUM(id) FROM `p.d.t`"); got != 15 {
		t.Fatalf("sum = %d, want 15", got)
	}
	if _, err := c.Query("CREATE TABLE `p.d.u` AS SELECT 7 AS id").Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				it, err := c.Query(fmt.Sprintf("SELECT %d + SUM(id) FROM `p.d.t`", w*10+i)).Read(context.Background())
				if err != nil {
					errs <- err
					return
				}
				var row []bigquery.Value
				if err := it.Next(&row); err != nil {
					errs <- err
					return
				}
				if row[0].(int64) != int64(w*10+i+15) {
					errs <- fmt.Errorf("query %d/%d = %v", w, i, row[0])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Let a recycle scheduled by the last query finish.
	deadline := time.Now().Add(time.Minute)
	for s.recycling.Load() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.Recycles(); n < 3 {
		t.Fatalf("recycles = %d after 18 queries with MaxQueries 3, want at least 3", n)
	}
	if got := sum(t, c, "SELECT SUM(id) FROM `p.d.u`"); got != 7 {
		t.Fatalf("table written before the recycles: sum = %d, want 7", got)
	}
}

// A child that dies is replaced on the next request.
func TestDeadChildIsReplaced(t *testing.T) {
	s, c := startSupervisor(t, 1000)
	first := s.ChildPID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	old := s.cur.Load()
	select {
	case <-old.done:
	case <-time.After(time.Minute):
		t.Fatal("killed child did not exit")
	}
	if got := sum(t, c, "SELECT SUM(id) FROM `p.d.t`"); got != 15 {
		t.Fatalf("sum = %d, want 15", got)
	}
	if s.ChildPID() == first || s.Recycles() != 1 {
		t.Fatalf("child pid %d (was %d), recycles %d: the dead child was not replaced", s.ChildPID(), first, s.Recycles())
	}
}
