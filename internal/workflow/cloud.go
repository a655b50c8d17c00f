package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	executions "cloud.google.com/go/workflows/executions/apiv1"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/api/option"
)

// CloudStarter starts executions of the deployed workflow through the
// Workflows Executions API.
type CloudStarter struct {
	client *executions.Client
	parent string
}

// NewCloudStarter connects to the Executions API for the workflow named by
// parent, "projects/{p}/locations/{l}/workflows/{w}". Tests point it at a
// fake with option.WithGRPCConn or option.WithEndpoint.
func NewCloudStarter(ctx context.Context, parent string, opts ...option.ClientOption) (*CloudStarter, error) {
	p := strings.Split(parent, "/")
	if len(p) != 6 || p[0] != "projects" || p[2] != "locations" || p[4] != "workflows" || p[1] == "" || p[3] == "" || p[5] == "" {
		return nil, fmt.Errorf("workflow parent %q: want projects/P/locations/L/workflows/W", parent)
	}
	c, err := executions.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("executions client: %w", err)
	}
	return &CloudStarter{client: c, parent: parent}, nil
}

// Start creates an execution whose argument is args as JSON and returns the
// execution's resource name. Arguments over the 32 KB the API accepts are
// refused here with ErrArgumentTooLarge rather than sent.
func (c *CloudStarter) Start(ctx context.Context, args map[string]any) (string, error) {
	b, err := json.Marshal(args)
	if err != nil {
		return "", fmt.Errorf("encode argument: %w", err)
	}
	if len(b) > MaxArgumentBytes {
		return "", fmt.Errorf("create execution: %w (%d bytes)", ErrArgumentTooLarge, len(b))
	}
	ex, err := c.client.CreateExecution(ctx, &executionspb.CreateExecutionRequest{
		Parent:    c.parent,
		Execution: &executionspb.Execution{Argument: string(b)},
	})
	if err != nil {
		return "", fmt.Errorf("create execution: %w", err)
	}
	return ex.GetName(), nil
}

// Execution reads an execution's state from the API, mapped onto the same
// ExecutionState the local runtime returns.
func (c *CloudStarter) Execution(ctx context.Context, name string) (*ExecutionState, error) {
	ex, err := c.client.GetExecution(ctx, &executionspb.GetExecutionRequest{Name: name})
	if err != nil {
		return nil, fmt.Errorf("get execution: %w", err)
	}
	st := &ExecutionState{Name: ex.GetName()}
	switch ex.GetState() {
	case executionspb.Execution_SUCCEEDED:
		st.State = StateSucceeded
	case executionspb.Execution_FAILED, executionspb.Execution_CANCELLED:
		st.State = StateFailed
	default:
		st.State = StateActive
	}
	if ex.GetStartTime() != nil {
		st.StartTime = ex.GetStartTime().AsTime()
	}
	if ex.GetEndTime() != nil {
		st.EndTime = ex.GetEndTime().AsTime()
	}
	if s := ex.GetStatus(); s != nil && len(s.GetCurrentSteps()) > 0 {
		st.CurrentStep = s.GetCurrentSteps()[len(s.GetCurrentSteps())-1].GetStep()
	}
	for _, p := range []struct {
		raw string
		dst *any
	}{{ex.GetArgument(), &st.Argument}, {ex.GetResult(), &st.Result}} {
		if p.raw == "" {
			continue
		}
		v, err := decodeJSON([]byte(p.raw))
		if err != nil {
			return nil, fmt.Errorf("decode execution %s: %w", name, err)
		}
		*p.dst = v
	}
	if e := ex.GetError(); e != nil {
		st.Error = map[string]any{"message": e.GetPayload(), "context": e.GetContext()}
	}
	return st, nil
}

// Close closes the connection.
func (c *CloudStarter) Close() error { return c.client.Close() }
