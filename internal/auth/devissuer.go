package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// DevIssuer is the local mode's OIDC issuer. Its RSA key is created on first
// use in the data dir (never committed) and its JWKS is served by the local
// gateway, so dev tokens go through the same go-oidc path as real ones.
type DevIssuer struct {
	Issuer string
	key    *rsa.PrivateKey
	kid    string
}

// DevKeyFile is the dev issuer's key, relative to the data dir.
const DevKeyFile = "keys/dev-issuer.pem"

// devIssuerFile records the issuer URL the gateway last served, so that
// `querygate token` mints tokens the running gateway accepts.
const devIssuerFile = "keys/dev-issuer.json"

// LoadOrCreateDevIssuer loads the key from dataDir, creating it if needed.
// issuer is the URL the gateway serves; empty means the one recorded by the
// last `querygate dev`, else DefaultDevIssuer.
func LoadOrCreateDevIssuer(dataDir, issuer string) (*DevIssuer, error) {
	path := filepath.Join(dataDir, DevKeyFile)
	key, err := loadKey(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		if err == nil {
			err = writeKey(path, key)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dev issuer key: %w", err)
	}
	metaPath := filepath.Join(dataDir, devIssuerFile)
	if issuer == "" {
		var meta struct {
			Issuer string `json:"issuer"`
		}
		if b, err := os.ReadFile(metaPath); err == nil && json.Unmarshal(b, &meta) == nil && meta.Issuer != "" {
			issuer = meta.Issuer
		} else {
			issuer = DefaultDevIssuer
		}
	} else {
		b, _ := json.Marshal(map[string]string{"issuer": issuer})
		if err := os.WriteFile(metaPath, b, 0o600); err != nil {
			return nil, fmt.Errorf("dev issuer: %w", err)
		}
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(der)
	return &DevIssuer{Issuer: issuer, key: key, kid: hex.EncodeToString(sum[:8])}, nil
}

// DefaultDevIssuer is the dev issuer URL of a gateway on the default address.
const DefaultDevIssuer = "http://127.0.0.1:8080/dev/oidc"

// DevAudience is the audience dev tokens carry unless told otherwise.
const DevAudience = "querygate"

func loadKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not PEM", filepath.Base(path))
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key", filepath.Base(path))
	}
	return rk, nil
}

func writeKey(path string, key *rsa.PrivateKey) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// MintOptions are the claims of a dev token.
type MintOptions struct {
	Subject  string // also the email
	Groups   []string
	Audience string
	TTL      time.Duration // negative gives an already-expired token
	Now      time.Time
}

// Mint signs an ID token.
func (d *DevIssuer) Mint(o MintOptions) (string, error) {
	if o.Subject == "" {
		return "", errors.New("subject is required")
	}
	if o.Audience == "" {
		o.Audience = DevAudience
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.TTL == 0 {
		o.TTL = time.Hour
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: d.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", d.kid))
	if err != nil {
		return "", err
	}
	iat := o.Now
	if o.TTL < 0 {
		iat = o.Now.Add(2 * o.TTL)
	}
	claims := map[string]any{
		"iss":            d.Issuer,
		"sub":            o.Subject,
		"aud":            o.Audience,
		"email":          o.Subject,
		"email_verified": true,
		"iat":            jwt.NewNumericDate(iat),
		"exp":            jwt.NewNumericDate(o.Now.Add(o.TTL)),
	}
	if len(o.Groups) > 0 {
		claims["groups"] = o.Groups
	}
	return jwt.Signed(sig).Claims(claims).Serialize()
}

// JWKS returns the public key set.
func (d *DevIssuer) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &d.key.PublicKey, KeyID: d.kid, Algorithm: string(jose.RS256), Use: "sig"}}}
}

// JWKSPath and DiscoveryPath are where the local gateway serves the dev
// issuer, relative to the issuer URL's host.
const (
	JWKSPath      = "/dev/oidc/jwks.json"
	DiscoveryPath = "/dev/oidc/.well-known/openid-configuration"
)

// Handler serves the JWKS and the discovery document.
func (d *DevIssuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d.JWKS())
	})
	mux.HandleFunc("GET "+DiscoveryPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                d.Issuer,
			"jwks_uri":                              d.Issuer + "/jwks.json",
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
		})
	})
	return mux
}
