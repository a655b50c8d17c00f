package secrets

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/mail"

	"github.com/querygate/querygate/testing/secretmanagerfake"
)

// fixture is a fake Secret Manager, an admin client that changes it as an
// operator would with gcloud, and a SecretManager under test on a manual
// clock.
type fixture struct {
	t     *testing.T
	fake  *secretmanagerfake.Server
	admin *secretmanager.Client
	sm    *SecretManager

	mu  sync.Mutex
	now time.Time
}

func newFixture(t *testing.T, linkKeySecret string) *fixture {
	t.Helper()
	fake, addr := startFake(t)
	admin, err := secretmanager.NewClient(t.Context(), clientOptions(t, addr)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	f := &fixture{t: t, fake: fake, admin: admin, now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	f.sm, err = NewSecretManager(t.Context(), Config{LinkKeySecret: linkKeySecret, Now: f.clock}, clientOptions(t, addr)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.sm.Close() })
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fixture) create(id string) {
	f.t.Helper()
	if _, err := f.admin.CreateSecret(f.t.Context(), &secretmanagerpb.CreateSecretRequest{Parent: "projects/p", SecretId: id}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) add(id string, data []byte) error {
	_, err := f.admin.AddSecretVersion(f.t.Context(), &secretmanagerpb.AddSecretVersionRequest{
		Parent: "projects/p/secrets/" + id, Payload: &secretmanagerpb.SecretPayload{Data: data}})
	return err
}

func (f *fixture) mustAdd(id string, data []byte) {
	f.t.Helper()
	if err := f.add(id, data); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) disable(name string) {
	f.t.Helper()
	if _, err := f.admin.DisableSecretVersion(f.t.Context(), &secretmanagerpb.DisableSecretVersionRequest{Name: name}); err != nil {
		f.t.Fatal(err)
	}
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, MinKeyBytes) }

func TestSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	ctx := t.Context()
	f.create("smtp")
	f.mustAdd("smtp", []byte("hunter2"))

	for _, name := range []string{"projects/p/secrets/smtp/versions/latest", "projects/p/secrets/smtp", "projects/p/secrets/smtp/versions/1"} {
		got, err := f.sm.Secret(ctx, name)
		if err != nil || got != "hunter2" {
			t.Errorf("Secret(%q) = %q, %v; want hunter2", name, got, err)
		}
	}

	// Within the TTL a rotated password is not yet seen and costs no call.
	f.mustAdd("smtp", []byte("correct horse"))
	before := f.fake.Accesses.Load()
	if got, _ := f.sm.Secret(ctx, "projects/p/secrets/smtp/versions/latest"); got != "hunter2" {
		t.Errorf("cached Secret = %q, want hunter2", got)
	}
	if n := f.fake.Accesses.Load() - before; n != 0 {
		t.Errorf("cached Secret made %d calls, want 0", n)
	}
	f.advance(DefaultCacheTTL)
	if got, err := f.sm.Secret(ctx, "projects/p/secrets/smtp/versions/latest"); got != "correct horse" || err != nil {
		t.Errorf("Secret after TTL = %q, %v; want the rotated password", got, err)
	}

	for _, tc := range []struct {
		name string
		want []error
	}{
		{"projects/p/secrets/nope/versions/latest", []error{mail.ErrNoSecret, ErrUnavailable}},
		{"projects/p/secrets/smtp/versions/9", []error{mail.ErrNoSecret, ErrUnavailable}},
		{"smtp", []error{ErrBadName}},
		{"projects/p/secrets/smtp/versions/1/x", []error{ErrBadName}},
	} {
		_, err := f.sm.Secret(ctx, tc.name)
		for _, w := range tc.want {
			if !errors.Is(err, w) {
				t.Errorf("Secret(%q) err = %v, want %v", tc.name, err, w)
			}
		}
	}

	// A disabled version is unavailable (FAILED_PRECONDITION), once the
	// cached value expires.
	f.disable("projects/p/secrets/smtp/versions/2")
	f.advance(DefaultCacheTTL)
	if _, err := f.sm.Secret(ctx, "projects/p/secrets/smtp"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Secret(disabled latest) err = %v, want ErrUnavailable", err)
	}
}

func TestSecretErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	ctx := t.Context()
	f.create("smtp")
	f.mustAdd("smtp", []byte("pw"))

	// A denied call is not a definite miss: it is not cached, so the next
	// call (after IAM is fixed) reaches Secret Manager again.
	denied := status.Error(codes.PermissionDenied, "denied")
	f.fake.FailNext.Store(&denied)
	if _, err := f.sm.Secret(ctx, "projects/p/secrets/smtp"); err == nil || errors.Is(err, ErrUnavailable) || status.Code(err) != codes.PermissionDenied {
		t.Errorf("Secret while denied err = %v, want PERMISSION_DENIED, not ErrUnavailable", err)
	}
	if got, err := f.sm.Secret(ctx, "projects/p/secrets/smtp"); got != "pw" || err != nil {
		t.Errorf("Secret after denial = %q, %v; want pw", got, err)
	}

	// A payload whose CRC32C does not match is refused.
	f.fake.Corrupt.Store(true)
	if _, err := f.sm.Secret(ctx, "projects/p/secrets/smtp/versions/1"); err == nil || !strings.Contains(err.Error(), "CRC32C") {
		t.Errorf("Secret with a corrupted payload err = %v, want a CRC32C error", err)
	}
}

// TestPayloadLimit checks the 64 KiB payload limit the fake models: the
// largest payload Secret Manager accepts reads back whole, one byte more
// is refused when added.
func TestPayloadLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	f.create("big")
	max := bytes.Repeat([]byte("k"), 64<<10)
	f.mustAdd("big", max)
	got, err := f.sm.Secret(t.Context(), "projects/p/secrets/big")
	if err != nil || got != string(max) {
		t.Errorf("Secret(64 KiB) = %d bytes, %v; want %d bytes", len(got), err, len(max))
	}
	if err := f.add("big", append(max, 'x')); status.Code(err) != codes.InvalidArgument {
		t.Errorf("AddSecretVersion(64 KiB + 1) err = %v, want INVALID_ARGUMENT", err)
	}
}

func TestLinkKeyRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "projects/p/secrets/link")
	ctx := t.Context()
	f.create("link")
	f.mustAdd("link", key('a'))

	kid, k, err := f.sm.SigningKey(ctx)
	if err != nil || kid != "1" || !bytes.Equal(k, key('a')) {
		t.Fatalf("SigningKey = %q, %q, %v; want version 1's key", kid, k, err)
	}
	claims := approval.Claims{SessionID: "s1", SQLSHA256: strings.Repeat("ab", 32), RunSHA256: strings.Repeat("cd", 32), Approver: "bob@x", Decision: approval.DecisionApprove, ExpiresAt: 1_900_000_000}
	old, err := approval.SignToken(ctx, f.sm, claims)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(old, "1.") {
		t.Errorf("token %q does not carry key id 1", old)
	}

	// Rotate: version 2 signs once the cached latest expires; links signed
	// with version 1 keep verifying.
	f.mustAdd("link", key('b'))
	f.advance(DefaultCacheTTL)
	kid, k, err = f.sm.SigningKey(ctx)
	if err != nil || kid != "2" || !bytes.Equal(k, key('b')) {
		t.Fatalf("SigningKey after rotation = %q, %q, %v; want version 2's key", kid, k, err)
	}
	if c, err := approval.ParseToken(ctx, f.sm, old); err != nil || c.SessionID != "s1" {
		t.Errorf("ParseToken(link signed with version 1) = %+v, %v; want it to verify", c, err)
	}
	fresh, err := approval.SignToken(ctx, f.sm, claims)
	if err != nil || !strings.HasPrefix(fresh, "2.") {
		t.Errorf("SignToken after rotation = %q, %v; want key id 2", fresh, err)
	}

	// Revoke version 1: its links stop verifying once the cache expires;
	// version 2's still verify.
	f.disable("projects/p/secrets/link/versions/1")
	f.advance(DefaultCacheTTL)
	if _, err := approval.ParseToken(ctx, f.sm, old); !errors.Is(err, approval.ErrBadToken) || !errors.Is(err, approval.ErrUnknownKey) {
		t.Errorf("ParseToken(link of disabled version) err = %v, want ErrBadToken and ErrUnknownKey", err)
	}
	if _, err := approval.ParseToken(ctx, f.sm, fresh); err != nil {
		t.Errorf("ParseToken(link of version 2) = %v", err)
	}
}

