package setup

import (
	"context"
	"time"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/mail"
)

// The approval service's link keys and mailer reach Secret Manager (the
// keys, the SMTP password) and the SMTP relay. A hung call there would
// hold the notify step, and its session, until the workflow's HTTP call
// gives up (10 minutes and more); bounding each call by the steps'
// CallTimeout makes it fail as a retryable step error instead, as the
// steps' own dependency calls do (steps/bounded.go). testing/faults
// "secret manager hangs" is the case.

type boundedKeys struct {
	approval.Keys
	d time.Duration
}

func (b boundedKeys) SigningKey(ctx context.Context) (string, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Keys.SigningKey(ctx)
}

func (b boundedKeys) VerificationKey(ctx context.Context, kid string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Keys.VerificationKey(ctx, kid)
}

type boundedMailer struct {
	approval.Mailer
	d time.Duration
}

func (b boundedMailer) Send(ctx context.Context, m mail.Message) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Mailer.Send(ctx, m)
}

// boundApproval puts d on every call of keys and mailer; nil stays nil.
func boundApproval(keys approval.Keys, mailer approval.Mailer, d time.Duration) (approval.Keys, approval.Mailer) {
	if keys != nil {
		keys = boundedKeys{keys, d}
	}
	if mailer != nil {
		mailer = boundedMailer{mailer, d}
	}
	return keys, mailer
}
