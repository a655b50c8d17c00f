// Package dlpfake is an in-process gRPC fake of Cloud DLP's DlpService for
// tests. It implements DeidentifyContent, ReidentifyContent and
// InspectContent, with Table items, and is honest about the limits the real
// service enforces. It models:
//   - request size: at most 524,288 bytes (0.5 MB), measured as the serialized
//     request;
//   - table values: at most 50,000 cells a request;
//   - findings: at most 3,000 findings a request;
//   - transformations: at most 100 in the DeidentifyConfig (each field
//     transformation and each infoType transformation inside one counts);
//   - required fields: parent, item.table, a config, rows as wide as headers;
//   - replaceWithInfoTypeConfig is refused as a whole-field (record)
//     primitive, as DLP only allows it inside infoType transformations;
//   - templates: inspectTemplateName and deidentifyTemplateName name templates
//     stored with SetInspectTemplate / SetDeidentifyTemplate; the inline
//     config is merged over the template as DLP documents (proto.Merge:
//     singular fields replace, repeated fields append, sub-messages merge);
//     a name of the wrong form is InvalidArgument, an unknown one NotFound.
//
// It does not model quotas (600 requests a minute), latency, organization
// templates, or the template names of ReidentifyContent. The
// de-identification itself is done by the local engine (deid.Local) on the
// request's own configs, so the response has DLP's shape and plausible values.
//
// Behaviour the fake invents, until testing/cloudtier records the real one
// (testing/cloudtier/testdata/dlp.json, which TestInventedBehaviour in this
// package compares with the fake):
//   - the error texts: limit errors say "exceeds", "Too many values",
//     "Too many transformations" or "Too many findings", and the adapter's
//     batch splitting keys on such words (deid.isLimitError);
//   - the codes of an unknown and of a malformed template name (NotFound,
//     InvalidArgument);
//   - whether a template must be in the request's location (not checked);
//   - the request-size measure (the serialized request, not DLP's own).
package dlpfake

import (
	"context"
	"fmt"
	"net"
	"sync"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/querygate/querygate/internal/deid"
)

// Limits the fake enforces; Default are DLP's documented values.
type Limits struct {
	RequestBytes, Values, Findings, Transformations int
}

// Default holds Cloud DLP's documented DeidentifyContent limits.
var Default = Limits{RequestBytes: 512 * 1024, Values: 50_000, Findings: 3_000, Transformations: 100}

// Call records one accepted or rejected request (no cell values).
type Call struct {
	Bytes, Values, Rows, Findings, Transformations int
	Code                                           codes.Code
	// The template names the request carried, and whether it also had
	// an inline deidentifyConfig / inspectConfig.
	InspectTemplate, DeidentifyTemplate string
	InlineInspect, InlineDeidentify     bool
}

// Server is the fake.
type Server struct {
	dlppb.UnimplementedDlpServiceServer
	Limits Limits

	mu          sync.Mutex
	calls       []Call
	inFlight    int
	maxInFlight int
	// inject, when set, is consulted before a request is processed; a non-nil
	// error is returned as is (for injecting transient or limit errors).
	inject func(n int, req *dlppb.DeidentifyContentRequest) error

	inspectTemplates    map[string]*dlppb.InspectConfig
	deidentifyTemplates map[string]*dlppb.DeidentifyConfig
}

// Inject sets the error injector; n counts requests from 1.
func (s *Server) Inject(f func(n int, req *dlppb.DeidentifyContentRequest) error) {
	s.mu.Lock()
	s.inject = f
	s.mu.Unlock()
}

// Calls returns the requests seen so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// MaxInFlight reports the most requests the fake has served at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// Start serves a fake on 127.0.0.1:0 and returns it with a client connection
// for option.WithGRPCConn, and a stop function.
func Start() (*Server, *grpc.ClientConn, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(8 << 20))
	s := &Server{Limits: Default}
	dlppb.RegisterDlpServiceServer(gs, s)
	go gs.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20), grpc.MaxCallRecvMsgSize(8<<20)))
	if err != nil {
		gs.Stop()
		return nil, nil, nil, err
	}
	return s, conn, func() { conn.Close(); gs.Stop() }, nil
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

