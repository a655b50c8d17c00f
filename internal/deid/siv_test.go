package deid

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 5297 appendix A.1 (deterministic authenticated encryption example).
func TestSIVRFC5297A1(t *testing.T) {
	t.Parallel()
	key := unhex(t, "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
	ad := unhex(t, "101112131415161718191a1b1c1d1e1f2021222324252627")
	pt := unhex(t, "112233445566778899aabbccddee")
	want := unhex(t, "85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c")
	s, err := newSIV(key)
	if err != nil {
		t.Fatal(err)
	}
	got := s.seal(pt, ad)
	if !bytes.Equal(got, want) {
		t.Fatalf("seal = %x, want %x", got, want)
	}
	back, err := s.open(got, ad)
	if err != nil || !bytes.Equal(back, pt) {
		t.Fatalf("open = %x, %v", back, err)
	}
	got[20] ^= 1
	if _, err := s.open(got, ad); err == nil {
		t.Fatal("open accepted a tampered ciphertext")
	}
}
