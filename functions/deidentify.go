package functions

import (
	"context"
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/querygate/querygate/internal/auth"
)

// Deidentify is the workflow's deidentify step. Only the workflow's service account
// may call it.
func init() {
	functions.HTTP("Deidentify", lazy("Deidentify", func(ctx context.Context, c *cloud) (http.Handler, error) {
		st, err := c.steps(ctx)
		if err != nil {
			return nil, err
		}
		return auth.RequireCaller(c.internal, []string{c.cfg.WorkflowServiceAccount}, st.DeidentifyHandler()), nil
	}).ServeHTTP)
}
