package functions

import (
	"context"
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/querygate/querygate/internal/auth"
)

// Execute is the workflow's execute step. Only the workflow's service account
// may call it.
func init() {
	functions.HTTP("Execute", lazy("Execute", func(ctx context.Context, c *cloud) (http.Handler, error) {
		st, err := c.steps(ctx)
		if err != nil {
			return nil, err
		}
		return auth.RequireCaller(c.internal, []string{c.cfg.WorkflowServiceAccount}, st.ExecuteHandler()), nil
	}).ServeHTTP)
}
