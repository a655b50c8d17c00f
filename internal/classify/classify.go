// Package classify finds the sensitive columns of tables that no policy file
// lists, by profiling: it samples a bounded set of rows through
// tabledata.list (which runs no query and bills nothing), runs their text
// through the de-identifier's own inspector, and marks a column sensitive
// with an infoType when a meaningful share of its non-null samples match.
// Profiles are kept in the session store, keyed on the table's
// lastModifiedTime, so every instance shares them and a table is sampled
// once per change.
//
// Sampled values live only in memory, inside one call: a profile holds
// counts and infoType names, and no error or log carries a cell.
package classify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/warehouse"
)

// Source is the warehouse side of profiling. *warehouse.BigQuery implements
// it, against BigQuery and the emulator alike.
type Source interface {
	TableInfo(ctx context.Context, project, dataset, table string) (*warehouse.TableInfo, error)
	ListTables(ctx context.Context, project, dataset, prefix string, limit int) ([]string, error)
	SampleRows(ctx context.Context, project, dataset, table string, lim warehouse.SampleLimits) (*warehouse.Sample, error)
}

var _ Source = (*warehouse.BigQuery)(nil)

// Defaults of Options.
const (
	DefaultMaxRows    = 1000
	DefaultMaxBytes   = 1 << 20
	DefaultMinShare   = 0.10
	DefaultMinMatches = 3
	DefaultMaxAge     = 24 * time.Hour
	// DefaultMaxWildcardTables bounds the tables one wildcard reference is
	// classified through.
	DefaultMaxWildcardTables = sqlscan.MaxWildcardTables
)

// Options tune a Profiler. Zero values take the defaults.
type Options struct {
	// MaxRows and MaxBytes bound one table's sample (1,000 rows, 1 MiB).
	MaxRows  int
	MaxBytes int64
	// A column is sensitive as an infoType when that infoType is found in at
	// least MinShare of its non-null sampled cells and in at least
	// MinMatches of them (or in every one, when fewer were sampled).
	MinShare   float64
	MinMatches int
	// MaxAge re-profiles an unchanged table after this long (the policy's
	// profiling.ttl), so improved detectors reach old tables.
	MaxAge            time.Duration
	MaxWildcardTables int
	Now               func() time.Time
}

