package functions

import (
	"context"
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/querygate/querygate/internal/openapi"
)

// Intake serves POST /v1/queries, BigQuery's REST API at /bigquery/v2, MCP
// at /mcp (with its OAuth resource metadata), /openapi.json and the sessions
// API to agents, approvers and auditors; identities come only from verified
// ID tokens.
func init() {
	functions.HTTP("Intake", lazy("Intake", func(ctx context.Context, c *cloud) (http.Handler, error) {
		comps, err := c.frontDoors(ctx)
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		comps.Intake.Register(mux)
		comps.BigQueryAPI.Register(mux)
		comps.Intake.RegisterReidentify(mux, *comps.Reidentify)
		comps.MCP.Register(mux)
		mux.Handle("GET "+openapi.Path, openapi.Handler())
		return mux, nil
	}).ServeHTTP)
}
