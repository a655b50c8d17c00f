package workflowfake_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"testing"

	executions "cloud.google.com/go/workflows/executions/apiv1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/querygate/querygate/testing/cloudtier"
	"github.com/querygate/querygate/testing/workflowfake"
)

// TestInventedBehaviour sends testing/cloudtier's Executions API probes to
// the fake and compares each outcome's code with
// testing/cloudtier/testdata/workflows.json, which holds the fake's own
// answers until a cloud-tier run records the real service's
// (QUERYGATE_TEST_RECORD=1, docs/deploy.md).
func TestInventedBehaviour(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	rec, err := cloudtier.Load(filepath.Join(filepath.Dir(file), "..", "cloudtier", "testdata", "workflows.json"))
	if err != nil {
		t.Fatal(err)
	}
	fake, err := workflowfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Stop)
	conn, err := grpc.NewClient(fake.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := executions.NewClient(context.Background(), option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range cloudtier.WorkflowProbes() {
		got[p.Name] = cloudtier.OutcomeOf(p.Call(context.Background(), c, "projects/test/locations/us-central1/workflows/query-session")).Code
	}
	want := map[string]string{}
	for k, o := range rec.Outcomes {
		want[k] = o.Code
	}
	if diff := cmp.Diff(want, got); diff != "" {
		all, _ := json.Marshal(got)
		t.Errorf("the fake's codes vs testdata/workflows.json (%s) (-recorded, +fake):\n%s\nfake: %s", rec.Source, diff, all)
	}
}