func (o *Options) defaults() {
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MinShare <= 0 {
		o.MinShare = DefaultMinShare
	}
	if o.MinMatches <= 0 {
		o.MinMatches = DefaultMinMatches
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxWildcardTables <= 0 {
		o.MaxWildcardTables = DefaultMaxWildcardTables
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ErrNotProfilable means the object cannot be sampled (a view, say); its
// classification must come from the tables behind it.
var ErrNotProfilable = errors.New("not profilable")

// Profiler classifies tables by sampling. It is safe for concurrent use;
// concurrent requests for one table sample it once.
type Profiler struct {
	src   Source
	insp  deid.Inspector
	store session.ProfileStore
	opts  Options

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// New returns a profiler reading tables from src, inspecting with insp and
// keeping profiles in store.
func New(src Source, insp deid.Inspector, store session.ProfileStore, opts Options) *Profiler {
	opts.defaults()
	return &Profiler{src: src, insp: insp, store: store, opts: opts, locks: map[string]*sync.Mutex{}}
}

// Classify returns column name -> infoTypes for ref, with the signature of
// policy.Profiler (ClassifyColumns without the counts).
func (p *Profiler) Classify(ctx context.Context, ref sqlscan.TableRef) (map[string][]string, error) {
	cols, err := p.ClassifyColumns(ctx, ref)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(cols))
	for c, pc := range cols {
		out[c] = pc.InfoTypes
	}
	return out, nil
}

// ClassifyColumns returns lower-case column name -> verdict for every
// sensitive column of ref, with the signature of policy.ColumnProfiler. A
// wildcard reference is classified through every table it matches, at most
// MaxWildcardTables (more is an error): a column is sensitive when it is in
// any of them, and its counts are summed over them. Any failure is an
// error, which the policy engine turns into a denial.
func (p *Profiler) ClassifyColumns(ctx context.Context, ref sqlscan.TableRef) (map[string]policy.ProfiledColumn, error) {
	refs := []sqlscan.TableRef{ref}
	if ref.IsWildcard() {
		names, err := p.src.ListTables(ctx, ref.Project, ref.Dataset, strings.TrimSuffix(ref.Table, "*"), p.opts.MaxWildcardTables)
		if err != nil {
			return nil, fmt.Errorf("wildcard %s: %w", ref, err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("wildcard %s matches no table", ref)
		}
		refs = refs[:0]
		for _, n := range names {
			refs = append(refs, sqlscan.TableRef{Project: ref.Project, Dataset: ref.Dataset, Table: n})
		}
	}
	// The counts of a column sum over every table that has it, so the
	// match share is over the whole wildcard; its infoTypes are the union
	// of those found sensitive in any table.
	type seen struct {
		nonNull int64
		matches map[string]int64
	}
	out := map[string]policy.ProfiledColumn{}
	counts := map[string][]seen{}
	var sampled int64
	for _, r := range refs {
		// BigQuery refuses a wildcard that matches a view, so a view here
		// fails the classification like any table that cannot be read.
		prof, err := p.Profile(ctx, r)
		if err != nil {
			return nil, err
		}
		sampled += prof.SampledRows
		for _, c := range prof.Columns {
			k := strings.ToLower(c.Name)
			counts[k] = append(counts[k], seen{c.NonNull, c.Matches})
			if len(c.InfoTypes) > 0 {
				pc := out[k]
				pc.InfoTypes = union(pc.InfoTypes, c.InfoTypes)
				out[k] = pc
			}
		}
	}
	for k, pc := range out {
		pc.SampledRows = sampled
		for _, c := range counts[k] {
			pc.NonNull += c.nonNull
			var best int64
			for _, it := range pc.InfoTypes {
				best = max(best, c.matches[it])
			}
			pc.Matches += best
		}
		out[k] = pc
	}
	return out, nil
}

// Profile returns the profile of one table: the stored one while the
// table's lastModifiedTime is unchanged and it is younger than MaxAge, else
// a new one from a sample, which it stores.
func (p *Profiler) Profile(ctx context.Context, ref sqlscan.TableRef) (*session.TableProfile, error) {
	info, err := p.src.TableInfo(ctx, ref.Project, ref.Dataset, ref.Table)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", ref, err)
	}
	switch strings.ToUpper(info.Type) {
	case "TABLE", "SNAPSHOT", "CLONE":
	default:
		return nil, fmt.Errorf("profile %s: %w: it is a %s; tabledata.list reads only tables", ref, ErrNotProfilable, info.Type)
	}
	key := ref.String()
	lock := p.lock(key)
	lock.Lock()
	defer lock.Unlock()
	if prof, err := p.store.GetProfile(ctx, key); err == nil {
		if prof.LastModified.Equal(info.LastModified) && p.opts.Now().Sub(prof.ProfiledAt) < p.opts.MaxAge && sameColumns(prof, info) {
			return prof, nil
		}
	} else if !errors.Is(err, session.ErrNotFound) {
		return nil, fmt.Errorf("profile %s: read cached profile: %w", ref, err)
	}
	s, err := p.src.SampleRows(ctx, ref.Project, ref.Dataset, ref.Table, warehouse.SampleLimits{MaxRows: p.opts.MaxRows, MaxBytes: p.opts.MaxBytes})
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", ref, err)
	}
	prof, err := p.profileSample(ctx, key, info, s)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", ref, err)
	}
	if err := p.store.PutProfile(ctx, prof); err != nil {
		return nil, fmt.Errorf("profile %s: store profile: %w", ref, err)
	}
	return prof, nil
}

func (p *Profiler) lock(key string) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.locks[key]
	if !ok {
		l = &sync.Mutex{}
		p.locks[key] = l
	}
	return l
}

// sameColumns reports whether the stored profile covers exactly the
// table's columns (a schema change also moves lastModifiedTime; this guards
// a store written by an older version).
func sameColumns(prof *session.TableProfile, info *warehouse.TableInfo) bool {
	if len(prof.Columns) != len(info.Columns) {
		return false
	}
	for i, c := range info.Columns {
		if !strings.EqualFold(prof.Columns[i].Name, c.Name) {
			return false
		}
	}
	return true
}

