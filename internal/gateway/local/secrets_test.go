package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := loadOrCreateSecret(dir, BigQueryTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 43 {
		t.Errorf("secret is %d characters, want 43 (32 random bytes, base64url)", len(first))
	}
	path := filepath.Join(dir, BigQueryTokenFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %o, want 600", st.Mode().Perm())
	}
	again, err := loadOrCreateSecret(dir, BigQueryTokenFile)
	if err != nil || again != first {
		t.Errorf("second load = %q, %v; want the first secret back", again, err)
	}
	if got, err := ReadBigQueryToken(dir); err != nil || got != first {
		t.Errorf("ReadBigQueryToken = %q, %v; want the secret", got, err)
	}
	other, err := loadOrCreateSecret(t.TempDir(), BigQueryTokenFile)
	if err != nil || other == first {
		t.Errorf("a second data dir got %q, %v; want a different secret", other, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateSecret(dir, BigQueryTokenFile); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("world-readable secret: err %v, want a refusal", err)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o600)
	if _, err := loadOrCreateSecret(dir, BigQueryTokenFile); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("short secret: err %v, want malformed", err)
	}
	if _, err := ReadBigQueryToken(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no embedded BigQuery token") {
		t.Errorf("ReadBigQueryToken(empty dir) = %v, want a missing-token error", err)
	}
}