// DeidentifyContent checks the limits, then de-identifies with deid.Local.
func (s *Server) DeidentifyContent(ctx context.Context, req *dlppb.DeidentifyContentRequest) (*dlppb.DeidentifyContentResponse, error) {
	s.mu.Lock()
	n := len(s.calls) + 1
	inject := s.inject
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	tbl := req.GetItem().GetTable()
	c := Call{Bytes: proto.Size(req), InspectTemplate: req.GetInspectTemplateName(), DeidentifyTemplate: req.GetDeidentifyTemplateName(),
		InlineInspect: req.GetInspectConfig() != nil, InlineDeidentify: req.GetDeidentifyConfig() != nil}
	dc, dcErr := s.effectiveDeidentify(req.GetDeidentifyTemplateName(), req.GetDeidentifyConfig())
	ic, icErr := s.effectiveInspect(req.GetInspectTemplateName(), req.GetInspectConfig())
	c.Transformations = deid.CountTransformations(dc)
	if tbl != nil {
		c.Rows = len(tbl.GetRows())
		for _, r := range tbl.GetRows() {
			c.Values += len(r.GetValues())
		}
	}
	reject := func(code codes.Code, format string, a ...any) error {
		c.Code = code
		s.record(c)
		return status.Errorf(code, format, a...)
	}
	if inject != nil {
		if err := inject(n, req); err != nil {
			return nil, reject(status.Code(err), "%s", status.Convert(err).Message())
		}
	}
	if req.GetParent() == "" {
		return nil, reject(codes.InvalidArgument, "parent is required")
	}
	for _, err := range []error{dcErr, icErr} {
		if err != nil {
			return nil, reject(status.Code(err), "%s", status.Convert(err).Message())
		}
	}
	if tbl == nil {
		return nil, reject(codes.InvalidArgument, "only table items are supported by this fake")
	}
	if dc == nil {
		return nil, reject(codes.InvalidArgument, "deidentify_config or deidentify_template_name is required")
	}
	if c.Bytes > s.Limits.RequestBytes {
		return nil, reject(codes.InvalidArgument, "Request size %d exceeds the limit of %d bytes", c.Bytes, s.Limits.RequestBytes)
	}
	if c.Values > s.Limits.Values {
		return nil, reject(codes.InvalidArgument, "Too many values in the table: %d, the maximum is %d", c.Values, s.Limits.Values)
	}
	if c.Transformations > s.Limits.Transformations {
		return nil, reject(codes.InvalidArgument, "Too many transformations: %d, the maximum is %d", c.Transformations, s.Limits.Transformations)
	}
	for _, ft := range dc.GetRecordTransformations().GetFieldTransformations() {
		if ft.GetPrimitiveTransformation().GetReplaceWithInfoTypeConfig() != nil {
			return nil, reject(codes.InvalidArgument, "ReplaceWithInfoTypeConfig is only valid within InfoTypeTransformations")
		}
	}
	t := &deid.Table{}
	for _, h := range tbl.GetHeaders() {
		t.Headers = append(t.Headers, h.GetName())
	}
	for i, r := range tbl.GetRows() {
		if len(r.GetValues()) != len(t.Headers) {
			return nil, reject(codes.InvalidArgument, "row %d has %d values for %d headers", i, len(r.GetValues()), len(t.Headers))
		}
		row := make([]deid.Value, len(r.GetValues()))
		for j, v := range r.GetValues() {
			row[j] = deid.FromDLPValue(v)
		}
		t.Rows = append(t.Rows, row)
	}
	l, err := deid.NewLocal(&deid.Config{Inspect: ic, Deidentify: dc}, deid.WithWorkers(1))
	if err != nil {
		return nil, reject(codes.InvalidArgument, "config: %v", err)
	}
	out, st, err := l.Deidentify(ctx, &deid.Request{Table: t})
	if err != nil {
		return nil, reject(codes.InvalidArgument, "deidentify: %v", err)
	}
	for _, k := range st.Findings {
		c.Findings += int(k)
	}
	if c.Findings > s.Limits.Findings {
		return nil, reject(codes.InvalidArgument, "Too many findings to de-identify: %d, the maximum is %d. Retry with a smaller request.", c.Findings, s.Limits.Findings)
	}
	resp := &dlppb.DeidentifyContentResponse{Item: &dlppb.ContentItem{DataItem: &dlppb.ContentItem_Table{
		Table: &dlppb.Table{Headers: tbl.GetHeaders()}}}, Overview: &dlppb.TransformationOverview{}}
	for _, row := range out.Rows {
		pr := &dlppb.Table_Row{}
		for _, v := range row {
			dv, err := deid.ToDLPValue(v)
			if err != nil {
				return nil, reject(codes.Internal, "%v", err)
			}
			pr.Values = append(pr.Values, dv)
		}
		resp.GetItem().GetTable().Rows = append(resp.GetItem().GetTable().Rows, pr)
	}
	for it, k := range st.Findings {
		resp.Overview.TransformationSummaries = append(resp.Overview.TransformationSummaries, &dlppb.TransformationSummary{
			InfoType: &dlppb.InfoType{Name: it},
			Results:  []*dlppb.TransformationSummary_SummaryResult{{Count: k, Code: dlppb.TransformationSummary_SUCCESS}},
		})
	}
	c.Code = codes.OK
	s.record(c)
	return resp, nil
}

