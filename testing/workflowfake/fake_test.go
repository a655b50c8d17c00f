package workflowfake

import (
	"context"
	"errors"
	"testing"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRunnerStartsExecutions: with a runner, an accepted execution is
// handed to it with its decoded argument and answered under its name; a
// runner's failure, or a name outside the workflow, fails the call.
func TestRunnerStartsExecutions(t *testing.T) {
	t.Parallel()
	s := &Server{exec: map[string]*executionspb.Execution{}}
	const parent = "projects/p/locations/l/workflows/w"
	var got map[string]any
	s.SetRunner(func(_ context.Context, p string, arg map[string]any) (string, error) {
		got = arg
		switch arg["session_id"] {
		case "fail":
			return "", errors.New("boom")
		case "elsewhere":
			return "projects/p/locations/l/workflows/other/executions/1", nil
		}
		return p + "/executions/run-1", nil
	})
	ex, err := s.CreateExecution(t.Context(), &executionspb.CreateExecutionRequest{Parent: parent,
		Execution: &executionspb.Execution{Argument: `{"session_id":"qs_1"}`}})
	if err != nil {
		t.Fatal(err)
	}
	if ex.GetName() != parent+"/executions/run-1" || got["session_id"] != "qs_1" {
		t.Errorf("execution %q with argument %v, want the runner's name and session_id qs_1", ex.GetName(), got)
	}
	for _, id := range []string{"fail", "elsewhere"} {
		_, err := s.CreateExecution(t.Context(), &executionspb.CreateExecutionRequest{Parent: parent,
			Execution: &executionspb.Execution{Argument: `{"session_id":"` + id + `"}`}})
		if status.Code(err) != codes.Internal {
			t.Errorf("runner %s: err %v, want Internal", id, err)
		}
	}
	if n := len(s.Created()); n != 1 {
		t.Errorf("%d executions recorded, want 1 (failed starts are not)", n)
	}
}
