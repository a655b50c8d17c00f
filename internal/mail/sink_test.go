package mail

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSinkFilePersists restarts a sink on the same file: the mail and its
// link texts are still there, and the file is private.
func TestSinkFilePersists(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mail", "mailbox.jsonl")
	send := func(sink *Sink, subjects ...string) {
		t.Helper()
		host, port := splitAddr(t, sink.Addr())
		snd, err := NewSender(SMTPConfig{Host: host, Port: port, TLS: TLSNone, From: "qg@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range subjects {
			err := snd.Send(context.Background(), Message{To: "alice@example.com", Subject: s, Text: "t",
				HTML: `<a href="https://qg.example/approval?token=` + s + `">Approve ` + s + `</a>`})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	first, err := NewSink("127.0.0.1:0", WithSinkFile(path), WithSinkLimit(3), WithSinkClock(func() time.Time { return fixedNow }))
	if err != nil {
		t.Fatal(err)
	}
	send(first, "one", "two")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// A torn last line (a crash mid-write) is skipped, not fatal.
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(`{"to":"alice@exa`)
	fh.Close()

	second, err := NewSink("127.0.0.1:0", WithSinkFile(path), WithSinkLimit(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	got := second.MessagesTo("alice@example.com")
	var subjects []string
	for _, m := range got {
		subjects = append(subjects, m.Subject)
	}
	if diff := cmp.Diff([]string{"one", "two"}, subjects); diff != "" {
		t.Fatalf("subjects after restart (-want, +got):\n%s", diff)
	}
	if !got[0].ReceivedAt.Equal(fixedNow) {
		t.Errorf("ReceivedAt = %v, want %v", got[0].ReceivedAt, fixedNow)
	}
	if diff := cmp.Diff([]anchor{{Href: "https://qg.example/approval?token=one", Text: "Approve one"}}, got[0].anchors); diff != "" {
		t.Errorf("anchors after restart (-want, +got):\n%s", diff)
	}
	// Past twice the limit the file is compacted to the newest messages.
	send(second, "three", "four", "five", "six")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines > 6 {
		t.Errorf("file holds %d lines, want at most 6 (twice the limit)", lines)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("mailbox file mode = %o, want 600", perm)
	}
	third, err := NewSink("127.0.0.1:0", WithSinkFile(path), WithSinkLimit(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { third.Close() })
	subjects = nil
	for _, m := range third.Messages() {
		subjects = append(subjects, m.Subject)
	}
	if diff := cmp.Diff([]string{"four", "five", "six"}, subjects); diff != "" {
		t.Errorf("subjects after compaction and restart (-want, +got):\n%s", diff)
	}
}

// TestSinkRefusesUnauthenticated speaks SMTP by hand to a sink that
// requires AUTH: MAIL, RCPT and DATA without it are refused, a wrong
// password is refused, and nothing is stored.
func TestSinkRefusesUnauthenticated(t *testing.T) {
	t.Parallel()
	sink, err := NewSink("127.0.0.1:0", WithSinkAuth("querygate", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	conn, err := net.DialTimeout("tcp", sink.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	rd := bufio.NewReader(conn)
	reply := func() string {
		t.Helper()
		var all string
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("read reply: %v (so far %q)", err, all)
			}
			all += line
			if len(line) < 4 || line[3] != '-' {
				return all
			}
		}
	}
	say := func(cmd string) string {
		t.Helper()
		if _, err := io.WriteString(conn, cmd+"\r\n"); err != nil {
			t.Fatal(err)
		}
		return reply()
	}
	if r := reply(); !strings.HasPrefix(r, "220") {
		t.Fatalf("greeting = %q", r)
	}
	if r := say("EHLO attacker.example"); !strings.HasPrefix(r, "250") {
		t.Fatalf("EHLO = %q", r)
	}
	wrong := base64.StdEncoding.EncodeToString([]byte("\x00querygate\x00guess"))
	for _, tc := range []struct{ cmd, wantCode string }{
		{"MAIL FROM:<querygate@querygate.local>", "530"},
		{"RCPT TO:<approver1@example.com>", "5"},
		{"DATA", "5"},
		{"AUTH PLAIN " + wrong, "535"},
		{"MAIL FROM:<querygate@querygate.local>", "530"},
	} {
		if r := say(tc.cmd); !strings.HasPrefix(r, tc.wantCode) {
			t.Errorf("%s = %q, want a %s refusal", tc.cmd, strings.TrimSpace(r), tc.wantCode)
		}
	}
	say("QUIT")
	if n := len(sink.Messages()); n != 0 {
		t.Errorf("sink stored %d messages from an unauthenticated client", n)
	}
}
