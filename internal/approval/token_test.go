package approval

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var testKeys = StaticKeys{ID: "k1", Key: []byte("0123456789abcdef0123456789abcdef")}

func validClaims() Claims {
	return Claims{
		SessionID: "s1",
		SQLSHA256: strings.Repeat("ab", 32),
		RunSHA256: strings.Repeat("cd", 32),
		Approver:  "bob@example.com",
		Decision:  DecisionApprove,
		ExpiresAt: 1800000000,
		ID:        "AAAAAAAAAAAAAAAAAAAAAAAA",
	}
}

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := validClaims()
	tok, err := SignToken(ctx, testKeys, c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "k1.") || strings.Count(tok, ".") != 2 {
		t.Errorf("token shape %q", tok)
	}
	got, err := ParseToken(ctx, testKeys, tok)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("claims (-want, +got):\n%s", diff)
	}
	c.ID = ""
	a, _ := SignToken(ctx, testKeys, c)
	b, _ := SignToken(ctx, testKeys, c)
	ca, _ := ParseToken(ctx, testKeys, a)
	cb, _ := ParseToken(ctx, testKeys, b)
	if ca.ID == "" || ca.ID == cb.ID {
		t.Errorf("fresh token ids %q and %q", ca.ID, cb.ID)
	}
}

func TestTokenRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tok, err := SignToken(ctx, testKeys, validClaims())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	other, _ := SignToken(ctx, StaticKeys{ID: "k1", Key: []byte("another-key-another-key-00000000")}, validClaims())
	swapped := validClaims()
	swapped.SessionID = "s2"
	swappedTok, _ := SignToken(ctx, testKeys, swapped)
	cases := map[string]string{
		"empty":              "",
		"two_parts":          parts[0] + "." + parts[1],
		"four_parts":         tok + ".x",
		"unknown_kid":        "k2." + parts[1] + "." + parts[2],
		"bad_kid_chars":      "k/1." + parts[1] + "." + parts[2],
		"other_key":          other,
		"payload_swapped":    parts[0] + "." + strings.Split(swappedTok, ".")[1] + "." + parts[2],
		"signature_padded":   tok + "=",
		"signature_short":    parts[0] + "." + parts[1] + "." + parts[2][:20],
		"too_long":           tok + strings.Repeat("A", maxTokenLen),
		"signature_stdb64":   parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+",
		"payload_whitespace": parts[0] + ". " + parts[1] + "." + parts[2],
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseToken(ctx, testKeys, bad); !errors.Is(err, ErrBadToken) {
				t.Errorf("ParseToken = %v, want ErrBadToken", err)
			}
		})
	}
}

func TestSignTokenValidates(t *testing.T) {
	t.Parallel()
	for name, mut := range map[string]func(*Claims){
		"no_session":      func(c *Claims) { c.SessionID = "" },
		"bad_hash":        func(c *Claims) { c.SQLSHA256 = "xyz" },
		"no_run_hash":     func(c *Claims) { c.RunSHA256 = "" },
		"uppercase_email": func(c *Claims) { c.Approver = "Bob@example.com" },
		"bad_decision":    func(c *Claims) { c.Decision = "approved" },
		"no_expiry":       func(c *Claims) { c.ExpiresAt = 0 },
		"short_id":        func(c *Claims) { c.ID = "abc" },
	} {
		c := validClaims()
		mut(&c)
		if _, err := SignToken(context.Background(), testKeys, c); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: SignToken = %v, want ErrBadToken", name, err)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	good, _ := SignToken(context.Background(), testKeys, validClaims())
	f.Add(good)
	f.Add("k1.e30.AAAA")
	f.Add("")
	f.Add("k1..")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := ParseToken(context.Background(), testKeys, tok)
		if err != nil {
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("error %v does not wrap ErrBadToken", err)
			}
			return
		}
		// Whatever verifies must be a token this key signed: re-signing
		// the claims must give the same token.
		again, err := SignToken(context.Background(), testKeys, c)
		if err != nil {
			t.Fatalf("verified claims do not re-sign: %v", err)
		}
		if again != tok {
			// JSON may differ in field order or spacing only if someone
			// had the key; the fuzzer does not.
			t.Fatalf("verified token %q differs from re-signed %q", tok, again)
		}
	})
}

func FuzzParseDecideForm(f *testing.F) {
	f.Add([]byte("token=k1.a.b&session_id=s1&decision=approve&comment=ok&csrf=x"))
	f.Add([]byte("token=a&token=b&session_id=s&decision=deny"))
	f.Add([]byte("comment=%ZZ"))
	f.Add([]byte("token=t&session_id=s&decision=approve&comment=a%0D%0Ab&extra=1"))
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := ParseDecideForm(body)
		if err != nil {
			return
		}
		if form.Token == "" || form.SessionID == "" || form.Decision == "" {
			t.Fatalf("accepted form without required fields: %+v", form)
		}
		if strings.Contains(form.Comment, "\r\n") {
			t.Fatalf("comment keeps CRLF: %q", form.Comment)
		}
	})
}

func TestParseDecideForm(t *testing.T) {
	t.Parallel()
	got, err := ParseDecideForm([]byte("token=k1.a.b&session_id=s1&decision=deny&comment=line1%0D%0Aline2&csrf=c"))
	if err != nil {
		t.Fatal(err)
	}
	want := DecideForm{Token: "k1.a.b", SessionID: "s1", Decision: "deny", Comment: "line1\nline2", CSRF: "c"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("form (-want, +got):\n%s", diff)
	}
	for _, bad := range []string{
		"token=a&token=b&session_id=s&decision=deny",
		"token=a&session_id=s&decision=deny&admin=1",
		"token=a&session_id=s",
		"token=a&session_id=s&decision=deny&comment=%ZZ",
		"token=a&session_id=s&decision=deny&comment=" + strings.Repeat("x", maxFormBytes),
	} {
		if _, err := ParseDecideForm([]byte(bad)); err == nil {
			t.Errorf("ParseDecideForm(%.60q) accepted", bad)
		}
	}
}

func TestFileKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := OpenFileKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	tok, err := SignToken(ctx, k1, validClaims())
	if err != nil {
		t.Fatal(err)
	}
	// A restart reads the same key: links sent before still verify.
	k2, err := OpenFileKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseToken(ctx, k2, tok); err != nil {
		t.Errorf("reopened keys reject an earlier link: %v", err)
	}
	// A new data dir is a new key: the old link does not verify.
	k3, err := OpenFileKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseToken(ctx, k3, tok); !errors.Is(err, ErrBadToken) {
		t.Errorf("other key accepted the link: %v", err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, KeyFileName), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileKeys(bad); err == nil {
		t.Error("OpenFileKeys accepted a corrupt key file")
	}
}
