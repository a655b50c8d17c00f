package deid

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/dlp/apiv2/dlppb"
)

// Local is the in-process de-identifier: Cloud DLP's semantics for the subset
// documented in docs/masking.md. It is safe for concurrent use.
type Local struct {
	infoTypes []string // index -> name
	itIndex   map[string]int
	builtins  builtinSet
	customs   []customDet
	// inspect is the infoType transformation plan for columns that no record
	// transformation names; whole-column (lineage) masking also uses it.
	inspect *ittPlan
	// fields holds record transformations by column name.
	fields  map[string]*fieldPlan
	workers int
	// surrogates reverse crypto_deterministic_config tokens in free text;
	// wholeTokens reverse whole-cell tokens without a surrogate, by column.
	surrogates  map[string]*deterministic
	wholeTokens map[string]*deterministic
	// rowNeeded: some transformation reads other columns (record
	// transformations, a context field), so JSON Lines take the full decode.
	rowNeeded bool
}

func (l *Local) needsRow() bool { return l.rowNeeded }

func usesContext(t transformer) bool {
	switch x := t.(type) {
	case *deterministic:
		return x.context != ""
	case *dateShift:
		return x.context != ""
	}
	return false
}

type customDet struct {
	d  detector
	it int
}

// ittPlan is a compiled InfoTypeTransformations.
type ittPlan struct {
	byIT []transformer // by infoType index; nil leaves the finding as is
	all  transformer   // the transformation with no infoTypes listed, if any
}

type fieldPlan struct {
	prim transformer
	itt  *ittPlan
}

// LocalOption configures NewLocal.
type LocalOption func(*localOptions)

type localOptions struct {
	workers int
	unwrap  KeyUnwrapper
}

// WithWorkers sets how many goroutines share the rows (default GOMAXPROCS).
func WithWorkers(n int) LocalOption { return func(o *localOptions) { o.workers = n } }

// WithKeyUnwrapper lets the local engine use kmsWrapped crypto keys.
func WithKeyUnwrapper(u KeyUnwrapper) LocalOption { return func(o *localOptions) { o.unwrap = u } }

