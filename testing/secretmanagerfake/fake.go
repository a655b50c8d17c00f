// Package secretmanagerfake is an in-process fake of Secret Manager's gRPC
// service, for tests of code that reads secrets (internal/secrets) and of
// the cloud binary (testing/cloudbox). Tests only: production never
// imports testing/.
package secretmanagerfake

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server is an in-process SecretManagerService. It models the
// documented behaviour SecretManager relies on:
//
//   - CreateSecret makes an empty secret; ALREADY_EXISTS for a taken id.
//   - AddSecretVersion needs an existing secret (NOT_FOUND otherwise),
//     rejects a payload over 64 KiB (65536 bytes) with INVALID_ARGUMENT
//     (SecretPayload.data: "Must be no larger than 64KiB"), checks a given
//     CRC32C and stores one, and numbers versions 1, 2, ... per secret.
//   - AccessSecretVersion: NOT_FOUND for an unknown secret or version;
//     FAILED_PRECONDITION for a disabled or destroyed version; "latest" is
//     the most recently created version whatever its state (the proto's
//     "alias to the most recently created SecretVersion"); the answered
//     name is the numbered version under the project number, not the id
//     the caller used; the payload carries its CRC32C.
//   - DisableSecretVersion, EnableSecretVersion, DestroySecretVersion
//     change the state; a destroyed version cannot be enabled again.
//
// It does not model IAM (PERMISSION_DENIED), quotas, regional secrets,
// version aliases other than "latest", etags or replication.
type Server struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	// Addr is the host:port the gRPC server listens on.
	Addr string
	grpc *grpc.Server

	// projects maps project ids to numbers; a number maps to itself.
	projects map[string]string

	mu      sync.Mutex
	secrets map[string][]*version // "projects/NUM/secrets/S"

	Accesses atomic.Int64 // AccessSecretVersion calls
	// FailNext, when set, is the error the next AccessSecretVersion
	// returns.
	FailNext atomic.Pointer[error]
	// Corrupt makes AccessSecretVersion return a wrong CRC32C.
	Corrupt atomic.Bool
	// FailAll, when set, is the error every AccessSecretVersion returns.
	FailAll atomic.Pointer[error]
	// Hang, when set, makes AccessSecretVersion block until the channel
	// closes or the call's context ends, as a stalled connection does.
	Hang atomic.Pointer[chan struct{}]
}

type version struct {
	data  []byte
	crc   int64
	state secretmanagerpb.SecretVersion_State
}

// MaxPayload is the largest secret payload the real service accepts.
const MaxPayload = 64 << 10

var (
	secretRE  = regexp.MustCompile(`^projects/([^/]+)/secrets/([^/]+)$`)
	versionRE = regexp.MustCompile(`^projects/([^/]+)/secrets/([^/]+)/versions/([^/]+)$`)
)

func (f *Server) secretKey(project, id string) (string, error) {
	num, ok := f.projects[project]
	if !ok {
		return "", status.Errorf(codes.NotFound, "project %s not found", project)
	}
	return "projects/" + num + "/secrets/" + id, nil
}

// lookup resolves a version name to its secret key, number and record.
func (f *Server) lookup(name string) (string, int, *version, error) {
	m := versionRE.FindStringSubmatch(name)
	if m == nil {
		return "", 0, nil, status.Errorf(codes.InvalidArgument, "invalid version name %q", name)
	}
	key, err := f.secretKey(m[1], m[2])
	if err != nil {
		return "", 0, nil, err
	}
	vs, ok := f.secrets[key]
	if !ok {
		return "", 0, nil, status.Errorf(codes.NotFound, "secret %s not found", key)
	}
	n := len(vs)
	if m[3] != "latest" {
		if n, err = strconv.Atoi(m[3]); err != nil || n < 1 {
			return "", 0, nil, status.Errorf(codes.InvalidArgument, "invalid version %q", m[3])
		}
	}
	if n < 1 || n > len(vs) {
		return "", 0, nil, status.Errorf(codes.NotFound, "version %s not found", name)
	}
	return key, n, vs[n-1], nil
}

