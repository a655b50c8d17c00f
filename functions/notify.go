package functions

import (
	"context"
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/mail"
)

// Notify is the workflow's notify step: it records the approval request
// and mails the approver group's members signed Approve and Deny links.
// Only the workflow's service account may call it. It reads the SMTP
// password and signs links with Secret Manager versions, and lists the
// approvers through Cloud Identity.
func init() {
	functions.HTTP("Notify", lazy("Notify", func(ctx context.Context, c *cloud) (http.Handler, error) {
		sm, err := c.secretManager(ctx)
		if err != nil {
			return nil, err
		}
		sender, err := mail.NewSender(c.cfg.SMTP, mail.WithSecrets(sm))
		if err != nil {
			return nil, err
		}
		groups, err := c.approverGroups(ctx)
		if err != nil {
			return nil, err
		}
		svc, err := c.approvalService(ctx, sm, sender, groups)
		if err != nil {
			return nil, err
		}
		return auth.RequireCaller(c.internal, []string{c.cfg.WorkflowServiceAccount}, approval.NewNotifyHandler(svc)), nil
	}).ServeHTTP)
}
