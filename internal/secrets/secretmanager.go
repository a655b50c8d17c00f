// Package secrets reads querygate's secrets from Google Secret Manager: the
// SMTP relay password (the mail.Secrets port) and the HMAC keys that sign
// approval links (the approval.Keys port). The local gateway keeps both
// elsewhere (mail.StaticSecrets, approval.FileKeys).
package secrets

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/mail"
)

const (
	// DefaultCacheTTL is how long an accessed version, or the answer that
	// it is unavailable, is reused. A new link key version starts signing,
	// and a disabled one stops verifying, within this time.
	DefaultCacheTTL = 5 * time.Minute
	// MinKeyBytes is the shortest link key accepted: 256 bits, the
	// HMAC-SHA-256 block of security (docs/deploy.md adds 32 random bytes).
	MinKeyBytes = 32
	// latestRefresh bounds how often a link naming a key newer than any
	// seen makes this instance look up the latest version again.
	latestRefresh = 10 * time.Second
)

var (
	secretRE  = regexp.MustCompile(`^projects/[^/]+/(locations/[^/]+/)?secrets/[^/]+$`)
	versionRE = regexp.MustCompile(`^projects/[^/]+/(locations/[^/]+/)?secrets/[^/]+/versions/[^/]+$`)
	// kidRE is a version number as a key id: what Secret Manager assigns
	// (1, 2, ...). Anything else, "latest" included, is never a key id.
	kidRE = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)
)

// Config configures a SecretManager.
type Config struct {
	// LinkKeySecret is the secret whose versions are the approval link
	// keys, "projects/P/secrets/S". Empty makes SigningKey and
	// VerificationKey fail; Secret still works.
	LinkKeySecret string
	// CacheTTL is how long answers are reused; 0 means DefaultCacheTTL.
	CacheTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SecretManager reads secrets from Secret Manager through its gRPC API.
// It implements mail.Secrets and approval.Keys and is safe for concurrent
// use. Its service account needs roles/secretmanager.secretAccessor
// (secretmanager.versions.access) on the secrets it reads, nothing more.
//
// Link keys: each version of LinkKeySecret is one key, its payload the key
// bytes verbatim (at least MinKeyBytes). The latest version signs and its
// version number is the key id, so links signed before a rotation keep
// verifying with their version until they expire, or until an operator
// disables that version. "latest" is Secret Manager's alias for the most
// recently created version, enabled or not: disabling the newest version
// without adding another stops signing, and verifying too, since the
// newest version number bounds which key ids are looked up.
type SecretManager struct {
	client    *secretmanager.Client
	keySecret string
	raw       accessor
	cached    accessor
	now       func() time.Time

	mu      sync.Mutex
	highest int64     // highest link key version number seen
	checked time.Time // last uncached look-up of the latest version
}

var (
	_ mail.Secrets  = (*SecretManager)(nil)
	_ approval.Keys = (*SecretManager)(nil)
)

// NewSecretManager connects to Secret Manager. Pass option.WithGRPCConn to
// reach a fake.
func NewSecretManager(ctx context.Context, cfg Config, opts ...option.ClientOption) (*SecretManager, error) {
	if cfg.LinkKeySecret != "" && !secretRE.MatchString(cfg.LinkKeySecret) {
		return nil, fmt.Errorf("link key secret %q: %w: want projects/P/secrets/S", cfg.LinkKeySecret, ErrBadName)
	}
	c, err := secretmanager.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("secret manager client: %w", err)
	}
	return newSecretManager(c, grpcAccessor{c}, cfg), nil
}

func newSecretManager(c *secretmanager.Client, raw accessor, cfg Config) *SecretManager {
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &SecretManager{
		client:    c,
		keySecret: cfg.LinkKeySecret,
		raw:       raw,
		cached:    newCachingAccessor(raw, cfg.CacheTTL, cfg.Now),
		now:       cfg.Now,
	}
}

// Close releases the client's connection.
func (s *SecretManager) Close() error { return s.client.Close() }

// Secret implements mail.Secrets. name is a version,
// "projects/P/secrets/S/versions/V" (V a number or "latest"), or a secret,
// "projects/P/secrets/S", which means its latest version. The payload is
// returned verbatim: add the version without a trailing newline
// (printf '%s'). An unavailable version wraps mail.ErrNoSecret and
// ErrUnavailable.
func (s *SecretManager) Secret(ctx context.Context, name string) (string, error) {
	switch {
	case versionRE.MatchString(name):
	case secretRE.MatchString(name):
		name += "/versions/latest"
	default:
		return "", fmt.Errorf("secret %q: %w", name, ErrBadName)
	}
	v, err := s.cached.access(ctx, name)
	if errors.Is(err, ErrUnavailable) {
		return "", fmt.Errorf("secret %q: %w: %w", name, mail.ErrNoSecret, err)
	}
	if err != nil {
		return "", err
	}
	return string(v.payload), nil
}

