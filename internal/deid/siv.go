package deid

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// siv is AES-SIV (RFC 5297): deterministic authenticated encryption, which is
// what DLP's crypto_deterministic_config uses. Built on crypto/aes only so the
// key sizes DLP accepts (16, 24, 32 and 64 bytes) all work.
type siv struct {
	mac    cipher.Block // K1, for S2V (CMAC)
	ctr    cipher.Block // K2, for CTR
	k1, k2 [16]byte     // CMAC subkeys
}

// newSIV takes a raw RFC 5297 key: 32, 48 or 64 bytes (two halves).
func newSIV(key []byte) (*siv, error) {
	if n := len(key); n != 32 && n != 48 && n != 64 {
		return nil, fmt.Errorf("aes-siv key must be 32, 48 or 64 bytes, got %d", n)
	}
	h := len(key) / 2
	mac, err := aes.NewCipher(key[:h])
	if err != nil {
		return nil, err
	}
	ctr, err := aes.NewCipher(key[h:])
	if err != nil {
		return nil, err
	}
	s := &siv{mac: mac, ctr: ctr}
	var l [16]byte
	mac.Encrypt(l[:], l[:])
	s.k1 = dbl(l)
	s.k2 = dbl(s.k1)
	return s, nil
}

// expandSIVKey turns a DLP crypto key into a 64-byte AES-SIV key. DLP says it
// "internally expands" keys to 64 bytes without saying how, so tokens made here
// are not interchangeable with tokens made by Cloud DLP (docs/masking.md).
func expandSIVKey(key []byte) []byte {
	if len(key) == 64 {
		return key
	}
	out := make([]byte, 0, 64)
	for i := byte(1); i <= 2; i++ {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("querygate deid aes-siv key expansion"))
		m.Write([]byte{i})
		out = m.Sum(out)
	}
	return out
}

func dbl(b [16]byte) [16]byte {
	var out [16]byte
	carry := b[0] >> 7
	for i := 0; i < 15; i++ {
		out[i] = b[i]<<1 | b[i+1]>>7
	}
	out[15] = b[15] << 1
	if carry == 1 {
		out[15] ^= 0x87
	}
	return out
}

func (s *siv) cmac(msg []byte) [16]byte {
	var x [16]byte
	n := len(msg)
	for n > 16 {
		subtle.XORBytes(x[:], x[:], msg[:16])
		s.mac.Encrypt(x[:], x[:])
		msg = msg[16:]
		n -= 16
	}
	var last [16]byte
	if n == 16 {
		copy(last[:], msg)
		subtle.XORBytes(last[:], last[:], s.k1[:])
	} else {
		copy(last[:], msg)
		last[n] = 0x80
		subtle.XORBytes(last[:], last[:], s.k2[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	s.mac.Encrypt(x[:], x[:])
	return x
}

func (s *siv) s2v(ad [][]byte, p []byte) [16]byte {
	var zero [16]byte
	d := s.cmac(zero[:])
	for _, a := range ad {
		d = dbl(d)
		m := s.cmac(a)
		subtle.XORBytes(d[:], d[:], m[:])
	}
	if len(p) >= 16 {
		t := make([]byte, len(p))
		copy(t, p)
		subtle.XORBytes(t[len(t)-16:], t[len(t)-16:], d[:])
		return s.cmac(t)
	}
	d = dbl(d)
	var t [16]byte
	copy(t[:], p)
	t[len(p)] = 0x80
	subtle.XORBytes(t[:], t[:], d[:])
	return s.cmac(t[:])
}

func (s *siv) ctrXOR(v [16]byte, dst, src []byte) {
	q := v
	q[8] &= 0x7f
	q[12] &= 0x7f
	cipher.NewCTR(s.ctr, q[:]).XORKeyStream(dst, src)
}

// seal returns V || C.
func (s *siv) seal(plaintext []byte, ad ...[]byte) []byte {
	v := s.s2v(ad, plaintext)
	out := make([]byte, 16+len(plaintext))
	copy(out, v[:])
	s.ctrXOR(v, out[16:], plaintext)
	return out
}

var errSIVAuth = errors.New("aes-siv: authentication failed")

func (s *siv) open(ciphertext []byte, ad ...[]byte) ([]byte, error) {
	if len(ciphertext) < 16 {
		return nil, errSIVAuth
	}
	var v [16]byte
	copy(v[:], ciphertext[:16])
	p := make([]byte, len(ciphertext)-16)
	s.ctrXOR(v, p, ciphertext[16:])
	got := s.s2v(ad, p)
	if subtle.ConstantTimeCompare(got[:], v[:]) != 1 {
		return nil, errSIVAuth
	}
	return p, nil
}
