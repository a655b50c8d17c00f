package deid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	dlp "cloud.google.com/go/dlp/apiv2"
	"cloud.google.com/go/dlp/apiv2/dlppb"
	"github.com/googleapis/gax-go/v2"
	"golang.org/x/time/rate"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DLPLimits are Cloud DLP's documented DeidentifyContent limits; the adapter
// batches to stay under them.
type DLPLimits struct {
	MaxRequestBytes    int // 0.5 MB a request
	MaxValues          int // 50,000 table values a request
	MaxFindings        int // 3,000 findings a request (not knowable in advance: a limit error splits the batch)
	MaxTransformations int // 100 transformations a config
}

// DefaultDLPLimits are the documented limits. MaxRequestBytes keeps 24 KiB of
// headroom below 512 KiB for framing and metadata.
var DefaultDLPLimits = DLPLimits{MaxRequestBytes: 500_000, MaxValues: 50_000, MaxFindings: 3_000, MaxTransformations: 100}

// DLPOptions tune the adapter.
type DLPOptions struct {
	Limits DLPLimits
	// Concurrency bounds the requests in flight (default 8).
	Concurrency int
	// RequestsPerMinute paces requests under the regional quota (default 600).
	RequestsPerMinute int
	// MaxAttempts per request for transient errors (default 5), with
	// exponential backoff from InitialBackoff (default 200ms) plus jitter.
	MaxAttempts    int
	InitialBackoff time.Duration
	// CellsPerRequest, when set, caps the cells in one request below
	// Limits.MaxValues, which keeps the findings per request low.
	CellsPerRequest int
}

func (o *DLPOptions) defaults() {
	if o.Limits == (DLPLimits{}) {
		o.Limits = DefaultDLPLimits
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.RequestsPerMinute <= 0 {
		o.RequestsPerMinute = 600
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 200 * time.Millisecond
	}
}

// DLP de-identifies through Cloud DLP's DeidentifyContent with Table items.
type DLP struct {
	client  *dlp.Client
	cfg     *Config
	parent  string
	opts    DLPOptions
	limiter *rate.Limiter
}

// NewDLP connects to Cloud DLP with the default options. parent is
// "projects/P/locations/L". opts go to the client (option.WithGRPCConn points
// it at a fake).
func NewDLP(ctx context.Context, cfg *Config, parent string, opts ...option.ClientOption) (*DLP, error) {
	return NewDLPWithOptions(ctx, cfg, parent, DLPOptions{}, opts...)
}

// NewDLPWithOptions is NewDLP with tuning.
func NewDLPWithOptions(ctx context.Context, cfg *Config, parent string, o DLPOptions, opts ...option.ClientOption) (*DLP, error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if parent == "" {
		return nil, fmt.Errorf("%w: DLP parent (projects/P/locations/L) is required", ErrConfig)
	}
	o.defaults()
	c, err := dlp.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("dlp client: %w", err)
	}
	burst := max(o.RequestsPerMinute/60, 1)
	return &DLP{client: c, cfg: cfg, parent: parent, opts: o,
		limiter: rate.NewLimiter(rate.Limit(float64(o.RequestsPerMinute)/60), burst)}, nil
}

// Close releases the client.
func (d *DLP) Close() error { return d.client.Close() }

