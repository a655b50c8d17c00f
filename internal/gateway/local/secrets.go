package local

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Files in the data dir that hold the local gateway's own secrets. They
// are created 0600 on first run and kept across restarts. Whoever can read
// them has the gateway's access to the embedded services.
const (
	// BigQueryTokenFile holds the bearer token the embedded BigQuery
	// requires of every request.
	BigQueryTokenFile = "bigquery/token"
	// SMTPSecretFile holds the password the gateway's mail sender presents
	// to the embedded SMTP sink (SMTP AUTH PLAIN, user SMTPUser).
	SMTPSecretFile = "mail/smtp-secret"
	// MailboxFile keeps the dev mailbox across restarts (JSON Lines).
	MailboxFile = "mail/mailbox.jsonl"
)

// SMTPUser is the user name the gateway authenticates as to its sink.
const SMTPUser = "querygate"

// ReadBigQueryToken returns the embedded BigQuery's token from dataDir, as
// `querygate dev` created it. It is for operator tools such as `querygate
// audit verify --data-dir`.
func ReadBigQueryToken(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, BigQueryTokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no embedded BigQuery token in %s: start `querygate dev --data-dir %s` once to create it", dataDir, dataDir)
	}
	if err != nil {
		return "", fmt.Errorf("read embedded BigQuery token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("embedded BigQuery token file %s is malformed", BigQueryTokenFile)
	}
	return tok, nil
}

// loadOrCreateSecret returns the secret in dataDir/name, creating it with
// 32 random bytes (base64url) and mode 0600 if it does not exist. A file
// that others may read or write is refused rather than trusted.
func loadOrCreateSecret(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	if st, err := os.Stat(path); err == nil {
		if st.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("secret %s is readable by others (mode %o): chmod 600 it", name, st.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", name, err)
		}
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return "", fmt.Errorf("secret %s is malformed: delete it to have a new one created", name)
		}
		return s, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	s := base64.RawURLEncoding.EncodeToString(raw)
	// Written aside, then linked into place: the link fails if another
	// gateway starting on the same data dir won, and a reader never sees a
	// half-written file.
	f, err := os.CreateTemp(filepath.Dir(path), ".secret-*")
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return loadOrCreateSecret(dataDir, name)
	} else if err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	return s, nil
}