func (f *Server) CreateSecret(_ context.Context, r *secretmanagerpb.CreateSecretRequest) (*secretmanagerpb.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, err := f.secretKey(r.GetParent()[len("projects/"):], r.GetSecretId())
	if err != nil {
		return nil, err
	}
	if _, ok := f.secrets[key]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "secret %s exists", key)
	}
	f.secrets[key] = nil
	return &secretmanagerpb.Secret{Name: key}, nil
}

func (f *Server) AddSecretVersion(_ context.Context, r *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := secretRE.FindStringSubmatch(r.GetParent())
	if m == nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid secret name %q", r.GetParent())
	}
	key, err := f.secretKey(m[1], m[2])
	if err != nil {
		return nil, err
	}
	vs, ok := f.secrets[key]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "secret %s not found", key)
	}
	data := r.GetPayload().GetData()
	if len(data) > MaxPayload {
		return nil, status.Errorf(codes.InvalidArgument, "payload is %d bytes, over the 64 KiB limit", len(data))
	}
	crc := int64(crc32.Checksum(data, castagnoli))
	if c := r.GetPayload().DataCrc32C; c != nil && *c != crc {
		return nil, status.Error(codes.DataLoss, "payload CRC32C mismatch")
	}
	f.secrets[key] = append(vs, &version{data: append([]byte(nil), data...), crc: crc, state: secretmanagerpb.SecretVersion_ENABLED})
	return &secretmanagerpb.SecretVersion{Name: fmt.Sprintf("%s/versions/%d", key, len(vs)+1), State: secretmanagerpb.SecretVersion_ENABLED}, nil
}

func (f *Server) AccessSecretVersion(ctx context.Context, r *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	f.Accesses.Add(1)
	if e := f.FailNext.Swap(nil); e != nil {
		return nil, *e
	}
	if e := f.FailAll.Load(); e != nil {
		return nil, *e
	}
	if h := f.Hang.Load(); h != nil {
		select {
		case <-*h:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key, n, v, err := f.lookup(r.GetName())
	if err != nil {
		return nil, err
	}
	if v.state != secretmanagerpb.SecretVersion_ENABLED {
		return nil, status.Errorf(codes.FailedPrecondition, "%s/versions/%d is in state %s", key, n, v.state)
	}
	crc := v.crc
	if f.Corrupt.Load() {
		crc ^= 1
	}
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    fmt.Sprintf("%s/versions/%d", key, n),
		Payload: &secretmanagerpb.SecretPayload{Data: append([]byte(nil), v.data...), DataCrc32C: &crc},
	}, nil
}

func (f *Server) setState(name string, s secretmanagerpb.SecretVersion_State) (*secretmanagerpb.SecretVersion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, n, v, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if v.state == secretmanagerpb.SecretVersion_DESTROYED {
		return nil, status.Errorf(codes.FailedPrecondition, "%s/versions/%d is destroyed", key, n)
	}
	v.state = s
	if s == secretmanagerpb.SecretVersion_DESTROYED {
		v.data = nil
	}
	return &secretmanagerpb.SecretVersion{Name: fmt.Sprintf("%s/versions/%d", key, n), State: s}, nil
}

func (f *Server) DisableSecretVersion(_ context.Context, r *secretmanagerpb.DisableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return f.setState(r.GetName(), secretmanagerpb.SecretVersion_DISABLED)
}

func (f *Server) EnableSecretVersion(_ context.Context, r *secretmanagerpb.EnableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return f.setState(r.GetName(), secretmanagerpb.SecretVersion_ENABLED)
}

func (f *Server) DestroySecretVersion(_ context.Context, r *secretmanagerpb.DestroySecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return f.setState(r.GetName(), secretmanagerpb.SecretVersion_DESTROYED)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Start serves a fake on 127.0.0.1:0. projects maps each project id the
// fake knows to its number (a number maps to itself); secrets are stored
// and answered under the number, as the real service names them.
func Start(projects map[string]string) (*Server, error) {
	f := &Server{projects: map[string]string{}, secrets: map[string][]*version{}}
	for id, num := range projects {
		f.projects[id], f.projects[num] = num, num
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	f.Addr = lis.Addr().String()
	f.grpc = grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(f.grpc, f)
	go f.grpc.Serve(lis)
	return f, nil
}

// Stop stops the server.
func (f *Server) Stop() { f.grpc.Stop() }
