package functions

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/mail"
)

// Approval serves the approval page to approvers' browsers:
// GET /approval?token=... shows it, POST /approval/decide decides and
// delivers the decision to the workflow's callback. Links are verified
// with the Secret Manager version they name; with APPROVAL_REQUIRE_IAP the
// decision also needs IAP's assertion for the link's approver. The
// decisions API (/v1/approvals...) is served here too.
func init() {
	functions.HTTP("Approval", lazy("Approval", func(ctx context.Context, c *cloud) (http.Handler, error) {
		sm, err := c.secretManager(ctx)
		if err != nil {
			return nil, err
		}
		svc, err := c.approvalService(ctx, sm, pageOnly{}, pageOnly{})
		if err != nil {
			return nil, err
		}
		mux := approvalMux(c.cfg.Approval.PublicBaseURL, approval.NewPageHandler(svc))
		// Approvers also decide through the API with their own ID token;
		// this function holds the callback identity the decision needs.
		svc.RegisterAPI(mux, c.external)
		return mux, nil
	}).ServeHTTP)
}

// approvalMux mounts page at /approval and /approval/decide under the path
// of the public base URL, where the links point: a load balancer that
// serves the approval pages under a path prefix passes it on.
func approvalMux(publicBaseURL string, page http.Handler) *http.ServeMux {
	base := ""
	if u, err := url.Parse(publicBaseURL); err == nil {
		base = strings.TrimRight(u.Path, "/")
	}
	mux := http.NewServeMux()
	mux.Handle(base+"/approval", page)
	mux.Handle(base+"/approval/decide", page)
	return mux
}

// errPageOnly is what pageOnly answers.
var errPageOnly = errors.New("the approval function neither mails nor resolves groups; notify does")

// pageOnly fills the two ports approval.New requires that the page and the
// decision never use: mailing approvers and listing a group's members are
// notify's work. Its service account has no SMTP password and no Cloud
// Identity rights, so a call reaching here fails loudly.
type pageOnly struct{}

func (pageOnly) Send(context.Context, mail.Message) error { return errPageOnly }

func (pageOnly) Members(context.Context, string) ([]string, error) { return nil, errPageOnly }