// RequestConfig builds the DeidentifyConfig sent for a table with these
// headers: record transformations naming every column, so lineage columns get
// their infoType's transformation whole and the others are inspected. It is
// exported so the fake and tests can check what goes on the wire.
func RequestConfig(cfg *Config, headers []string, columnInfoTypes map[string][]string) (*dlppb.DeidentifyConfig, []string, error) {
	itt := DefaultConfig().Deidentify.GetInfoTypeTransformations()
	named := map[string]bool{}
	var fts []*dlppb.FieldTransformation
	present := map[string]bool{}
	for _, h := range headers {
		present[h] = true
	}
	switch t := cfg.Deidentify.GetTransformation().(type) {
	case *dlppb.DeidentifyConfig_InfoTypeTransformations:
		itt = t.InfoTypeTransformations
	case *dlppb.DeidentifyConfig_RecordTransformations:
		for _, ft := range t.RecordTransformations.GetFieldTransformations() {
			var fields []*dlppb.FieldId
			for _, f := range ft.GetFields() {
				if present[f.GetName()] {
					fields = append(fields, f)
					named[f.GetName()] = true
				}
			}
			if len(fields) == 0 {
				continue
			}
			c := proto.Clone(ft).(*dlppb.FieldTransformation)
			c.Fields = fields
			fts = append(fts, c)
		}
	}
	var masked []string
	byIT := map[string][]*dlppb.FieldId{}
	var order []string
	var rest []*dlppb.FieldId
	for _, h := range headers {
		if named[h] {
			masked = append(masked, h)
			continue
		}
		if its := columnInfoTypes[h]; len(its) > 0 {
			if _, ok := byIT[its[0]]; !ok {
				order = append(order, its[0])
			}
			byIT[its[0]] = append(byIT[its[0]], &dlppb.FieldId{Name: h})
			masked = append(masked, h)
			continue
		}
		rest = append(rest, &dlppb.FieldId{Name: h})
	}
	for _, it := range order {
		fts = append(fts, &dlppb.FieldTransformation{
			Fields:         byIT[it],
			Transformation: &dlppb.FieldTransformation_PrimitiveTransformation{PrimitiveTransformation: wholeCellPrimitive(itt, it)},
		})
	}
	if len(rest) > 0 {
		fts = append(fts, &dlppb.FieldTransformation{
			Fields:         rest,
			Transformation: &dlppb.FieldTransformation_InfoTypeTransformations{InfoTypeTransformations: itt},
		})
	}
	dc := &dlppb.DeidentifyConfig{Transformation: &dlppb.DeidentifyConfig_RecordTransformations{
		RecordTransformations: &dlppb.RecordTransformations{FieldTransformations: fts}}}
	return dc, masked, nil
}

// wholeCellPrimitive picks infoType it's transformation from itt for a whole
// cell. DLP accepts replace_with_info_type only inside infoType
// transformations, so it becomes a replace with the literal "[IT]".
func wholeCellPrimitive(itt *dlppb.InfoTypeTransformations, it string) *dlppb.PrimitiveTransformation {
	var pt, all *dlppb.PrimitiveTransformation
	for _, t := range itt.GetTransformations() {
		if len(t.GetInfoTypes()) == 0 {
			all = t.GetPrimitiveTransformation()
		}
		for _, x := range t.GetInfoTypes() {
			if x.GetName() == it {
				pt = t.GetPrimitiveTransformation()
			}
		}
	}
	if pt == nil {
		pt = all
	}
	if pt == nil || pt.GetReplaceWithInfoTypeConfig() != nil {
		return &dlppb.PrimitiveTransformation{Transformation: &dlppb.PrimitiveTransformation_ReplaceConfig{
			ReplaceConfig: &dlppb.ReplaceValueConfig{NewValue: &dlppb.Value{Type: &dlppb.Value_StringValue{StringValue: "[" + it + "]"}}}}}
	}
	return pt
}

// CountTransformations counts a config's transformations the way the limit
// applies: each field transformation, plus each infoType transformation in it.
func CountTransformations(dc *dlppb.DeidentifyConfig) int {
	n := 0
	switch t := dc.GetTransformation().(type) {
	case *dlppb.DeidentifyConfig_InfoTypeTransformations:
		n = len(t.InfoTypeTransformations.GetTransformations())
	case *dlppb.DeidentifyConfig_RecordTransformations:
		for _, ft := range t.RecordTransformations.GetFieldTransformations() {
			n++
			n += len(ft.GetInfoTypeTransformations().GetTransformations())
		}
	}
	return n
}

