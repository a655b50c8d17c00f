package deid

import (
	"context"
	"fmt"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// inspectCellsPerRequest bounds the cells of one InspectContent request.
// DLP returns at most 2,000 findings per InspectContentRequest (FindingLimits:
// "when set within an InspectContentRequest, the maximum returned is 2000")
// and marks the result findingsTruncated past that; 500 cells keep a typical
// sample well under it, and a truncated answer is split and resent.
const inspectCellsPerRequest = 500

// Inspect implements Inspector with Cloud DLP's InspectContent: the cells go
// as a one-column table, so every finding names its row. Quotes are not
// requested (includeQuote stays false): DLP returns only infoTypes and
// locations. A truncated answer is split and resent; a single cell whose
// findings are still truncated is an error, since an undercount could hide a
// sensitive column.
func (d *DLP) Inspect(ctx context.Context, cells []string) ([][]string, error) {
	out := make([][]string, len(cells))
	ic := d.inlineInspect()
	if ic != nil {
		ic = proto.Clone(ic).(*dlppb.InspectConfig)
		ic.IncludeQuote = false
	}
	header := []*dlppb.FieldId{{Name: "value"}}
	base := proto.Size(&dlppb.InspectContentRequest{Parent: d.parent, InspectConfig: ic, InspectTemplateName: d.cfg.InspectTemplateName,
		Item: &dlppb.ContentItem{DataItem: &dlppb.ContentItem_Table{Table: &dlppb.Table{Headers: header}}}})
	var send func(lo, hi int) error
	send = func(lo, hi int) error {
		rows := make([]*dlppb.Table_Row, 0, hi-lo)
		for _, c := range cells[lo:hi] {
			rows = append(rows, &dlppb.Table_Row{Values: []*dlppb.Value{{Type: &dlppb.Value_StringValue{StringValue: c}}}})
		}
		req := &dlppb.InspectContentRequest{Parent: d.parent, InspectConfig: ic, InspectTemplateName: d.cfg.InspectTemplateName,
			Item: &dlppb.ContentItem{DataItem: &dlppb.ContentItem_Table{Table: &dlppb.Table{Headers: header, Rows: rows}}}}
		resp, err := d.call(ctx, func() (proto.Message, error) {
			return d.client.InspectContent(ctx, req, gax.WithRetry(nil))
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if isLimitError(err) && hi-lo > 1 {
				mid := lo + (hi-lo)/2
				if err := send(lo, mid); err != nil {
					return err
				}
				return send(mid, hi)
			}
			return fmt.Errorf("inspect %d cells: %s", hi-lo, describeInspect(err))
		}
		res := resp.(*dlppb.InspectContentResponse).GetResult()
		if res.GetFindingsTruncated() {
			if hi-lo == 1 {
				return fmt.Errorf("%w: DLP truncated the findings of one cell", ErrTable)
			}
			mid := lo + (hi-lo)/2
			if err := send(lo, mid); err != nil {
				return err
			}
			return send(mid, hi)
		}
		var rowIdx []int64
		var its []string
		for _, f := range res.GetFindings() {
			for _, cl := range f.GetLocation().GetContentLocations() {
				tl := cl.GetRecordLocation().GetTableLocation()
				if tl == nil {
					return fmt.Errorf("%w: inspection finding without a table location", ErrTable)
				}
				rowIdx = append(rowIdx, tl.GetRowIndex())
				its = append(its, f.GetInfoType().GetName())
			}
		}
		got, err := collectFindings(hi-lo, rowIdx, its)
		if err != nil {
			return err
		}
		copy(out[lo:hi], got)
		return nil
	}
	for lo := 0; lo < len(cells); {
		hi, size := lo, base
		for hi < len(cells) && hi-lo < inspectCellsPerRequest {
			// A string value costs its bytes plus a few of framing.
			n := len(cells[hi]) + 16
			if hi > lo && size+n > d.opts.Limits.MaxRequestBytes {
				break
			}
			size += n
			hi++
		}
		if size > d.opts.Limits.MaxRequestBytes {
			return nil, fmt.Errorf("%w: one cell of %d bytes exceeds DLP's request size", ErrTable, len(cells[lo]))
		}
		if err := send(lo, hi); err != nil {
			return nil, err
		}
		lo = hi
	}
	return out, nil
}

// describeInspect reports an InspectContent error by code only: DLP
// messages can quote content.
func describeInspect(err error) string {
	return "InspectContent: " + status.Code(err).String()
}
