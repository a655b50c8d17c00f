package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/deid/dlpfake"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/setup"
)

// TestFaultMatrixDLP runs the cloud de-identifier, the Cloud DLP adapter
// (deid.DLP) against dlpfake, as the deidentify step's de-identifier of a
// started local gateway, and makes DLP fail or hang. The adapter retries
// UNAVAILABLE itself (MaxAttempts 2 here), then the workflow retries the
// step; a hang ends at the step's CallTimeout.
func TestFaultMatrixDLP(t *testing.T) {
	srv, conn, stop, err := dlpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	// Registered after stop, so it runs first: hung calls return before
	// the server stops.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cfg, err := setup.LoadMasking("")
	if err != nil {
		t.Fatal(err)
	}
	dlp, err := deid.NewDLPWithOptions(context.Background(), cfg, "projects/querygate-local/locations/global",
		deid.DLPOptions{MaxAttempts: 2, InitialBackoff: time.Millisecond, RequestsPerMinute: 600_000}, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, func(p *local.Ports) {
		p.Deid = func(deid.Deidentifier) deid.Deidentifier { return dlp }
	})

	var mu sync.Mutex
	var inject func(n int) error
	calls := 0 // counted on arrival: the fake records a call only when it returns
	srv.Inject(func(n int, _ *dlppb.DeidentifyContentRequest) error {
		mu.Lock()
		calls++
		f := inject
		mu.Unlock()
		if f == nil {
			return nil
		}
		return f(n)
	})
	cases := []struct {
		name        string
		inject      func(n int) error
		wantStatus  string
		wantReason  string
		wantBackoff []time.Duration
	}{
		{name: "dlp baseline", wantStatus: "succeeded"},
		// The adapter's own retry absorbs it: the step never fails.
		{name: "dlp unavailable once", inject: func(n int) error {
			if n == 1 {
				return status.Error(codes.Unavailable, "try later")
			}
			return nil
		}, wantStatus: "succeeded"},
		{name: "dlp unavailable", inject: func(int) error { return status.Error(codes.Unavailable, "down; SECRET-DETAIL in the status") },
			wantStatus: "failed", wantReason: "deidentify: de-identify result", wantBackoff: workflowBackoff},
		{name: "dlp hangs", inject: func(int) error { <-release; return nil },
			wantStatus: "failed", wantReason: "deidentify: de-identify result: timed out", wantBackoff: workflowBackoff},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The fake numbers calls from its start; n counts this case's.
			mu.Lock()
			base := calls
			if tc.inject != nil {
				inject = func(n int) error { return tc.inject(n - base) }
			} else {
				inject = nil
			}
			mu.Unlock()
			e.in.set("", "", faultNone, 0, 0) // resets the recorded backoff
			defer func() {
				mu.Lock()
				inject = nil
				mu.Unlock()
			}()
			id, a := e.run(t, maskedSQL, false, false)
			if id == "" {
				t.Fatalf("no session: %d %s", a.code, a.raw)
			}
			mu.Lock()
			seen := calls - base
			mu.Unlock()
			if seen == 0 {
				t.Fatal("the DLP fake saw no call: the adapter is not on this path")
			}
			got, _ := a.body["status"].(string)
			if got != tc.wantStatus {
				t.Fatalf("status %q, want %q: %s", got, tc.wantStatus, a.raw)
			}
			if diff := cmp.Diff(tc.wantBackoff, e.in.backoff()); diff != "" {
				t.Errorf("workflow retry delays (-want, +got):\n%s", diff)
			}
			switch got {
			case "succeeded":
				e.checkMasked(t, a)
				if rows := fmt.Sprint(a.body["rows"]); !strings.Contains(rows, "[EMAIL_ADDRESS]") && !strings.Contains(rows, "[US_SOCIAL_SECURITY_NUMBER]") {
					t.Errorf("rows %s show no DLP replacement", rows)
				}
			case "failed":
				if msgs := fmt.Sprint(a.body["errors"]); !strings.Contains(msgs, tc.wantReason) {
					t.Errorf("errors %s, want one containing %q", msgs, tc.wantReason)
				}
				if _, err := e.g.Store.GetPage(context.Background(), id, 0); err == nil {
					t.Error("a failed session has a stored result page")
				}
			}
			sess, err := e.g.Store.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if sess.Status == session.StatusRunning {
				t.Fatalf("session still running")
			}
			e.checkAudited(t, id, sess)
		})
	}
}