// ToDLPValue converts a cell to a DLP table value. Nested values travel as
// their JSON text and come back as strings; []byte as its text.
func ToDLPValue(v Value) (*dlppb.Value, error) {
	switch x := v.(type) {
	case nil:
		return &dlppb.Value{}, nil
	case string:
		return &dlppb.Value{Type: &dlppb.Value_StringValue{StringValue: x}}, nil
	case int64:
		return &dlppb.Value{Type: &dlppb.Value_IntegerValue{IntegerValue: x}}, nil
	case int:
		return &dlppb.Value{Type: &dlppb.Value_IntegerValue{IntegerValue: int64(x)}}, nil
	case float64:
		return &dlppb.Value{Type: &dlppb.Value_FloatValue{FloatValue: x}}, nil
	case bool:
		return &dlppb.Value{Type: &dlppb.Value_BooleanValue{BooleanValue: x}}, nil
	case time.Time:
		return &dlppb.Value{Type: &dlppb.Value_TimestampValue{TimestampValue: timestamppb.New(x)}}, nil
	case []byte:
		return &dlppb.Value{Type: &dlppb.Value_StringValue{StringValue: string(x)}}, nil
	case []any, map[string]any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("%w: nested cell does not encode as JSON", ErrTable)
		}
		return &dlppb.Value{Type: &dlppb.Value_StringValue{StringValue: string(b)}}, nil
	}
	return nil, fmt.Errorf("%w: unsupported cell type %T", ErrTable, v)
}

// FromDLPValue converts a DLP table value back to a cell.
func FromDLPValue(v *dlppb.Value) Value {
	if v == nil || v.GetType() == nil {
		return nil
	}
	c, err := fromDLPValue(v)
	if err != nil {
		// Time-of-day and day-of-week values have no cell form; keep the text.
		return fmt.Sprint(v.GetType())
	}
	return c
}

type dlpBatch struct {
	lo, hi int // rows [lo, hi)
}