// profileSample inspects every text cell of the sample, column by column.
func (p *Profiler) profileSample(ctx context.Context, key string, info *warehouse.TableInfo, s *warehouse.Sample) (*session.TableProfile, error) {
	prof := &session.TableProfile{Table: key, LastModified: info.LastModified, ProfiledAt: p.opts.Now(),
		SampledRows: int64(len(s.Rows)), SampledBytes: s.Bytes}
	idx := map[string]int{}
	for i, c := range s.Columns {
		idx[strings.ToLower(c)] = i
	}
	for _, col := range info.Columns {
		cp := session.ColumnProfile{Name: col.Name, NameHint: NameHint(col.Name)}
		i, ok := idx[strings.ToLower(col.Name)]
		if !ok && len(s.Rows) > 0 {
			return nil, fmt.Errorf("the sample has no column %q", col.Name)
		}
		// texts holds every string of the column's cells; owner maps each
		// back to its row, so a cell counts once however many strings it
		// nests.
		var texts []string
		var owner []int
		for r, row := range s.Rows {
			if i >= len(row) {
				return nil, fmt.Errorf("sampled row %d has %d cells", r, len(row))
			}
			n := len(texts)
			texts = appendStrings(texts, row[i])
			for range len(texts) - n {
				owner = append(owner, r)
			}
			if len(texts) > n {
				cp.NonNull++
			}
		}
		if len(texts) > 0 {
			found, err := p.insp.Inspect(ctx, texts)
			if err != nil {
				return nil, fmt.Errorf("inspect column %q: %w", col.Name, err)
			}
			if len(found) != len(texts) {
				return nil, fmt.Errorf("inspect column %q: %d answers for %d values", col.Name, len(found), len(texts))
			}
			hit := map[string]map[int]bool{}
			for k, its := range found {
				for _, it := range its {
					if hit[it] == nil {
						hit[it] = map[int]bool{}
					}
					hit[it][owner[k]] = true
				}
			}
			for it, rows := range hit {
				if cp.Matches == nil {
					cp.Matches = map[string]int64{}
				}
				cp.Matches[it] = int64(len(rows))
			}
		}
		cp.InfoTypes = p.decide(cp)
		prof.Columns = append(prof.Columns, cp)
	}
	return prof, nil
}

// decide applies the threshold: an infoType found in at least MinShare of
// the non-null cells and in at least MinMatches of them (or in all of them
// when fewer were sampled) makes the column sensitive as it. A name hint
// lowers the bar for its own infoType to one match: the content must still
// show it, the name alone never does.
func (p *Profiler) decide(cp session.ColumnProfile) []string {
	var out []string
	for it, n := range cp.Matches {
		need := int64(p.opts.MinMatches)
		if cp.NonNull < need {
			need = cp.NonNull
		}
		ok := n >= need && float64(n) >= p.opts.MinShare*float64(cp.NonNull)
		if it == cp.NameHint && n >= 1 {
			ok = true
		}
		if ok {
			out = append(out, it)
		}
	}
	sort.Strings(out)
	return out
}

// appendStrings appends the text a cell holds: a STRING, or every string
// nested in an ARRAY or STRUCT. Other types (numbers, dates, BYTES) are not
// text and are not inspected.
func appendStrings(out []string, v bigquery.Value) []string {
	switch x := v.(type) {
	case string:
		if x != "" {
			out = append(out, x)
		}
	case []bigquery.Value:
		for _, e := range x {
			out = appendStrings(out, e)
		}
	case map[string]bigquery.Value:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = appendStrings(out, x[k])
		}
	}
	return out
}

func union(a, b []string) []string {
	set := map[string]bool{}
	for _, s := range a {
		set[s] = true
	}
	for _, s := range b {
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// RecheckAfter is how long the policy engine reuses a classification in
// memory before asking the Profiler again. Asking again costs one tables.get
// and one store read, never a sample unless the table changed, so this only
// bounds how late a warm instance sees a modification (the catalog's own
// schema cache is as old).
const RecheckAfter = time.Minute

// EngineOption wires p into a policy engine (policy.WithProfiler). Both
// modes, the local gateway and the cloud functions, call it, so the same
// profiler decides in each. The engine profiles only when the policy enables
// profiling.
func (p *Profiler) EngineOption() policy.EngineOption {
	return policy.WithColumnProfiler(p.ClassifyColumns, RecheckAfter)
}

// ForPolicy returns a profiler whose MaxAge is the policy's profiling.ttl.
func ForPolicy(pol *policy.Policy, src Source, insp deid.Inspector, store session.ProfileStore) *Profiler {
	return New(src, insp, store, Options{MaxAge: time.Duration(pol.Profiling.TTL)})
}
