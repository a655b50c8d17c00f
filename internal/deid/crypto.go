package deid

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"

	"cloud.google.com/go/dlp/apiv2/dlppb"
)

// KeyUnwrapper unwraps a KMS-wrapped DLP crypto key (kmsWrapped) for the local
// engine; the Cloud KMS call lives with the caller.
type KeyUnwrapper func(ctx context.Context, cryptoKeyName string, wrapped []byte) ([]byte, error)

type keyring struct {
	unwrap    KeyUnwrapper
	transient map[string][]byte
}

func (k *keyring) key(ctx context.Context, ck *dlppb.CryptoKey) ([]byte, error) {
	switch {
	case ck.GetUnwrapped() != nil:
		return ck.GetUnwrapped().GetKey(), nil
	case ck.GetTransient() != nil:
		name := ck.GetTransient().GetName()
		if name == "" {
			return nil, fmt.Errorf("%w: transient crypto key needs a name", ErrConfig)
		}
		if b, ok := k.transient[name]; ok {
			return b, nil
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		k.transient[name] = b
		return b, nil
	case ck.GetKmsWrapped() != nil:
		if k.unwrap == nil {
			return nil, fmt.Errorf("%w: kmsWrapped crypto key needs WithKeyUnwrapper", ErrUnsupported)
		}
		w := ck.GetKmsWrapped()
		b, err := k.unwrap(ctx, w.GetCryptoKeyName(), w.GetWrappedKey())
		if err != nil {
			return nil, fmt.Errorf("unwrap crypto key %s: %w", w.GetCryptoKeyName(), err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: crypto key is required", ErrConfig)
}

// cryptoHash implements cryptoHashConfig.
type cryptoHash struct{ key []byte }

func (cryptoHash) kind() string { return "cryptoHashConfig" }

func (h cryptoHash) sum(s string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (h cryptoHash) text(dst []byte, s, _ string, _ *rowCtx) ([]byte, error) {
	return append(dst, h.sum(s)...), nil
}

func (h cryptoHash) cell(v Value, _ string, _ *rowCtx) (Value, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return h.sum(x), nil
	case int64:
		return h.sum(strconv.FormatInt(x, 10)), nil
	}
	return nil, fmt.Errorf("%w: cryptoHashConfig applies to strings and integers only", ErrTransform)
}

// ---- crypto deterministic (AES-SIV)

type deterministic struct {
	siv       *siv
	surrogate string
	context   string
}

func newDeterministic(ctx context.Context, c *dlppb.CryptoDeterministicConfig, keys *keyring) (*deterministic, error) {
	k, err := keys.key(ctx, c.GetCryptoKey())
	if err != nil {
		return nil, err
	}
	if n := len(k); n != 16 && n != 24 && n != 32 && n != 64 {
		return nil, fmt.Errorf("%w: cryptoDeterministicConfig key must be 16, 24, 32 or 64 bytes, got %d", ErrConfig, n)
	}
	s, err := newSIV(expandSIVKey(k))
	if err != nil {
		return nil, err
	}
	return &deterministic{siv: s, surrogate: c.GetSurrogateInfoType().GetName(), context: c.GetContext().GetName()}, nil
}

func (d *deterministic) kind() string { return "cryptoDeterministicConfig" }

// tweak encodes the context field as DLP documents: an int64 big endian then
// 0x01, a string's UTF-8 then 0x02. No context field: no associated data.
func tweak(v Value, ok bool) [][]byte {
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case int64:
		b := binary.BigEndian.AppendUint64(nil, uint64(x))
		return [][]byte{append(b, 1)}
	case string:
		return [][]byte{append([]byte(x), 2)}
	}
	return [][]byte{append([]byte(valueString(v)), 2)}
}

func (d *deterministic) token(s string, rc *rowCtx) string {
	ad := tweak(rc.field(d.context))
	ct := d.siv.seal([]byte(s), ad...)
	tok := base64.StdEncoding.EncodeToString(ct)
	if d.surrogate == "" {
		return tok
	}
	return d.surrogate + "(" + strconv.Itoa(len(tok)) + "):" + tok
}

func (d *deterministic) text(dst []byte, s, _ string, rc *rowCtx) ([]byte, error) {
	return append(dst, d.token(s, rc)...), nil
}

func (d *deterministic) cell(v Value, _ string, rc *rowCtx) (Value, error) {
	if v == nil {
		return nil, nil
	}
	return d.token(valueString(v), rc), nil
}

func (d *deterministic) reverse(tok string, rc *rowCtx) (string, error) {
	ct, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return "", fmt.Errorf("%w: surrogate is not base64", ErrReidentify)
	}
	p, err := d.siv.open(ct, tweak(rc.field(d.context))...)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrReidentify, err)
	}
	return string(p), nil
}
