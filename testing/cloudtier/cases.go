// Package cloudtier is the cloud tier of querygate's tests: go test
// ./testing/cloudtier runs the allowed, denied and approval flows against a
// real deployment, and records what the in-process fakes of Cloud DLP
// (internal/deid/dlpfake) and of the Workflows Executions API
// (testing/workflowfake) can only guess: error codes and texts, and where
// the limits really are. Without QUERYGATE_TEST_PROJECT every test skips, so
// CI only compiles and vets it (docs/deploy.md, "What was checked offline").
//
// This file holds the probes: the same requests are sent to the real
// service by the cloud test, and to the fakes by the fakes' own tests, which
// compare the fake's outcome with the one recorded in testdata/.
package cloudtier

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	dlp "cloud.google.com/go/dlp/apiv2"
	"cloud.google.com/go/dlp/apiv2/dlppb"
	executions "cloud.google.com/go/workflows/executions/apiv1"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/internal/deid"
)

// Outcome is what one probe got back: the gRPC code, the message as the
// service wrote it (recorded for people; the fakes' tests do not compare
// it), and whether the DLP adapter would split its batch on it
// (deid.IsLimitError), which is what depends on the message.
type Outcome struct {
	Code       string `json:"code"`
	Message    string `json:"message,omitempty"`
	LimitError bool   `json:"limit_error"`
}

// OutcomeOf turns a probe's error into an Outcome.
func OutcomeOf(err error) Outcome {
	s := status.Convert(err)
	return Outcome{Code: s.Code().String(), Message: s.Message(), LimitError: deid.IsLimitError(err)}
}

// Recorded is a testdata file: where the outcomes come from, and one
// outcome per probe name.
type Recorded struct {
	// Source says whether a real project produced the outcomes or they are
	// still the fake's own (until a recording run replaces them).
	Source   string             `json:"source"`
	Outcomes map[string]Outcome `json:"outcomes"`
}

// Load reads a testdata file.
func Load(path string) (*Recorded, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Recorded
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Save writes a testdata file, stably formatted.
func (r *Recorded) Save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// DLPProbe is one DLP request whose outcome the fake invents.
type DLPProbe struct {
	Name string
	// Invents names what the fake makes up here (its doc comment lists
	// the same).
	Invents string
	Call    func(ctx context.Context, c *dlp.Client, parent string) error
}

// cells is a one-column table of n cells of text.
func cells(n int, text string) *dlppb.ContentItem {
	rows := make([]*dlppb.Table_Row, n)
	for i := range rows {
		rows[i] = &dlppb.Table_Row{Values: []*dlppb.Value{{Type: &dlppb.Value_StringValue{StringValue: text}}}}
	}
	return &dlppb.ContentItem{DataItem: &dlppb.ContentItem_Table{Table: &dlppb.Table{Headers: []*dlppb.FieldId{{Name: "v"}}, Rows: rows}}}
}

func deidentify(ctx context.Context, c *dlp.Client, parent string, item *dlppb.ContentItem) error {
	_, err := c.DeidentifyContent(ctx, &dlppb.DeidentifyContentRequest{
		Parent:           parent,
		InspectConfig:    deid.DefaultConfig().Inspect,
		DeidentifyConfig: deid.DefaultConfig().Deidentify,
		Item:             item,
	}, gax.WithRetry(nil))
	return err
}

func inspectWith(ctx context.Context, c *dlp.Client, parent, template string) error {
	_, err := c.InspectContent(ctx, &dlppb.InspectContentRequest{Parent: parent, InspectTemplateName: template, Item: cells(1, "x")}, gax.WithRetry(nil))
	return err
}

// DLPProbes are the DLP requests recorded in testdata/dlp.json. Their
// cells are the letter x: nothing sensitive goes to DLP, and the bill is a
// few hundred kilobytes.
func DLPProbes() []DLPProbe {
	return []DLPProbe{
		{Name: "values_at_limit", Invents: "that 50,000 table values are accepted",
			Call: func(ctx context.Context, c *dlp.Client, parent string) error {
				return deidentify(ctx, c, parent, cells(50_000, "x"))
			}},
		{Name: "values_over_limit", Invents: "the code and text for 50,001 table values",
			Call: func(ctx context.Context, c *dlp.Client, parent string) error {
				return deidentify(ctx, c, parent, cells(50_001, "x"))
			}},
		{Name: "request_over_size", Invents: "the code and text for a request over 0.5 MB",
			Call: func(ctx context.Context, c *dlp.Client, parent string) error {
				return deidentify(ctx, c, parent, cells(1, strings.Repeat("x", 600_000)))
			}},
		{Name: "unknown_inspect_template", Invents: "the code for a template that does not exist",
			Call: func(ctx context.Context, c *dlp.Client, parent string) error {
				return inspectWith(ctx, c, parent, parent+"/inspectTemplates/querygate-no-such-template")
			}},
		{Name: "malformed_inspect_template", Invents: "the code for a template name of the wrong form",
			Call: func(ctx context.Context, c *dlp.Client, parent string) error {
				return inspectWith(ctx, c, parent, "querygate-not-a-template-name")
			}},
	}
}

// WorkflowProbe is one Executions API request whose outcome the fake
// invents. workflow is the full workflow name.
type WorkflowProbe struct {
	Name    string
	Invents string
	Call    func(ctx context.Context, c *executions.Client, workflow string) error
}

// WorkflowProbes are the Executions API requests recorded in
// testdata/workflows.json. argument_over_limit and argument_not_object may
// start an execution if the real service accepts them: the workflow then
// fails at its first step (no session id) and records nothing.
func WorkflowProbes() []WorkflowProbe {
	create := func(ctx context.Context, c *executions.Client, parent, arg string) error {
		_, err := c.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: parent, Execution: &executionspb.Execution{Argument: arg}}, gax.WithRetry(nil))
		return err
	}
	return []WorkflowProbe{
		{Name: "argument_over_limit", Invents: "the code for an argument over 32 KB",
			Call: func(ctx context.Context, c *executions.Client, wf string) error {
				return create(ctx, c, wf, `{"pad":"`+strings.Repeat("x", 33_000)+`"}`)
			}},
		{Name: "argument_not_object", Invents: "that an argument must be a JSON object",
			Call: func(ctx context.Context, c *executions.Client, wf string) error { return create(ctx, c, wf, `[1]`) }},
		{Name: "malformed_parent", Invents: "the code for a parent that is not a workflow name",
			Call: func(ctx context.Context, c *executions.Client, wf string) error {
				return create(ctx, c, strings.TrimSuffix(wf, "/"+wf[strings.LastIndex(wf, "/")+1:]), `{}`)
			}},
		{Name: "unknown_execution", Invents: "the code for GetExecution of an unknown execution",
			Call: func(ctx context.Context, c *executions.Client, wf string) error {
				_, err := c.GetExecution(ctx, &executionspb.GetExecutionRequest{Name: wf + "/executions/querygate-no-such-execution"}, gax.WithRetry(nil))
				return err
			}},
	}
}