// Deidentify sends the table to Cloud DLP in batches under the limits, with
// bounded concurrency, pacing, retries with backoff for transient errors, and
// splitting on limit errors. Errors hold status codes, never cell values.
func (d *DLP) Deidentify(ctx context.Context, req *Request) (*Table, *Stats, error) {
	start := time.Now()
	if req == nil || req.Table == nil {
		return nil, nil, fmt.Errorf("%w: no table", ErrTable)
	}
	// Derived columns never reach DLP: their cells become a constant here
	// (see DerivedInfoType), and stay that constant whatever DLP returns.
	t, columnInfoTypes, derived := replaceDerived(req.Table, req.ColumnInfoTypes)
	var (
		dc       *dlppb.DeidentifyConfig
		masked   []string
		err      error
		template string
	)
	switch {
	case d.cfg.Deidentify == nil:
		// The masking file names a template and has no inline config:
		// the template is all there is, and it cannot name columns.
		if len(columnInfoTypes) > 0 {
			return nil, nil, fmt.Errorf("%w: lineage masking needs an inline deidentifyConfig, not a template", ErrConfig)
		}
		template = d.cfg.DeidentifyTemplateName
	default:
		dc, masked, err = RequestConfig(d.cfg, t.Headers, columnInfoTypes)
		if err != nil {
			return nil, nil, err
		}
		if n := CountTransformations(dc); n > d.opts.Limits.MaxTransformations {
			return nil, nil, fmt.Errorf("%w: %d transformations for this table, DLP allows %d", ErrConfig, n, d.opts.Limits.MaxTransformations)
		}
		if d.cfg.DeidentifyTemplateName != "" && templateCovers(d.cfg, dc, masked) {
			dc, template = nil, d.cfg.DeidentifyTemplateName
		}
	}
	base := d.request(dc, template, nil, nil)
	out, findings, err := d.batched(ctx, t, proto.Size(base), func(ctx context.Context, tbl *dlppb.Table) (*dlppb.Table, *dlppb.TransformationOverview, error) {
		resp, err := d.call(ctx, func() (proto.Message, error) {
			return d.client.DeidentifyContent(ctx, d.request(dc, template, tbl.Headers, tbl.Rows), gax.WithRetry(nil))
		})
		if err != nil {
			return nil, nil, err
		}
		r := resp.(*dlppb.DeidentifyContentResponse)
		return r.GetItem().GetTable(), r.GetOverview(), nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(derived) > 0 {
		for _, row := range out.Rows {
			for i, v := range derived {
				if i < len(row) && v != "" {
					row[i] = v
				}
			}
		}
		masked = mergeMasked(t.Headers, masked, derived)
	}
	st := &Stats{Rows: int64(len(t.Rows)), Cells: int64(len(t.Rows) * len(t.Headers)), Findings: findings, MaskedColumns: masked}
	st.Elapsed = time.Since(start)
	return out, st, nil
}

// sendFunc sends one batch (a table holding a slice of the rows) and returns
// the transformed table and DLP's overview.
type sendFunc func(ctx context.Context, tbl *dlppb.Table) (*dlppb.Table, *dlppb.TransformationOverview, error)

// batched converts t, cuts it into requests under the limits (fixed is the
// size of a request without rows), sends them with bounded concurrency,
// splits a batch on a limit error, and reassembles the rows in order.
func (d *DLP) batched(ctx context.Context, t *Table, fixed int, send sendFunc) (*Table, map[string]int64, error) {
	var err error
	rows := make([]*dlppb.Table_Row, len(t.Rows))
	rowBytes := make([]int, len(t.Rows))
	for r, row := range t.Rows {
		if len(row) != len(t.Headers) {
			return nil, nil, fmt.Errorf("%w: row %d has %d cells for %d headers", ErrTable, r, len(row), len(t.Headers))
		}
		pr := &dlppb.Table_Row{Values: make([]*dlppb.Value, len(row))}
		for i, v := range row {
			if pr.Values[i], err = ToDLPValue(v); err != nil {
				return nil, nil, fmt.Errorf("row %d column %q: %w", r, t.Headers[i], err)
			}
		}
		rows[r] = pr
		rowBytes[r] = proto.Size(pr) + 4 // + tag and length of the repeated field
	}
	headers := make([]*dlppb.FieldId, len(t.Headers))
	for i, h := range t.Headers {
		headers[i] = &dlppb.FieldId{Name: h}
	}
	budget := d.opts.Limits.MaxRequestBytes - fixed - proto.Size(&dlppb.Table{Headers: headers}) - 32
	maxCells := d.opts.Limits.MaxValues
	if d.opts.CellsPerRequest > 0 {
		maxCells = min(maxCells, d.opts.CellsPerRequest)
	}
	maxRows := max(maxCells/max(len(t.Headers), 1), 1)
	var batches []dlpBatch
	lo, size := 0, 0
	for r := range rows {
		if rowBytes[r] > budget {
			return nil, nil, fmt.Errorf("%w: row %d alone exceeds DLP's request size limit", ErrDLP, r)
		}
		if r > lo && (size+rowBytes[r] > budget || r-lo >= maxRows) {
			batches = append(batches, dlpBatch{lo, r})
			lo, size = r, 0
		}
		size += rowBytes[r]
	}
	if len(rows) > lo {
		batches = append(batches, dlpBatch{lo, len(rows)})
	}

	out := &Table{Headers: slices.Clone(t.Headers), Rows: make([][]Value, len(t.Rows))}
	findings := map[string]int64{}
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, d.opts.Concurrency)
	var wg sync.WaitGroup
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu.Unlock()
	}
	var run func(b dlpBatch)
	run = func(b dlpBatch) {
		defer wg.Done()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			fail(ctx.Err())
			return
		}
		tbl, overview, err := send(ctx, &dlppb.Table{Headers: headers, Rows: rows[b.lo:b.hi]})
		<-sem
		if err != nil {
			if isLimitError(err) && b.hi-b.lo > 1 {
				mid := (b.lo + b.hi) / 2
				wg.Add(2)
				go run(dlpBatch{b.lo, mid})
				go run(dlpBatch{mid, b.hi})
				return
			}
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				// Kept in the chain, so the caller can tell a deadline (a
				// retryable "timed out") from a DLP refusal.
				fail(fmt.Errorf("%w: rows %d-%d: %w", ErrDLP, b.lo, b.hi-1, err))
			} else {
				fail(fmt.Errorf("%w: rows %d-%d: %s", ErrDLP, b.lo, b.hi-1, describe(err)))
			}
			return
		}
		if tbl == nil || len(tbl.GetRows()) != b.hi-b.lo {
			fail(fmt.Errorf("%w: rows %d-%d: response has the wrong shape", ErrDLP, b.lo, b.hi-1))
			return
		}
		res := make([][]Value, len(tbl.GetRows()))
		for i, pr := range tbl.GetRows() {
			if len(pr.GetValues()) != len(t.Headers) {
				fail(fmt.Errorf("%w: rows %d-%d: response row has the wrong width", ErrDLP, b.lo, b.hi-1))
				return
			}
			row := make([]Value, len(pr.GetValues()))
			for j, v := range pr.GetValues() {
				row[j] = FromDLPValue(v)
			}
			res[i] = row
		}
		mu.Lock()
		copy(out.Rows[b.lo:b.hi], res)
		for _, s := range overview.GetTransformationSummaries() {
			if s.GetInfoType() == nil {
				continue
			}
			for _, r := range s.GetResults() {
				if r.GetCode() == dlppb.TransformationSummary_SUCCESS {
					findings[s.GetInfoType().GetName()] += r.GetCount()
				}
			}
		}
		mu.Unlock()
	}
	for _, b := range batches {
		wg.Add(1)
		go run(b)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}
	return out, findings, nil
}

