package functions

import (
	"context"
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/bqapi"
	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/openapi"
)

// Intake serves POST /v1/queries, BigQuery's REST API at /bigquery/v2, MCP
// at /mcp (with its OAuth resource metadata), /openapi.json and the sessions
// API to agents, approvers and auditors; identities come only from verified
// ID tokens.
func init() {
	functions.HTTP("Intake", lazy("Intake", func(ctx context.Context, c *cloud) (http.Handler, error) {
		in, err := c.intake(ctx)
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		in.Register(mux)
		(&bqapi.Server{Intake: in}).Register(mux)
		dlp, err := c.dlp(ctx)
		if err != nil {
			return nil, err
		}
		in.RegisterReidentify(mux, intake.ReidentifyConfig{Reidentifier: dlp, Group: c.cfg.ReidentifyGroup,
			Audit: audit.NewWriter(c.bq, c.cfg.AuditDataset, c.cfg.AuditTable)})
		m, err := c.mcpServer(ctx, in)
		if err != nil {
			return nil, err
		}
		m.Register(mux)
		mux.Handle("GET "+openapi.Path, openapi.Handler())
		return mux, nil
	}).ServeHTTP)
}
