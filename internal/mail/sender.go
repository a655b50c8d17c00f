// Package mail sends querygate's mail over SMTP and, for local runs, receives
// it in an embedded SMTP sink that shows a mailbox page at /dev/mailbox.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode selects how the SMTP connection is encrypted.
type TLSMode string

// TLS modes.
const (
	// TLSNone sends in clear text. Only for a local sink or a relay on the
	// same host.
	TLSNone TLSMode = "none"
	// TLSStartTLS connects in clear and requires the STARTTLS upgrade
	// before anything else is sent (port 587).
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit TLSMode = "implicit"
)

// Message is one mail to send. Text and HTML are the two alternative parts;
// at least one must be set.
type Message struct {
	From    string `json:"from,omitempty"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

// Secrets is the port to the secret store that holds the SMTP password:
// Secret Manager in the cloud, a file or a static value locally.
type Secrets interface {
	// Secret returns the current value of the named secret.
	Secret(ctx context.Context, name string) (string, error)
}

// StaticSecrets is a Secrets backed by a map, for local runs and tests.
type StaticSecrets map[string]string

// Secret implements Secrets.
func (s StaticSecrets) Secret(_ context.Context, name string) (string, error) {
	v, ok := s[name]
	if !ok {
		return "", fmt.Errorf("secret %q: %w", name, ErrNoSecret)
	}
	return v, nil
}

// SMTPConfig says where and how to send mail.
type SMTPConfig struct {
	Host string  `env:"SMTP_HOST"`
	Port int     `env:"SMTP_PORT"` // 0: 25, 587 or 465 by TLS mode
	TLS  TLSMode `env:"SMTP_TLS, default=starttls"`
	// Username enables SMTP AUTH PLAIN. The password is read through the
	// Secrets port at every send, so a rotated secret takes effect at once.
	Username       string `env:"SMTP_USERNAME"`
	PasswordSecret string `env:"SMTP_PASSWORD_SECRET"`
	// From is the envelope and header sender, e.g.
	// "querygate <querygate@example.com>".
	From string `env:"SMTP_FROM"`
	// AllowInsecureAuth permits AUTH over a connection without TLS. Only for
	// a relay on the same host.
	AllowInsecureAuth bool          `env:"SMTP_ALLOW_INSECURE_AUTH"`
	Timeout           time.Duration `env:"SMTP_TIMEOUT, default=30s"`
}

// Validate reports every problem of c at once.
func (c SMTPConfig) Validate() error {
	var errs []error
	if c.Host == "" {
		errs = append(errs, errors.New("SMTP host is required"))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("SMTP port %d out of range", c.Port))
	}
	switch c.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		errs = append(errs, fmt.Errorf("SMTP TLS mode %q: want none, starttls or implicit", c.TLS))
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("SMTP from address %q: %w", c.From, err))
	}
	if c.PasswordSecret != "" && c.Username == "" {
		errs = append(errs, errors.New("SMTP password secret set without a username"))
	}
	if c.Username != "" && c.TLS == TLSNone && !c.AllowInsecureAuth {
		errs = append(errs, errors.New("SMTP AUTH without TLS sends the password in clear: use starttls or implicit, or set AllowInsecureAuth"))
	}
	return errors.Join(errs...)
}

func (c SMTPConfig) port() int {
	if c.Port != 0 {
		return c.Port
	}
	switch c.TLS {
	case TLSImplicit:
		return 465
	case TLSStartTLS:
		return 587
	}
	return 25
}

// SenderOption configures a Sender.
type SenderOption func(*Sender)

// WithSecrets sets the port the SMTP password is read from.
func WithSecrets(s Secrets) SenderOption { return func(x *Sender) { x.secrets = s } }

// WithTLSConfig sets the TLS client configuration, for example a private
// root CA. ServerName defaults to the SMTP host.
func WithTLSConfig(c *tls.Config) SenderOption { return func(x *Sender) { x.tls = c } }

// Sender sends mail through an SMTP server. It is safe for concurrent use;
// every Send opens its own connection.
type Sender struct {
	cfg     SMTPConfig
	secrets Secrets
	tls     *tls.Config
}

// NewSender validates cfg and returns a Sender.
func NewSender(cfg SMTPConfig, opts ...SenderOption) (*Sender, error) {
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("smtp config: %w", err)
	}
	s := &Sender{cfg: cfg}
	for _, o := range opts {
		o(s)
	}
	if cfg.PasswordSecret != "" && s.secrets == nil {
		return nil, errors.New("smtp config: a password secret is named but no Secrets port was given")
	}
	return s, nil
}

// Send delivers m. It returns an error when the server did not accept the
// message for every recipient.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if m.To == "" || (m.Text == "" && m.HTML == "") {
		return ErrEmptyMessage
	}
	msg := gomail.NewMsg()
	from := m.From
	if from == "" {
		from = s.cfg.From
	}
	if err := msg.From(from); err != nil {
		return fmt.Errorf("mail from %q: %w", from, err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("mail to: %w", err)
	}
	msg.Subject(strings.ReplaceAll(strings.ReplaceAll(m.Subject, "\r", " "), "\n", " "))
	msg.SetDate()
	msg.SetMessageID()
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}

	opts := []gomail.Option{
		gomail.WithPort(s.cfg.port()),
		gomail.WithoutNoop(),
	}
	if s.cfg.Timeout > 0 {
		opts = append(opts, gomail.WithTimeout(s.cfg.Timeout))
	}
	tc := &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	if s.tls != nil {
		tc = s.tls.Clone()
		if tc.ServerName == "" {
			tc.ServerName = s.cfg.Host
		}
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	switch s.cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	}
	if s.cfg.Username != "" {
		var pass string
		if s.cfg.PasswordSecret != "" {
			p, err := s.secrets.Secret(ctx, s.cfg.PasswordSecret)
			if err != nil {
				return fmt.Errorf("read SMTP password: %w", err)
			}
			pass = p
		}
		auth := gomail.SMTPAuthPlain
		if s.cfg.TLS == TLSNone {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.cfg.Username), gomail.WithPassword(pass))
	} else {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthNoAuth))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send mail via %s:%d: %w", s.cfg.Host, s.cfg.port(), err)
	}
	return nil
}
