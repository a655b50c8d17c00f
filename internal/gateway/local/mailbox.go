package local

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/mail"
)

// MailboxLinkTTL is the lifetime of the token in a mailbox link that
// `querygate dev` prints; a fresh link comes from `querygate token`.
const MailboxLinkTTL = 12 * time.Hour

// mailboxAuth verifies a mailbox reader's token with v, the dev issuer's
// verifier that intake uses too, and names the reader's email.
func mailboxAuth(v auth.Verifier) mail.MailboxAuth {
	return func(ctx context.Context, raw string) (string, error) {
		p, err := v.Verify(ctx, raw)
		if err != nil {
			return "", err
		}
		if p.Email == "" {
			return "", errors.New("token names no email")
		}
		return p.Email, nil
	}
}

// MailboxURL returns a ready-to-open link to email's dev mailbox, carrying
// a fresh dev token for email that lives MailboxLinkTTL.
func (g *Gateway) MailboxURL(email string) (string, error) {
	tok, err := g.DevIssuer.Mint(auth.MintOptions{Subject: email, Audience: auth.DevAudience, TTL: MailboxLinkTTL})
	if err != nil {
		return "", err
	}
	return g.URL + "/dev/mailbox?token=" + url.QueryEscape(tok), nil
}