// request builds one DeidentifyContent request: dc inline, or the template
// named by template when dc is nil (the two are never sent together, see
// templateCovers), and the inspect template or the inline inspectConfig.
func (d *DLP) request(dc *dlppb.DeidentifyConfig, template string, headers []*dlppb.FieldId, rows []*dlppb.Table_Row) *dlppb.DeidentifyContentRequest {
	return &dlppb.DeidentifyContentRequest{
		Parent:                 d.parent,
		DeidentifyConfig:       dc,
		InspectConfig:          d.inlineInspect(),
		DeidentifyTemplateName: template,
		InspectTemplateName:    d.cfg.InspectTemplateName,
		Item: &dlppb.ContentItem{DataItem: &dlppb.ContentItem_Table{
			Table: &dlppb.Table{Headers: headers, Rows: rows}}},
	}
}

// call sends one request, paced, retrying transient errors with backoff. The
// client's own retries are off (gax.WithRetry(nil) at the call sites) so this
// is the one retry policy.
func (d *DLP) call(ctx context.Context, send func() (proto.Message, error)) (proto.Message, error) {
	backoff := d.opts.InitialBackoff
	for attempt := 1; ; attempt++ {
		if err := d.limiter.Wait(ctx); err != nil {
			return nil, err
		}
		resp, err := send()
		if err == nil {
			return resp, nil
		}
		if !isTransient(err) || attempt >= d.opts.MaxAttempts {
			return nil, err
		}
		sleep := backoff/2 + rand.N(backoff)
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func isTransient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted, codes.Internal:
		return true
	}
	return false
}

// IsLimitError reports whether err is a DLP answer that the adapter fixes
// by sending fewer rows (it splits the batch). testing/cloudtier records,
// against the real service, which answers this matches.
func IsLimitError(err error) bool { return isLimitError(err) }

// isLimitError recognises DLP's InvalidArgument answers about request size,
// table values or findings; those are fixed by sending fewer rows.
func isLimitError(err error) bool {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.InvalidArgument {
		return false
	}
	m := strings.ToLower(s.Message())
	for _, k := range []string{"too many", "exceed", "limit", "too large", "maximum"} {
		if strings.Contains(m, k) {
			return true
		}
	}
	return false
}

// describe reports an RPC error by code only: DLP messages can quote content.
func describe(err error) string {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err.Error()
	}
	return "DeidentifyContent: " + status.Code(err).String()
}
