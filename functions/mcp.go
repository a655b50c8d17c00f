package functions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/catalog"
	"github.com/querygate/querygate/internal/gateway"
	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/mcp"
)

// mcpServer builds the MCP front door over in, with the policy step's own policy
// engine so that explain_policy and describe_table decide as the workflow
// will.
func (c *cloud) mcpServer(ctx context.Context, in *intake.Server) (*mcp.Server, error) {
	st, err := c.steps(ctx)
	if err != nil {
		return nil, err
	}
	ep, ok := st.Policy.(*gateway.EnginePolicy)
	if !ok {
		return nil, fmt.Errorf("%w: mcp: the policy step has no policy engine", errConfig)
	}
	issuers := append([]string(nil), auth.GoogleIssuers...)
	for _, p := range c.cfg.OIDCIssuers {
		iss, _, _ := strings.Cut(p, "|")
		issuers = append(issuers, iss)
	}
	m, err := mcp.New(mcp.Config{Intake: in, Policy: ep, Tables: catalog.New(c.bq, 5*time.Minute), Datasets: mcp.NewBigQuery(c.bq),
		Projects: mcp.Projects(c.cfg.Project, ep.Engine.Policy()), HiddenDatasets: []string{c.cfg.AuditDataset, c.cfg.ResultsDataset},
		Issuers: issuers, PublicURL: c.cfg.PublicURL})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	return m, nil
}
