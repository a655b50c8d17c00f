package workflow

import (
	"context"
	"errors"
	"strings"
	"testing"

	executions "cloud.google.com/go/workflows/executions/apiv1"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/testing/workflowfake"
)

// The fake models the Executions API's 32 KB argument limit and its
// requirement that the argument be a JSON object (see workflowfake).

func startFake(t *testing.T) (*workflowfake.Server, *grpc.ClientConn) {
	t.Helper()
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
	return fake, conn
}

const testParent = "projects/demo/locations/europe-west1/workflows/query_session"

func TestCloudStarter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake, conn := startFake(t)
	cs, err := NewCloudStarter(ctx, testParent, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	name, err := cs.Start(ctx, map[string]any{"session_id": "s-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, testParent+"/executions/") {
		t.Errorf("name = %q", name)
	}
	created := fake.Created()
	if len(created) != 1 {
		t.Fatalf("fake saw %d CreateExecution calls, want 1", len(created))
	}
	if got, want := created[0].GetExecution().GetArgument(), `{"session_id":"s-1"}`; got != want {
		t.Errorf("argument = %s, want %s", got, want)
	}
	if got := created[0].GetParent(); got != testParent {
		t.Errorf("parent = %s", got)
	}

	st, err := cs.Execution(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateActive {
		t.Errorf("state = %s, want ACTIVE", st.State)
	}
	if err := fake.Finish(name, `{"outcome":"succeeded"}`, ""); err != nil {
		t.Fatal(err)
	}
	st, err = cs.Execution(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"outcome": "succeeded"}, st.Result); diff != "" || st.State != StateSucceeded {
		t.Errorf("state %s, result (-want, +got):\n%s", st.State, diff)
	}

	// Over 32 KB: refused before any RPC.
	_, err = cs.Start(ctx, map[string]any{"session_id": strings.Repeat("x", MaxArgumentBytes)})
	if !errors.Is(err, ErrArgumentTooLarge) {
		t.Errorf("large argument: %v, want ErrArgumentTooLarge", err)
	}
	if n := len(fake.Created()); n != 1 {
		t.Errorf("fake saw %d CreateExecution calls after the refused one, want 1", n)
	}
}

// TestFakeEnforcesArgumentLimit shows the limit CloudStarter enforces is the
// one the service enforces: the raw client gets InvalidArgument one byte
// over 32 KB and succeeds at exactly 32 KB.
func TestFakeEnforcesArgumentLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, conn := startFake(t)
	c, err := executions.NewClient(ctx, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	arg := func(n int) string {
		// {"s":"xxx"} is 8 bytes plus the x's.
		return `{"s":"` + strings.Repeat("x", n-8) + `"}`
	}
	for _, tc := range []struct {
		size int
		code codes.Code
	}{{MaxArgumentBytes, codes.OK}, {MaxArgumentBytes + 1, codes.InvalidArgument}} {
		_, err := c.CreateExecution(ctx, &executionspb.CreateExecutionRequest{
			Parent: testParent, Execution: &executionspb.Execution{Argument: arg(tc.size)},
		})
		if got := status.Code(err); got != tc.code {
			t.Errorf("argument of %d bytes: code %v, want %v", tc.size, got, tc.code)
		}
	}
	_, err = c.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: "projects/p", Execution: &executionspb.Execution{}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad parent: %v, want InvalidArgument", err)
	}
}

func TestNewCloudStarterRejectsBadParent(t *testing.T) {
	t.Parallel()
	if _, err := NewCloudStarter(context.Background(), "projects/p/workflows/w"); err == nil {
		t.Error("NewCloudStarter accepted a malformed parent")
	}
}