func TestVerificationKeyBounds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "projects/p/secrets/link")
	ctx := t.Context()
	f.create("link")
	f.mustAdd("link", key('a'))
	if _, _, err := f.sm.SigningKey(ctx); err != nil {
		t.Fatal(err)
	}

	// Key ids that are no version number never reach Secret Manager.
	before := f.fake.Accesses.Load()
	for _, kid := range []string{"latest", "0", "01", "abc", "1/../2", "", "12345678901"} {
		if _, err := f.sm.VerificationKey(ctx, kid); !errors.Is(err, approval.ErrUnknownKey) {
			t.Errorf("VerificationKey(%q) err = %v, want ErrUnknownKey", kid, err)
		}
	}
	if n := f.fake.Accesses.Load() - before; n != 0 {
		t.Errorf("malformed key ids made %d calls, want 0", n)
	}

	// A version newer than any seen costs one look-up of the latest
	// version, then none for latestRefresh.
	before = f.fake.Accesses.Load()
	for _, kid := range []string{"99", "98", "97"} {
		if _, err := f.sm.VerificationKey(ctx, kid); !errors.Is(err, approval.ErrUnknownKey) {
			t.Errorf("VerificationKey(%q) err = %v, want ErrUnknownKey", kid, err)
		}
	}
	if n := f.fake.Accesses.Load() - before; n != 1 {
		t.Errorf("three future key ids made %d calls, want 1", n)
	}

	// Another instance may sign with a version this one has not seen: the
	// next refresh finds it.
	f.mustAdd("link", key('b'))
	f.advance(latestRefresh)
	got, err := f.sm.VerificationKey(ctx, "2")
	if err != nil || !bytes.Equal(got, key('b')) {
		t.Errorf("VerificationKey(2) = %q, %v; want version 2's key", got, err)
	}

	// A version too short to be a key is refused.
	f.mustAdd("link", []byte("short"))
	f.advance(DefaultCacheTTL)
	if _, _, err := f.sm.SigningKey(ctx); !errors.Is(err, ErrKeyTooShort) {
		t.Errorf("SigningKey(5-byte version) err = %v, want ErrKeyTooShort", err)
	}
	if _, err := f.sm.VerificationKey(ctx, "3"); !errors.Is(err, ErrKeyTooShort) {
		t.Errorf("VerificationKey(5-byte version) err = %v, want ErrKeyTooShort", err)
	}
}

func TestNewSecretManagerChecksName(t *testing.T) {
	t.Parallel()
	_, addr := startFake(t)
	for _, name := range []string{"link", "projects/p/secrets/link/versions/latest", "projects//secrets/x"} {
		if _, err := NewSecretManager(context.Background(), Config{LinkKeySecret: name}, clientOptions(t, addr)...); !errors.Is(err, ErrBadName) {
			t.Errorf("NewSecretManager(LinkKeySecret %q) err = %v, want ErrBadName", name, err)
		}
	}
	sm, err := NewSecretManager(context.Background(), Config{}, clientOptions(t, addr)...)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	if _, _, err := sm.SigningKey(context.Background()); err == nil {
		t.Error("SigningKey without a link key secret succeeded")
	}
}
