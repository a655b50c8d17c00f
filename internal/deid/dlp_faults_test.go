package deid_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/internal/deid"
)

// TestDLPFaultMatrix is the DLP adapter's rows of the fault matrix
// (docs/threat-model.md): DLP fails once, fails every time, or hangs past
// the caller's deadline. A fault never yields a table; a transient one is
// retried within MaxAttempts.
func TestDLPFaultMatrix(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cases := []struct {
		name      string
		inject    func(n int) error
		deadline  time.Duration
		wantErr   bool
		wantCalls int
	}{
		{name: "unavailable once", inject: func(n int) error {
			if n == 1 {
				return status.Error(codes.Unavailable, "try later")
			}
			return nil
		}, deadline: time.Minute, wantCalls: 2},
		{name: "unavailable every time", inject: func(int) error { return status.Error(codes.Unavailable, "down; value user0@example.com") },
			deadline: time.Minute, wantErr: true, wantCalls: 3},
		// The fake blocks until the test ends; the caller's deadline (the
		// step's CallTimeout in the gateway) ends the wait.
		{name: "hangs past the deadline", inject: func(int) error { <-release; return nil },
			deadline: 200 * time.Millisecond, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, srv := newFakeDLP(t, deid.DLPOptions{MaxAttempts: 3, InitialBackoff: time.Millisecond})
			srv.Inject(func(n int, _ *dlppb.DeidentifyContentRequest) error { return tc.inject(n) })
			ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
			defer cancel()
			tbl, _ := bigTable(10)
			out, st, err := d.Deidentify(ctx, &deid.Request{Table: tbl})
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if out.Rows[0][3] != "contact [EMAIL_ADDRESS]" {
					t.Errorf("row 0 = %v", out.Rows[0])
				}
			} else {
				if err == nil || out != nil || st != nil {
					t.Fatalf("got table %v, stats %v, err %v; want only an error", out, st, err)
				}
				if strings.Contains(err.Error(), "user0@") {
					t.Errorf("error leaks a cell value: %v", err)
				}
			}
			if tc.name == "hangs past the deadline" && !errors.Is(err, context.DeadlineExceeded) && status.Code(err) != codes.DeadlineExceeded {
				t.Errorf("err = %v, want a deadline error", err)
			}
			if tc.wantCalls > 0 && len(srv.Calls()) != tc.wantCalls {
				t.Errorf("%d calls, want %d", len(srv.Calls()), tc.wantCalls)
			}
		})
	}
}