// SigningKey implements approval.Keys: the latest version of the link key
// secret, and its version number as the key id.
func (s *SecretManager) SigningKey(ctx context.Context) (string, []byte, error) {
	if s.keySecret == "" {
		return "", nil, errors.New("no link key secret configured")
	}
	v, err := s.cached.access(ctx, s.keySecret+"/versions/latest")
	if err != nil {
		return "", nil, fmt.Errorf("link signing key: %w", err)
	}
	kid, n, err := versionNumber(v.name)
	if err != nil {
		return "", nil, err
	}
	if len(v.payload) < MinKeyBytes {
		return "", nil, fmt.Errorf("link key version %s has %d bytes: %w (want at least %d)", kid, len(v.payload), ErrKeyTooShort, MinKeyBytes)
	}
	s.saw(n)
	return kid, v.payload, nil
}

// VerificationKey implements approval.Keys: version kid of the link key
// secret. A kid that is not a version number, a version newer than the
// latest one, or a version that is missing, disabled or destroyed wraps
// approval.ErrUnknownKey. Key ids come from links anyone can forge, so
// only versions up to the latest are ever looked up, and each answer is
// cached.
func (s *SecretManager) VerificationKey(ctx context.Context, kid string) ([]byte, error) {
	if s.keySecret == "" {
		return nil, errors.New("no link key secret configured")
	}
	if !kidRE.MatchString(kid) {
		return nil, fmt.Errorf("key id %q is not a version number: %w", kid, approval.ErrUnknownKey)
	}
	n, _ := strconv.ParseInt(kid, 10, 64)
	known, err := s.known(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("link key version %s: %w", kid, err)
	}
	if !known {
		return nil, fmt.Errorf("link key version %s is newer than the latest: %w", kid, approval.ErrUnknownKey)
	}
	v, err := s.cached.access(ctx, s.keySecret+"/versions/"+kid)
	if errors.Is(err, ErrUnavailable) {
		return nil, fmt.Errorf("link key version %s: %w: %w", kid, approval.ErrUnknownKey, err)
	}
	if err != nil {
		return nil, fmt.Errorf("link key version %s: %w", kid, err)
	}
	if len(v.payload) < MinKeyBytes {
		return nil, fmt.Errorf("link key version %s has %d bytes: %w", kid, len(v.payload), ErrKeyTooShort)
	}
	return v.payload, nil
}

func (s *SecretManager) saw(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.highest = max(s.highest, n)
}

// known reports whether version n is at most the latest version. When n
// is newer than any seen, it looks up the latest version, bypassing the
// cache (a version added since may have signed the link), at most once
// per latestRefresh.
func (s *SecretManager) known(ctx context.Context, n int64) (bool, error) {
	now := s.now()
	s.mu.Lock()
	if n <= s.highest {
		s.mu.Unlock()
		return true, nil
	}
	if !s.checked.IsZero() && now.Sub(s.checked) < latestRefresh {
		s.mu.Unlock()
		return false, nil
	}
	s.checked = now
	s.mu.Unlock()
	v, err := s.raw.access(ctx, s.keySecret+"/versions/latest")
	if err != nil {
		return false, fmt.Errorf("latest link key: %w", err)
	}
	_, latest, err := versionNumber(v.name)
	if err != nil {
		return false, err
	}
	s.saw(latest)
	return n <= latest, nil
}

// versionNumber returns the version part of a version resource name as Secret
// Manager answers it, which is always the number, never an alias.
func versionNumber(name string) (string, int64, error) {
	i := strings.LastIndex(name, "/versions/")
	if i < 0 {
		return "", 0, fmt.Errorf("secret manager answered version name %q without a version number", name)
	}
	kid := name[i+len("/versions/"):]
	if !kidRE.MatchString(kid) {
		return "", 0, fmt.Errorf("secret manager answered version name %q without a version number", name)
	}
	n, _ := strconv.ParseInt(kid, 10, 64)
	return kid, n, nil
}

// grpcAccessor reads versions through the Secret Manager client.
type grpcAccessor struct{ c *secretmanager.Client }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (g grpcAccessor) access(ctx context.Context, name string) (version, error) {
	resp, err := g.c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound, codes.FailedPrecondition:
		// NOT_FOUND: no such secret or version (or, for a caller without
		// access, Secret Manager answers PERMISSION_DENIED instead).
		// FAILED_PRECONDITION: the version is disabled or destroyed.
		return version{}, fmt.Errorf("%s: %w (%s)", name, ErrUnavailable, status.Code(err))
	default:
		return version{}, fmt.Errorf("access secret version %s: %w", name, err)
	}
	p := resp.GetPayload()
	// Secret Manager stores a CRC32C with every version and returns it so
	// clients can detect corruption in transit.
	if p.DataCrc32C != nil && uint32(*p.DataCrc32C) != crc32.Checksum(p.GetData(), castagnoli) {
		return version{}, fmt.Errorf("access secret version %s: payload does not match its CRC32C", name)
	}
	return version{name: resp.GetName(), payload: p.GetData()}, nil
}