// String summarises a call for test logs.
func (c Call) String() string {
	return fmt.Sprintf("{%s bytes=%d values=%d rows=%d findings=%d transformations=%d}", c.Code, c.Bytes, c.Values, c.Rows, c.Findings, c.Transformations)
}

// ReidentifyContent checks the same limits, then reverses tokens with
// deid.Local.Reidentify built from the request's reidentify config (which has
// the shape of a DeidentifyConfig, as in DLP).
func (s *Server) ReidentifyContent(ctx context.Context, req *dlppb.ReidentifyContentRequest) (*dlppb.ReidentifyContentResponse, error) {
	s.mu.Lock()
	n := len(s.calls) + 1
	inject := s.inject
	s.mu.Unlock()
	tbl := req.GetItem().GetTable()
	c := Call{Bytes: proto.Size(req), Transformations: deid.CountTransformations(req.GetReidentifyConfig())}
	if tbl != nil {
		c.Rows = len(tbl.GetRows())
		for _, r := range tbl.GetRows() {
			c.Values += len(r.GetValues())
		}
	}
	reject := func(code codes.Code, format string, a ...any) error {
		c.Code = code
		s.record(c)
		return status.Errorf(code, format, a...)
	}
	if inject != nil {
		if err := inject(n, nil); err != nil {
			return nil, reject(status.Code(err), "%s", status.Convert(err).Message())
		}
	}
	switch {
	case req.GetParent() == "":
		return nil, reject(codes.InvalidArgument, "parent is required")
	case tbl == nil:
		return nil, reject(codes.InvalidArgument, "only table items are supported by this fake")
	case req.GetReidentifyConfig() == nil:
		return nil, reject(codes.InvalidArgument, "reidentify_config is required")
	case c.Bytes > s.Limits.RequestBytes:
		return nil, reject(codes.InvalidArgument, "Request size %d exceeds the limit of %d bytes", c.Bytes, s.Limits.RequestBytes)
	case c.Values > s.Limits.Values:
		return nil, reject(codes.InvalidArgument, "Too many values in the table: %d, the maximum is %d", c.Values, s.Limits.Values)
	case c.Transformations > s.Limits.Transformations:
		return nil, reject(codes.InvalidArgument, "Too many transformations: %d, the maximum is %d", c.Transformations, s.Limits.Transformations)
	}
	t := &deid.Table{}
	for _, h := range tbl.GetHeaders() {
		t.Headers = append(t.Headers, h.GetName())
	}
	for i, r := range tbl.GetRows() {
		if len(r.GetValues()) != len(t.Headers) {
			return nil, reject(codes.InvalidArgument, "row %d has %d values for %d headers", i, len(r.GetValues()), len(t.Headers))
		}
		row := make([]deid.Value, len(r.GetValues()))
		for j, v := range r.GetValues() {
			row[j] = deid.FromDLPValue(v)
		}
		t.Rows = append(t.Rows, row)
	}
	l, err := deid.NewLocal(&deid.Config{Inspect: req.GetInspectConfig(), Deidentify: req.GetReidentifyConfig()}, deid.WithWorkers(1))
	if err != nil {
		return nil, reject(codes.InvalidArgument, "config: %v", err)
	}
	out, err := l.Reidentify(ctx, t)
	if err != nil {
		return nil, reject(codes.InvalidArgument, "reidentify: %v", err)
	}
	resp := &dlppb.ReidentifyContentResponse{Item: &dlppb.ContentItem{DataItem: &dlppb.ContentItem_Table{
		Table: &dlppb.Table{Headers: tbl.GetHeaders()}}}}
	for _, row := range out.Rows {
		pr := &dlppb.Table_Row{}
		for _, v := range row {
			dv, err := deid.ToDLPValue(v)
			if err != nil {
				return nil, reject(codes.Internal, "%v", err)
			}
			pr.Values = append(pr.Values, dv)
		}
		resp.GetItem().GetTable().Rows = append(resp.GetItem().GetTable().Rows, pr)
	}
	c.Code = codes.OK
	s.record(c)
	return resp, nil
}
