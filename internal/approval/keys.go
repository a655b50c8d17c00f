package approval

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Keys is the port to the HMAC keys that sign approval links. The local
// implementation is FileKeys. In the cloud, implement it over Secret
// Manager: the secret holds the key bytes, the current version signs, and
// the version number is the key id, so older versions keep verifying links
// already sent until they expire and the version is disabled.
type Keys interface {
	// SigningKey returns the id and bytes of the key that signs new links.
	SigningKey(ctx context.Context) (kid string, key []byte, err error)
	// VerificationKey returns the key named kid, or an error wrapping
	// ErrUnknownKey.
	VerificationKey(ctx context.Context, kid string) ([]byte, error)
}

// StaticKeys is a Keys holding one key in memory, for tests.
type StaticKeys struct {
	ID  string
	Key []byte
}

var _ Keys = StaticKeys{}

// SigningKey implements Keys.
func (k StaticKeys) SigningKey(context.Context) (string, []byte, error) { return k.ID, k.Key, nil }

// VerificationKey implements Keys.
func (k StaticKeys) VerificationKey(_ context.Context, kid string) ([]byte, error) {
	if kid != k.ID {
		return nil, ErrUnknownKey
	}
	return k.Key, nil
}

// KeyFileName is the file FileKeys keeps in the data directory.
const KeyFileName = "approval-link.key"

// FileKeys is the local Keys: one 256-bit key kept hex-encoded in
// <dir>/approval-link.key, created with mode 0600 on first use. The key id
// is derived from the key, so replacing the file invalidates every link
// signed with the old key.
type FileKeys struct {
	kid string
	key []byte
}

var _ Keys = (*FileKeys)(nil)

// OpenFileKeys reads the key file in dir, creating dir and the file when
// they do not exist.
func OpenFileKeys(dir string) (*FileKeys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key dir: %w", err)
	}
	path := filepath.Join(dir, KeyFileName)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		cerr := f.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write approval key: %w", err)
		}
	case errors.Is(err, fs.ErrExist):
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read approval key: %w", err)
		}
		key, err = hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("approval key file %s: want at least 32 hex-encoded bytes", path)
		}
	default:
		return nil, fmt.Errorf("create approval key: %w", err)
	}
	sum := sha256.Sum256(key)
	return &FileKeys{kid: "f" + hex.EncodeToString(sum[:6]), key: key}, nil
}

// SigningKey implements Keys.
func (k *FileKeys) SigningKey(context.Context) (string, []byte, error) { return k.kid, k.key, nil }

// VerificationKey implements Keys.
func (k *FileKeys) VerificationKey(_ context.Context, kid string) ([]byte, error) {
	if kid != k.kid {
		return nil, ErrUnknownKey
	}
	return k.key, nil
}
