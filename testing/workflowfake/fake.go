// Package workflowfake is an in-process fake of the Workflows Executions
// gRPC service for tests of code that starts executions.
//
// It models these limits of the real service, so that a client that passes
// here is not rejected for them in production:
//   - the execution argument is at most 32 KB (32768 bytes) of JSON;
//   - the argument, when set, must be a JSON object (InvalidArgument);
//   - parent must be projects/{p}/locations/{l}/workflows/{w} (InvalidArgument);
//   - GetExecution of an unknown name is NotFound.
//
// It does not run workflows: executions stay ACTIVE unless a test sets
// their state with Finish, or hands them to a runner (SetRunner) such as the
// local Workflows runtime, which then owns their name and state.
//
// Invented until testing/cloudtier records the real service (its
// testdata/workflows.json, which TestInventedBehaviour compares with this
// fake): the codes above for an argument over 32 KB, one that is not a JSON
// object, a malformed parent and an unknown execution, and every message
// text.
package workflowfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxArgumentBytes is the Executions API's limit on Execution.argument.
const MaxArgumentBytes = 32 * 1024

// Server is the fake. Its zero value is not usable; call Start.
type Server struct {
	executionspb.UnimplementedExecutionsServer

	// Addr is the address the gRPC server listens on.
	Addr string

	grpc *grpc.Server
	mu   sync.Mutex
	exec map[string]*executionspb.Execution
	// created lists the CreateExecution requests that were accepted.
	created []*executionspb.CreateExecutionRequest
	// run, when set, starts each accepted execution (SetRunner).
	run Runner
}

// Runner starts an execution of the workflow parent with the decoded
// argument and returns the execution's resource name, which must be under
// parent + "/executions/".
type Runner func(ctx context.Context, parent string, argument map[string]any) (name string, err error)

// SetRunner makes every accepted CreateExecution start its execution with
// run (testing/cloudbox: the local runtime interpreting the workflow YAML).
// The execution the fake answers then has run's name. A runner's error is
// the call's (Internal).
func (s *Server) SetRunner(run Runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run = run
}

// Start listens on a local port and serves until Stop.
func Start() (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &Server{Addr: l.Addr().String(), grpc: grpc.NewServer(), exec: map[string]*executionspb.Execution{}}
	executionspb.RegisterExecutionsServer(s.grpc, s)
	go s.grpc.Serve(l)
	return s, nil
}

// Stop stops the server.
func (s *Server) Stop() { s.grpc.Stop() }

// Created returns copies of the accepted CreateExecution requests.
func (s *Server) Created() []*executionspb.CreateExecutionRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*executionspb.CreateExecutionRequest, len(s.created))
	for i, r := range s.created {
		out[i] = proto.Clone(r).(*executionspb.CreateExecutionRequest)
	}
	return out
}

// Finish marks an execution SUCCEEDED with result (JSON), or FAILED with
// the error payload when errPayload is not empty.
func (s *Server) Finish(name, result, errPayload string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exec[name]
	if !ok {
		return fmt.Errorf("no execution %s", name)
	}
	e.EndTime = timestamppb.Now()
	if errPayload != "" {
		e.State = executionspb.Execution_FAILED
		e.Error = &executionspb.Execution_Error{Payload: errPayload}
		return nil
	}
	e.State = executionspb.Execution_SUCCEEDED
	e.Result = result
	return nil
}

// CreateExecution validates like the service and records an ACTIVE execution.
func (s *Server) CreateExecution(ctx context.Context, req *executionspb.CreateExecutionRequest) (*executionspb.Execution, error) {
	p := strings.Split(req.GetParent(), "/")
	if len(p) != 6 || p[0] != "projects" || p[2] != "locations" || p[4] != "workflows" || p[1] == "" || p[3] == "" || p[5] == "" {
		return nil, status.Errorf(codes.InvalidArgument, "parent %q is not a workflow name", req.GetParent())
	}
	arg := req.GetExecution().GetArgument()
	if len(arg) > MaxArgumentBytes {
		return nil, status.Errorf(codes.InvalidArgument, "argument size %d exceeds the limit of %d bytes", len(arg), MaxArgumentBytes)
	}
	if arg != "" {
		var obj map[string]any
		if err := json.Unmarshal([]byte(arg), &obj); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "argument is not a JSON object: %v", err)
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	name := req.GetParent() + "/executions/" + hex.EncodeToString(b[:])
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()
	if run != nil {
		var obj map[string]any
		if arg != "" {
			_ = json.Unmarshal([]byte(arg), &obj) // checked above
		}
		n, err := run(ctx, req.GetParent(), obj)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "start execution: %v", err)
		}
		if !strings.HasPrefix(n, req.GetParent()+"/executions/") {
			return nil, status.Errorf(codes.Internal, "runner named execution %q outside %s", n, req.GetParent())
		}
		name = n
	}
	e := &executionspb.Execution{
		Name: name, Argument: arg, State: executionspb.Execution_ACTIVE, StartTime: timestamppb.Now(),
		WorkflowRevisionId: "000001-fak",
	}
	s.mu.Lock()
	s.exec[name] = e
	s.created = append(s.created, proto.Clone(req).(*executionspb.CreateExecutionRequest))
	s.mu.Unlock()
	return proto.Clone(e).(*executionspb.Execution), nil
}

// GetExecution returns a stored execution or NotFound.
func (s *Server) GetExecution(_ context.Context, req *executionspb.GetExecutionRequest) (*executionspb.Execution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exec[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "execution %q not found", req.GetName())
	}
	return proto.Clone(e).(*executionspb.Execution), nil
}
