package dlpfake

import (
	"context"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/querygate/querygate/internal/deid"
)

// InspectFindingsLimit is the most findings DLP returns for one
// InspectContentRequest (FindingLimits.maxFindingsPerRequest: "when set
// within an InspectContentRequest, the maximum returned is 2000"); past it
// the fake, like DLP, returns that many and sets findingsTruncated.
const InspectFindingsLimit = 2000

// InspectContent checks the request limits (size, values, required fields),
// then inspects every string cell with deid.Local on the request's
// inspectConfig. Findings carry the infoType and the table location (row
// index and field), never a quote unless includeQuote asks for one, as in
// DLP. Calls are recorded like DeidentifyContent's.
func (s *Server) InspectContent(ctx context.Context, req *dlppb.InspectContentRequest) (*dlppb.InspectContentResponse, error) {
	tbl := req.GetItem().GetTable()
	c := Call{Bytes: proto.Size(req), InspectTemplate: req.GetInspectTemplateName(), InlineInspect: req.GetInspectConfig() != nil}
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
	if req.GetParent() == "" {
		return nil, reject(codes.InvalidArgument, "parent is required")
	}
	ic, err := s.effectiveInspect(req.GetInspectTemplateName(), req.GetInspectConfig())
	if err != nil {
		return nil, reject(status.Code(err), "%s", status.Convert(err).Message())
	}
	if tbl == nil {
		return nil, reject(codes.InvalidArgument, "only table items are supported by this fake")
	}
	if c.Bytes > s.Limits.RequestBytes {
		return nil, reject(codes.InvalidArgument, "Request size %d exceeds the limit of %d bytes", c.Bytes, s.Limits.RequestBytes)
	}
	if c.Values > s.Limits.Values {
		return nil, reject(codes.InvalidArgument, "Too many values in the table: %d, the maximum is %d", c.Values, s.Limits.Values)
	}
	// The local engine needs a deidentifyConfig; inspection ignores it.
	l, err := deid.NewLocal(&deid.Config{Inspect: ic, Deidentify: deid.DefaultConfig().Deidentify}, deid.WithWorkers(1))
	if err != nil {
		return nil, reject(codes.InvalidArgument, "config: %v", err)
	}
	res := &dlppb.InspectResult{}
	for r, row := range tbl.GetRows() {
		if len(row.GetValues()) != len(tbl.GetHeaders()) {
			return nil, reject(codes.InvalidArgument, "row %d has %d values for %d headers", r, len(row.GetValues()), len(tbl.GetHeaders()))
		}
		for j, v := range row.GetValues() {
			sv, ok := v.GetType().(*dlppb.Value_StringValue)
			if !ok {
				continue
			}
			found, err := l.Inspect(ctx, []string{sv.StringValue})
			if err != nil {
				return nil, reject(codes.Internal, "inspect: %v", err)
			}
			for _, it := range found[0] {
				if len(res.Findings) >= InspectFindingsLimit {
					res.FindingsTruncated = true
					break
				}
				f := &dlppb.Finding{InfoType: &dlppb.InfoType{Name: it}, Likelihood: dlppb.Likelihood_LIKELY,
					Location: &dlppb.Location{ContentLocations: []*dlppb.ContentLocation{{
						ContainerName: "table",
						Location: &dlppb.ContentLocation_RecordLocation{RecordLocation: &dlppb.RecordLocation{
							FieldId:       tbl.GetHeaders()[j],
							TableLocation: &dlppb.TableLocation{RowIndex: int64(r)},
						}},
					}}}}
				if ic.GetIncludeQuote() {
					f.Quote = "(the fake does not quote)"
				}
				res.Findings = append(res.Findings, f)
			}
		}
	}
	c.Findings = len(res.Findings)
	c.Code = codes.OK
	s.record(c)
	return &dlppb.InspectContentResponse{Result: res}, nil
}