// NewLocal compiles cfg. It rejects configurations that use DLP features the
// local engine does not implement (ErrUnsupported) rather than ignore them.
func NewLocal(cfg *Config, opts ...LocalOption) (*Local, error) {
	o := localOptions{workers: runtime.GOMAXPROCS(0)}
	for _, f := range opts {
		f(&o)
	}
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if cfg.InspectTemplateName != "" || cfg.DeidentifyTemplateName != "" {
		return nil, fmt.Errorf("%w: DLP templates (use inline inspectConfig/deidentifyConfig locally)", ErrUnsupported)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx := context.Background()
	l := &Local{itIndex: map[string]int{}, fields: map[string]*fieldPlan{}, workers: max(o.workers, 1),
		surrogates: map[string]*deterministic{}, wholeTokens: map[string]*deterministic{}}
	keys := &keyring{unwrap: o.unwrap, transient: map[string][]byte{}}
	if err := l.compileInspect(cfg.Inspect); err != nil {
		return nil, err
	}
	var err error
	switch t := cfg.Deidentify.GetTransformation().(type) {
	case *dlppb.DeidentifyConfig_InfoTypeTransformations:
		if l.inspect, err = l.compileITT(ctx, t.InfoTypeTransformations, keys); err != nil {
			return nil, err
		}
	case *dlppb.DeidentifyConfig_RecordTransformations:
		rt := t.RecordTransformations
		if len(rt.GetRecordSuppressions()) > 0 {
			return nil, fmt.Errorf("%w: recordSuppressions", ErrUnsupported)
		}
		for i, ft := range rt.GetFieldTransformations() {
			if ft.GetCondition() != nil {
				return nil, fmt.Errorf("%w: fieldTransformations[%d].condition", ErrUnsupported, i)
			}
			if len(ft.GetFields()) == 0 {
				return nil, fmt.Errorf("%w: fieldTransformations[%d] names no fields", ErrConfig, i)
			}
			fp := &fieldPlan{}
			switch {
			case ft.GetPrimitiveTransformation() != nil:
				if fp.prim, err = compile(ctx, ft.GetPrimitiveTransformation(), keys); err != nil {
					return nil, fmt.Errorf("fieldTransformations[%d]: %w", i, err)
				}
			case ft.GetInfoTypeTransformations() != nil:
				if fp.itt, err = l.compileITT(ctx, ft.GetInfoTypeTransformations(), keys); err != nil {
					return nil, fmt.Errorf("fieldTransformations[%d]: %w", i, err)
				}
			default:
				return nil, fmt.Errorf("%w: fieldTransformations[%d] has no transformation", ErrConfig, i)
			}
			for _, f := range ft.GetFields() {
				if _, dup := l.fields[f.GetName()]; dup {
					return nil, fmt.Errorf("%w: field %q is transformed twice", ErrConfig, f.GetName())
				}
				l.fields[f.GetName()] = fp
				if d, ok := fp.prim.(*deterministic); ok {
					if d.surrogate == "" {
						l.wholeTokens[f.GetName()] = d
					} else {
						l.surrogates[d.surrogate] = d
					}
				}
			}
		}
		// Columns no field transformation names are still inspected, with the
		// default [INFO_TYPE] replacement (docs/masking.md).
		def := DefaultConfig().Deidentify.GetInfoTypeTransformations()
		if l.inspect, err = l.compileITT(ctx, def, keys); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: deidentifyConfig transformation %T", ErrUnsupported, t)
	}
	l.rowNeeded = len(l.fields) > 0 || usesContext(l.inspect.all)
	for _, t := range l.inspect.byIT {
		l.rowNeeded = l.rowNeeded || usesContext(t)
	}
	return l, nil
}

func (l *Local) addInfoType(name string) int {
	if i, ok := l.itIndex[name]; ok {
		return i
	}
	l.infoTypes = append(l.infoTypes, name)
	l.itIndex[name] = len(l.infoTypes) - 1
	return len(l.infoTypes) - 1
}

func (l *Local) compileInspect(ic *dlppb.InspectConfig) error {
	if ic == nil {
		ic = DefaultConfig().Inspect
	}
	if len(ic.GetRuleSet()) > 0 {
		return fmt.Errorf("%w: inspectConfig.ruleSet", ErrUnsupported)
	}
	if ic.GetExcludeInfoTypes() {
		return fmt.Errorf("%w: inspectConfig.excludeInfoTypes", ErrUnsupported)
	}
	builtin := map[string]int{}
	for i, n := range builtinNames {
		builtin[n] = i
	}
	custom := map[string]bool{}
	for _, c := range ic.GetCustomInfoTypes() {
		custom[c.GetInfoType().GetName()] = true
	}
	names := ic.GetInfoTypes()
	if len(names) == 0 {
		for _, n := range builtinNames {
			names = append(names, &dlppb.InfoType{Name: n})
		}
	}
	for _, it := range names {
		b, ok := builtin[it.GetName()]
		if !ok {
			if custom[it.GetName()] {
				continue
			}
			return fmt.Errorf("%w: infoType %q (built-in: %v, or define it in customInfoTypes)", ErrUnsupported, it.GetName(), builtinNames)
		}
		l.builtins.on[b] = true
		l.builtins.idx[b] = l.addInfoType(it.GetName())
		l.builtins.any = true
	}
	for i, c := range ic.GetCustomInfoTypes() {
		name := c.GetInfoType().GetName()
		if name == "" {
			return fmt.Errorf("%w: customInfoTypes[%d] has no infoType name", ErrConfig, i)
		}
		if len(c.GetDetectionRules()) > 0 {
			return fmt.Errorf("%w: customInfoTypes[%d].detectionRules", ErrUnsupported, i)
		}
		if c.GetExclusionType() == dlppb.CustomInfoType_EXCLUSION_TYPE_EXCLUDE {
			return fmt.Errorf("%w: customInfoTypes[%d].exclusionType", ErrUnsupported, i)
		}
		var d detector
		var err error
		switch t := c.GetType().(type) {
		case *dlppb.CustomInfoType_Regex_:
			d, err = newRegexDetector(t.Regex)
		case *dlppb.CustomInfoType_Dictionary_:
			if t.Dictionary.GetWordList() == nil {
				return fmt.Errorf("%w: customInfoTypes[%d] dictionary from cloud storage", ErrUnsupported, i)
			}
			d, err = newDictDetector(t.Dictionary.GetWordList().GetWords())
		case *dlppb.CustomInfoType_SurrogateType_:
			// Surrogates are only used by re-identification, which finds them
			// through the crypto transformations.
			continue
		default:
			return fmt.Errorf("%w: customInfoTypes[%d] type %T", ErrUnsupported, i, t)
		}
		if err != nil {
			return fmt.Errorf("customInfoTypes[%d]: %w", i, err)
		}
		l.customs = append(l.customs, customDet{d: d, it: l.addInfoType(name)})
	}
	return nil
}

func (l *Local) compileITT(ctx context.Context, itt *dlppb.InfoTypeTransformations, keys *keyring) (*ittPlan, error) {
	p := &ittPlan{}
	set := map[int]transformer{}
	for i, t := range itt.GetTransformations() {
		tr, err := compile(ctx, t.GetPrimitiveTransformation(), keys)
		if err != nil {
			return nil, fmt.Errorf("infoTypeTransformations[%d]: %w", i, err)
		}
		if d, ok := tr.(*deterministic); ok && d.surrogate != "" {
			l.surrogates[d.surrogate] = d
		}
		if len(t.GetInfoTypes()) == 0 {
			if p.all != nil {
				return nil, fmt.Errorf("%w: two infoTypeTransformations apply to all infoTypes", ErrConfig)
			}
			p.all = tr
			continue
		}
		for _, it := range t.GetInfoTypes() {
			idx, ok := l.itIndex[it.GetName()]
			if !ok {
				// A transformation for an infoType nobody inspects can still
				// apply whole-column through lineage.
				idx = l.addInfoType(it.GetName())
			}
			if _, dup := set[idx]; dup {
				return nil, fmt.Errorf("%w: infoType %q has two transformations", ErrConfig, it.GetName())
			}
			set[idx] = tr
		}
	}
	p.byIT = make([]transformer, 0, len(l.infoTypes))
	for i := range l.infoTypes {
		t := set[i]
		if t == nil {
			t = p.all
		}
		p.byIT = append(p.byIT, t)
	}
	return p, nil
}

// forIT returns the transformation for infoType name (whole-column masking):
// the configured one, else the catch-all, else replace with [INFO_TYPE].
func (p *ittPlan) forIT(l *Local, name string) transformer {
	if i, ok := l.itIndex[name]; ok && i < len(p.byIT) && p.byIT[i] != nil {
		return p.byIT[i]
	}
	if p.all != nil {
		return p.all
	}
	return replaceInfoType{}
}

// Deidentify masks req.Table. Rows are spread over the workers; the output
// keeps row and column order. On error nothing is returned.
func (l *Local) Deidentify(ctx context.Context, req *Request) (*Table, *Stats, error) {
	start := time.Now()
	if req == nil || req.Table == nil {
		return nil, nil, fmt.Errorf("%w: no table", ErrTable)
	}
	t := req.Table
	plans, masked := l.plan(req)
	cols := make(map[string]int, len(t.Headers))
	for i, h := range t.Headers {
		cols[h] = i
	}
	out := &Table{Headers: slices.Clone(t.Headers), Rows: make([][]Value, len(t.Rows))}
	nw := l.workers
	const chunk = 256
	nchunks := (len(t.Rows) + chunk - 1) / chunk
	nw = min(nw, nchunks)
	workers := make([]*worker, max(nw, 1))
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var failed atomic.Bool
	run := func(w *worker) {
		for !failed.Load() {
			c := int(next.Add(1) - 1)
			if c >= nchunks {
				return
			}
			if err := ctx.Err(); err != nil {
				errOnce.Do(func() { firstErr = err })
				failed.Store(true)
				return
			}
			lo, hi := c*chunk, min((c+1)*chunk, len(t.Rows))
			// One backing array per chunk instead of one allocation per row.
			cells := make([]Value, (hi-lo)*len(plans))
			for r := lo; r < hi; r++ {
				row := cells[(r-lo)*len(plans) : (r-lo+1)*len(plans) : (r-lo+1)*len(plans)]
				if err := w.row(plans, t.Rows[r], row); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("row %d: %w", r, err) })
					failed.Store(true)
					return
				}
				out.Rows[r] = row
			}
		}
	}
	for i := range workers {
		workers[i] = l.newWorker(cols)
	}
	if nw <= 1 {
		run(workers[0])
	} else {
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() { defer wg.Done(); run(w) }()
		}
		wg.Wait()
	}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	st := &Stats{Rows: int64(len(t.Rows)), Cells: int64(len(t.Rows) * len(t.Headers)), Findings: map[string]int64{},
		MaskedColumns: masked}
	for _, w := range workers {
		for i, n := range w.counts {
			if n > 0 {
				st.Findings[l.infoTypes[i]] += n
			}
		}
	}
	st.Elapsed = time.Since(start)
	return out, st, nil
}
