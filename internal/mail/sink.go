package mail

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is a message as the sink stored it: one per envelope recipient,
// so To is always the single mailbox that received it.
type Received struct {
	Message
	// Links are the http and https URLs of the message, HTML anchors first,
	// in order of appearance and without duplicates.
	Links      []string  `json:"links"`
	ReceivedAt time.Time `json:"received_at"`

	// anchors keeps the text of each HTML link for the mailbox page.
	anchors []anchor
}

// MessagesTo returns a copy of the stored messages addressed to email
// (compared case-insensitively), oldest first; never nil.
func (s *Sink) MessagesTo(email string) []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Received{}
	for _, m := range s.msgs {
		if strings.EqualFold(m.To, email) {
			out = append(out, m)
		}
	}
	return out
}

// SinkOption configures a Sink.
type SinkOption func(*sinkOptions)

type sinkOptions struct {
	tls      *tls.Config
	implicit bool
	user     string
	pass     string
	limit    int
	now      func() time.Time
	file     string
}

// WithSinkTLS makes the sink offer STARTTLS with cfg, or speak TLS from the
// first byte when implicit is true.
func WithSinkTLS(cfg *tls.Config, implicit bool) SinkOption {
	return func(o *sinkOptions) { o.tls, o.implicit = cfg, implicit }
}

// WithSinkAuth makes the sink require AUTH PLAIN with these credentials.
func WithSinkAuth(username, password string) SinkOption {
	return func(o *sinkOptions) { o.user, o.pass = username, password }
}

// WithSinkLimit bounds how many messages the sink keeps; the oldest go
// first. The default is 1000.
func WithSinkLimit(n int) SinkOption { return func(o *sinkOptions) { o.limit = n } }

// WithSinkFile keeps the messages in a JSON Lines file at path (created
// 0600), so the mailbox survives a restart: a session still waiting for
// approval keeps its link. The file holds live approval links; keep it in
// the data dir.
func WithSinkFile(path string) SinkOption { return func(o *sinkOptions) { o.file = path } }

// WithSinkClock sets the clock that stamps ReceivedAt.
func WithSinkClock(now func() time.Time) SinkOption { return func(o *sinkOptions) { o.now = now } }

// maxMessageBytes bounds one message; approval mails are a few KB.
const maxMessageBytes = 10 << 20

// Sink is an embedded SMTP server that keeps what it receives in memory
// (and, with WithSinkFile, in a file). It
// is the local stand-in for a mail relay: querygate dev points its Sender
// at it and shows the messages at /dev/mailbox. It accepts mail for any
// recipient and relays nothing.
type Sink struct {
	srv  *smtp.Server
	ln   net.Listener
	opts sinkOptions

	mu      sync.Mutex
	msgs    []Received
	file    *mailFile     // nil without WithSinkFile
	changed chan struct{} // closed and replaced on every new message
	done    chan struct{}
}

// NewSink listens on addr (for example "127.0.0.1:0") and serves SMTP until
// Close.
func NewSink(addr string, opts ...SinkOption) (*Sink, error) {
	o := sinkOptions{limit: 1000, now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	s := &Sink{opts: o, changed: make(chan struct{}), done: make(chan struct{})}
	if o.file != "" {
		f, msgs, err := openMailFile(o.file, o.limit)
		if err != nil {
			return nil, err
		}
		s.file, s.msgs = f, msgs
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s}, nil
	}))
	srv.Domain = "querygate-sink.local"
	srv.MaxMessageBytes = maxMessageBytes
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = o.tls
	// Without TLS the sink is loopback-only and the credentials are test
	// values; allowing AUTH in clear keeps the none mode testable.
	srv.AllowInsecureAuth = o.tls == nil
	var ln net.Listener
	var err error
	if o.tls != nil && o.implicit {
		ln, err = tls.Listen("tcp", addr, o.tls)
	} else {
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("smtp sink listen on %s: %w", addr, err)
	}
	s.srv, s.ln = srv, ln
	go func() {
		defer close(s.done)
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// Addr returns the address the sink listens on, as host:port.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Close stops the server. Stored messages stay readable.
func (s *Sink) Close() error {
	err := s.srv.Close()
	// The server closes only listeners its Serve has registered; a Close
	// right after NewSink can come first, so close ours too.
	_ = s.ln.Close()
	<-s.done
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Messages returns a copy of the stored messages, oldest first.
func (s *Sink) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.msgs))
	copy(out, s.msgs)
	return out
}

// Wait blocks until the sink holds at least n messages and returns them, or
// returns ctx's error.
func (s *Sink) Wait(ctx context.Context, n int) ([]Received, error) {
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			out := make([]Received, len(s.msgs))
			copy(out, s.msgs)
			s.mu.Unlock()
			return out, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %d messages: %w", n, ctx.Err())
		}
	}
}

func (s *Sink) store(from string, to []string, raw []byte) error {
	parsed, err := parseMessage(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "message not understood: " + err.Error()}
	}
	now := s.opts.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	var batch []Received
	for _, rcpt := range to {
		r := parsed
		r.From = from
		r.To = rcpt
		r.ReceivedAt = now
		batch = append(batch, r)
	}
	if s.file != nil {
		// Durable before the 250: a sender told "accepted" may rely on the
		// mail surviving a restart.
		if err := s.file.append(batch, append(s.msgs, batch...), s.opts.limit); err != nil {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "mailbox not writable, try again later"}
		}
	}
	s.msgs = append(s.msgs, batch...)
	if over := len(s.msgs) - s.opts.limit; over > 0 {
		s.msgs = append([]Received(nil), s.msgs[over:]...)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// errAuthRequired is RFC 4954's answer to MAIL before AUTH.
var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

type sinkSession struct {
	sink   *Sink
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*sinkSession)(nil)

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.sink.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.sink.opts.user == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		okUser := subtle.ConstantTimeCompare([]byte(user), []byte(ss.sink.opts.user)) == 1
		okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(ss.sink.opts.pass)) == 1
		if !okUser || !okPass {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.sink.opts.user != "" && !ss.authed {
		return errAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.sink.opts.user != "" && !ss.authed {
		return errAuthRequired
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	if ss.sink.opts.user != "" && !ss.authed {
		return errAuthRequired
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	return ss.sink.store(ss.from, ss.to, buf.Bytes())
}

func (ss *sinkSession) Reset() { ss.from, ss.to = "", nil }

func (ss *sinkSession) Logout() error { return nil }
