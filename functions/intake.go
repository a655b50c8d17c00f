package functions

import (
	"context"
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
)

// Intake serves POST /v1/queries and the sessions API to agents, approvers
// and auditors; identities come only from verified ID tokens.
func init() {
	functions.HTTP("Intake", lazy(func(ctx context.Context, c *cloud) (http.Handler, error) {
		in, err := c.intake(ctx)
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		in.Register(mux)
		return mux, nil
	}).ServeHTTP)
}
