package secrets

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/testing/secretmanagerfake"
)

// TestSecretManagerFaultMatrix is Secret Manager's rows of the fault
// matrix (docs/threat-model.md): it fails once, fails every time, or hangs
// past the caller's deadline. A fault never yields a value (the SMTP
// password or the link key), is not cached, and the first call after the
// service recovers succeeds.
func TestSecretManagerFaultMatrix(t *testing.T) {
	t.Parallel()
	const name = "projects/p/secrets/smtp"
	unavailable := status.Error(codes.Unavailable, "down")
	cases := []struct {
		name     string
		inject   func(f *secretmanagerfake.Server) (repair func())
		deadline time.Duration
		wantErr  bool
	}{
		{name: "unavailable once", inject: func(f *secretmanagerfake.Server) func() {
			f.FailNext.Store(&unavailable)
			return func() {}
		}, deadline: 30 * time.Second},
		{name: "unavailable every time", inject: func(f *secretmanagerfake.Server) func() {
			f.FailAll.Store(&unavailable)
			return func() { f.FailAll.Store(nil) }
		}, deadline: 500 * time.Millisecond, wantErr: true},
		{name: "hangs past the deadline", inject: func(f *secretmanagerfake.Server) func() {
			ch := make(chan struct{})
			f.Hang.Store(&ch)
			return func() { f.Hang.Store(nil); close(ch) }
		}, deadline: 200 * time.Millisecond, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "")
			f.create("smtp")
			f.mustAdd("smtp", []byte("pw"))
			repair := tc.inject(f.fake)
			ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
			got, err := f.sm.Secret(ctx, name)
			cancel()
			if tc.wantErr {
				if err == nil || got != "" {
					t.Fatalf("Secret = %q, %v; want no value and an error", got, err)
				}
				if errors.Is(err, ErrUnavailable) {
					t.Errorf("err = %v: a transient fault must not read as a missing secret (that is cached)", err)
				}
			} else if err != nil || got != "pw" {
				t.Fatalf("Secret = %q, %v; want pw after the client's retry", got, err)
			}
			repair()
			// Not cached: the next call reaches the recovered service.
			if got, err := f.sm.Secret(context.Background(), name); err != nil || got != "pw" {
				t.Errorf("Secret after recovery = %q, %v; want pw", got, err)
			}
		})
	}
}
