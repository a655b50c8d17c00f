package approval

import (
	"context"

	"github.com/querygate/querygate/internal/auth"
)

// IAPHeader is the header Identity-Aware Proxy adds to every request it
// lets through.
const IAPHeader = auth.IAPHeader

// IAPVerifier verifies an Identity-Aware Proxy assertion and returns the
// signed-in user's lowercased email. *auth.IAP implements it with
// google.golang.org/api/idtoken and an issuer check.
type IAPVerifier interface {
	VerifyIAP(ctx context.Context, assertion string) (string, error)
}

var _ IAPVerifier = (*auth.IAP)(nil)
