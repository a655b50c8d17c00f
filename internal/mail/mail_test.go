package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var fixedNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// testCert makes a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func testCert(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sink"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

func TestSenderToSink(t *testing.T) {
	t.Parallel()
	serverTLS, pool := testCert(t)
	cases := []struct {
		name     string
		sinkOpts []SinkOption
		mode     TLSMode
		user     string
		secret   string
	}{
		{name: "none", mode: TLSNone},
		{name: "none_with_auth", mode: TLSNone, user: "u", secret: "pw", sinkOpts: []SinkOption{WithSinkAuth("u", "pw")}},
		{name: "starttls_auth", mode: TLSStartTLS, user: "u", secret: "pw", sinkOpts: []SinkOption{WithSinkTLS(serverTLS, false), WithSinkAuth("u", "pw")}},
		{name: "implicit_auth", mode: TLSImplicit, user: "u", secret: "pw", sinkOpts: []SinkOption{WithSinkTLS(serverTLS, true), WithSinkAuth("u", "pw")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink, err := NewSink("127.0.0.1:0", append(tc.sinkOpts, WithSinkClock(func() time.Time { return fixedNow }))...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sink.Close() })
			host, port := splitAddr(t, sink.Addr())
			cfg := SMTPConfig{Host: host, Port: port, TLS: tc.mode, From: "querygate <qg@example.com>", Username: tc.user, Timeout: 10 * time.Second}
			var opts []SenderOption
			if tc.user != "" {
				cfg.PasswordSecret = "smtp-password"
				opts = append(opts, WithSecrets(StaticSecrets{"smtp-password": tc.secret}))
				cfg.AllowInsecureAuth = tc.mode == TLSNone
			}
			opts = append(opts, WithTLSConfig(&tls.Config{RootCAs: pool}))
			snd, err := NewSender(cfg, opts...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = snd.Send(ctx, Message{
				To:      "alice@example.com",
				Subject: "Approval needed: größe ✓",
				Text:    "Approve: https://qg.example/approval?token=abc.def\nDeny: https://qg.example/approval?token=ghi\n",
				HTML:    `<p><a href="https://qg.example/approval?token=abc.def">Approve</a> <a href="https://qg.example/approval?token=ghi&amp;x=1">Deny</a></p>`,
			})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got, err := sink.Wait(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := []Received{{
				Message: Message{
					From:    "qg@example.com",
					To:      "alice@example.com",
					Subject: "Approval needed: größe ✓",
					Text:    "Approve: https://qg.example/approval?token=abc.def\nDeny: https://qg.example/approval?token=ghi\n",
					HTML:    `<p><a href="https://qg.example/approval?token=abc.def">Approve</a> <a href="https://qg.example/approval?token=ghi&amp;x=1">Deny</a></p>`,
				},
				Links:      []string{"https://qg.example/approval?token=abc.def", "https://qg.example/approval?token=ghi&x=1", "https://qg.example/approval?token=ghi"},
				ReceivedAt: fixedNow,
			}}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Received{})); diff != "" {
				t.Errorf("stored messages (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestSenderRefusals(t *testing.T) {
	t.Parallel()
	serverTLS, pool := testCert(t)
	plain, err := NewSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	authed, err := NewSink("127.0.0.1:0", WithSinkTLS(serverTLS, false), WithSinkAuth("u", "right"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { authed.Close() })

	cases := []struct {
		name string
		sink *Sink
		cfg  func(SMTPConfig) SMTPConfig
		tls  *tls.Config
		sec  Secrets
	}{
		{name: "starttls_required_but_not_offered", sink: plain, cfg: func(c SMTPConfig) SMTPConfig { c.TLS = TLSStartTLS; return c }},
		{name: "untrusted_certificate", sink: authed, cfg: func(c SMTPConfig) SMTPConfig {
			c.TLS, c.Username, c.PasswordSecret = TLSStartTLS, "u", "p"
			return c
		}, tls: &tls.Config{RootCAs: x509.NewCertPool()}, sec: StaticSecrets{"p": "right"}},
		{name: "wrong_password", sink: authed, cfg: func(c SMTPConfig) SMTPConfig {
			c.TLS, c.Username, c.PasswordSecret = TLSStartTLS, "u", "p"
			return c
		}, tls: &tls.Config{RootCAs: pool}, sec: StaticSecrets{"p": "wrong"}},
		{name: "missing_secret", sink: authed, cfg: func(c SMTPConfig) SMTPConfig {
			c.TLS, c.Username, c.PasswordSecret = TLSStartTLS, "u", "p"
			return c
		}, tls: &tls.Config{RootCAs: pool}, sec: StaticSecrets{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host, port := splitAddr(t, tc.sink.Addr())
			cfg := tc.cfg(SMTPConfig{Host: host, Port: port, From: "qg@example.com", Timeout: 5 * time.Second})
			var opts []SenderOption
			if tc.tls != nil {
				opts = append(opts, WithTLSConfig(tc.tls))
			}
			if tc.sec != nil {
				opts = append(opts, WithSecrets(tc.sec))
			}
			snd, err := NewSender(cfg, opts...)
			if err != nil {
				t.Fatal(err)
			}
			before := len(tc.sink.Messages())
			err = snd.Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "t"})
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if n := len(tc.sink.Messages()); n != before {
				t.Errorf("sink holds %d messages, want %d", n, before)
			}
		})
	}
}

func TestSMTPConfigValidate(t *testing.T) {
	t.Parallel()
	err := SMTPConfig{TLS: "ssl", From: "nope", Username: "", PasswordSecret: "x", Port: 70000}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"host is required", "port 70000", `mode "ssl"`, "from address", "without a username"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not mention %q", err, want)
		}
	}
	err = SMTPConfig{Host: "h", TLS: TLSNone, From: "a@b.c", Username: "u"}.Validate()
	if err == nil || !strings.Contains(err.Error(), "in clear") {
		t.Errorf("Validate(auth without TLS) = %v, want a clear-text password error", err)
	}
	if err := (SMTPConfig{Host: "h", TLS: TLSImplicit, From: "a@b.c"}).Validate(); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
}

// fakeTokens stands in for the dev issuer's verifier: each token names one
// email, anything else is refused.
func fakeTokens(ctx context.Context, raw string) (string, error) {
	switch raw {
	case "tok-alice":
		return "alice@example.com", nil
	case "tok-bob":
		return "BOB@example.com", nil
	}
	return "", errors.New("invalid token")
}

func TestMailbox(t *testing.T) {
	t.Parallel()
	sink, err := NewSink("127.0.0.1:0", WithSinkClock(func() time.Time { return fixedNow }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	host, port := splitAddr(t, sink.Addr())
	snd, err := NewSender(SMTPConfig{Host: host, Port: port, TLS: TLSNone, From: "qg@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"alice@example.com", "bob@example.com"} {
		err := snd.Send(context.Background(), Message{
			To: to, Subject: "Hello <" + to + ">",
			Text: "see https://qg.example/approval?token=" + to,
			HTML: `<a href="https://qg.example/approval?token=` + to + `">Approve <b>now</b></a><script>alert(1)</script>`,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(sink.MailboxHandler(fakeTokens))
	t.Cleanup(srv.Close)
	get := func(t *testing.T, path, accept, bearer string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	t.Run("json_only_the_callers_mail", func(t *testing.T) {
		// ?to= names another recipient: it must not widen what the token
		// may read.
		resp, body := get(t, "/dev/mailbox?to=alice@example.com", "text/html;q=0.5, application/json", "tok-bob")
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" {
			t.Errorf("Referrer-Policy = %q, want no-referrer", rp)
		}
		var got []map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		want := []map[string]any{{
			"from":        "qg@example.com",
			"to":          "bob@example.com",
			"subject":     "Hello <bob@example.com>",
			"text":        "see https://qg.example/approval?token=bob@example.com",
			"html":        `<a href="https://qg.example/approval?token=bob@example.com">Approve <b>now</b></a><script>alert(1)</script>`,
			"links":       []any{"https://qg.example/approval?token=bob@example.com"},
			"received_at": "2026-11-28T12:00:00Z",
		}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("mailbox JSON (-want, +got):\n%s", diff)
		}
	})
	t.Run("html_with_query_token", func(t *testing.T) {
		resp, body := get(t, "/dev/mailbox?token=tok-alice", "text/html", "")
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
		for _, want := range []string{
			`<a href="https://qg.example/approval?token=alice@example.com">Approve now</a>`,
			`Hello &lt;alice@example.com&gt;`,
			`&lt;script&gt;alert(1)&lt;/script&gt;`,
			`<span id="recipient">alice@example.com</span>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("mailbox page lacks %q", want)
			}
		}
		if strings.Contains(body, "bob@example.com") {
			t.Error("alice's mailbox page shows bob's mail")
		}
		if strings.Contains(body, "<script>") {
			t.Error("mailbox page renders the mail's script tag")
		}
	})
	t.Run("refused_without_a_valid_token", func(t *testing.T) {
		for _, tc := range []struct{ name, path, bearer string }{
			{"none", "/dev/mailbox", ""},
			{"none_with_to", "/dev/mailbox?to=bob@example.com", ""},
			{"bad_bearer", "/dev/mailbox", "forged"},
			{"bad_query_token", "/dev/mailbox?token=forged", ""},
		} {
			resp, body := get(t, tc.path, "application/json", tc.bearer)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: status = %d, want 401", tc.name, resp.StatusCode)
			}
			if strings.Contains(body, "approval?token=") || strings.Contains(body, "forged") {
				t.Errorf("%s: refusal body leaks mail or echoes the token: %q", tc.name, body)
			}
		}
	})
	t.Run("nil_auth_refuses_all", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/dev/mailbox?token=tok-alice", nil)
		sink.MailboxHandler(nil).ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", rec.Code)
		}
	})
	t.Run("empty_json_is_array", func(t *testing.T) {
		other := httptest.NewServer(sink.MailboxHandler(func(context.Context, string) (string, error) { return "nobody@example.com", nil }))
		defer other.Close()
		req, _ := http.NewRequest(http.MethodGet, other.URL+"/dev/mailbox", nil)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.TrimSpace(string(b)) != "[]" {
			t.Errorf("body = %q, want []", b)
		}
	})
	t.Run("post_refused", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/dev/mailbox", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST status = %d, want 405", resp.StatusCode)
		}
	})
}

func TestSinkLimit(t *testing.T) {
	t.Parallel()
	sink, err := NewSink("127.0.0.1:0", WithSinkLimit(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	host, port := splitAddr(t, sink.Addr())
	snd, err := NewSender(SMTPConfig{Host: host, Port: port, TLS: TLSNone, From: "qg@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one", "two", "three"} {
		if err := snd.Send(context.Background(), Message{To: "a@example.com", Subject: s, Text: s}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, m := range sink.Messages() {
		got = append(got, m.Subject)
	}
	if diff := cmp.Diff([]string{"two", "three"}, got); diff != "" {
		t.Errorf("kept subjects (-want, +got):\n%s", diff)
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte("Subject: hi\r\nContent-Type: text/plain\r\n\r\nhttps://x.example/a\r\n"))
	f.Add([]byte("Subject: =?UTF-8?q?gr=C3=B6=C3=9Fe?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nhttps://x.example/=3D\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGEgaHJlZj0iaHR0cHM6Ly94LmV4YW1wbGUvIj54PC9hPg==\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := parseMessage(raw)
		if err != nil {
			return
		}
		for _, l := range r.Links {
			if !isWebURL(l) {
				t.Fatalf("link %q is not an http(s) URL", l)
			}
		}
	})
}
