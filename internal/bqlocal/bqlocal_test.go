package bqlocal

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/goccy/bigquery-emulator/types"
)

func smallProject() *types.Project {
	return &types.Project{ID: "p1", Datasets: []*types.Dataset{{ID: "d1", Tables: []*types.Table{{
		ID:      "t1",
		Columns: []*types.Column{{Name: "name", Type: types.STRING, Mode: types.NullableMode}},
		Data:    types.Data{{"name": "Alice Garcia"}},
	}}}}}
}

// TestTokenAndHost: with a token, every REST request must carry it, and a
// foreign Host is refused even with it.
func TestTokenAndHost(t *testing.T) {
	ctx := context.Background()
	const tok = "0123456789abcdef0123456789abcdef-test"
	srv, err := Start(ctx, Options{Project: "p1", Addr: "127.0.0.1:0", Projects: []*types.Project{smallProject()}, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	data := srv.Endpoint() + "/bigquery/v2/projects/p1/datasets/d1/tables/t1/data"
	for _, tc := range []struct {
		name, auth, host string
		want             int
	}{
		{"no token", "", "", http.StatusUnauthorized},
		{"wrong token", "Bearer " + tok + "x", "", http.StatusUnauthorized},
		{"basic scheme", "Basic " + tok, "", http.StatusUnauthorized},
		{"token", "Bearer " + tok, "", http.StatusOK},
		{"token, localhost", "Bearer " + tok, "localhost", http.StatusOK},
		{"token, rebound name", "Bearer " + tok, "rebind.attacker.example", http.StatusMisdirectedRequest},
		{"no token, rebound name", "", "rebind.attacker.example", http.StatusMisdirectedRequest},
	} {
		req, _ := http.NewRequest(http.MethodGet, data, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if has := strings.Contains(string(body), "Alice Garcia"); has != (tc.want == http.StatusOK) {
			t.Errorf("%s: body has the row: %v, want %v", tc.name, has, tc.want == http.StatusOK)
		}
	}
	// The clients: without the token refused, with it a query runs.
	open, err := Client(ctx, srv.Endpoint(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if _, err := open.Dataset("d1").Metadata(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("client without the token: %v, want a 401", err)
	}
	c, err := ClientWithToken(ctx, srv.Endpoint(), "p1", tok)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	it := c.Dataset("d1").Table("t1").Read(ctx)
	var row []bigquery.Value
	if err := it.Next(&row); err != nil {
		t.Fatalf("client with the token: %v", err)
	}
	if len(row) != 1 || row[0] != "Alice Garcia" {
		t.Errorf("t1 row = %v, want [Alice Garcia]", row)
	}
}

// TestStorageAPINotOnAPort: the emulator's Storage Read/Write API (gRPC),
// which no token guards, listens on no TCP port; the process gains exactly
// one listener, the guarded REST endpoint.
func TestStorageAPINotOnAPort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before := listeningPorts(t)
	srv, err := Start(context.Background(), Options{Project: "p1", Addr: "127.0.0.1:0", Token: "0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	// Give a listener started in a goroutine the time to appear; the
	// check is for presence, so waiting longer cannot hide one.
	time.Sleep(200 * time.Millisecond)
	var added []int
	for p := range listeningPorts(t) {
		if !before[p] {
			added = append(added, p)
		}
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.Endpoint(), "http://"))
	if len(added) != 1 || strconv.Itoa(added[0]) != port {
		t.Errorf("new listening ports %v, want only the REST port %s", added, port)
	}
}

// listeningPorts returns the TCP ports this process listens on, from the
// sockets among its file descriptors.
func listeningPorts(t *testing.T) map[int]bool {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" || !inodes[fs[9]] {
				continue
			}
			i := strings.LastIndexByte(fs[1], ':')
			p, err := strconv.ParseInt(fs[1][i+1:], 16, 32)
			if err == nil {
				ports[int(p)] = true
			}
		}
	}
	return ports
}
