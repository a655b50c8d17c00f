package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/sqlscan"
)

// Where a column's classification came from (ColumnClass.Sources).
const (
	ClassFile      = "file"       // the policy file's sensitive_columns
	ClassPolicyTag = "policy_tag" // a BigQuery column policy tag
	ClassProfile   = "profile"    // sampling and inspection (ColumnProfiler)
)

// ProfiledColumn is a profiler's verdict on one column: the infoTypes it
// found and the counts behind them. It holds no sampled value.
type ProfiledColumn struct {
	InfoTypes []string
	// SampledRows is the number of rows sampled (over a wildcard, summed
	// over the tables it matches); NonNull the sampled cells with text;
	// Matches the cells in which the most frequent of InfoTypes was found.
	// Matches over NonNull is the match share.
	SampledRows, NonNull, Matches int64
}

// ColumnProfiler is a Profiler that also says how it decided: column name
// -> verdict, for the decision's per-column facts (ColumnFacts).
type ColumnProfiler func(ctx context.Context, ref sqlscan.TableRef) (map[string]ProfiledColumn, error)

// WithColumnProfiler is WithProfiler for a ColumnProfiler, whose counts
// the decision records (Decision.Columns).
func WithColumnProfiler(p ColumnProfiler, ttl time.Duration) EngineOption {
	return func(e *Engine) { e.profiler, e.profileTTL = p, ttl }
}

// columnProfiler adapts a Profiler, which reports infoTypes only.
func columnProfiler(p Profiler) ColumnProfiler {
	return func(ctx context.Context, ref sqlscan.TableRef) (map[string]ProfiledColumn, error) {
		res, err := p(ctx, ref)
		if err != nil {
			return nil, err
		}
		out := make(map[string]ProfiledColumn, len(res))
		for c, it := range res {
			out[c] = ProfiledColumn{InfoTypes: it}
		}
		return out, nil
	}
}

// ColumnClass is how one sensitive column that a result reads was
// classified.
type ColumnClass struct {
	Column    sqlscan.ColumnRef
	InfoTypes []string
	// Sources lists ClassFile, ClassPolicyTag and ClassProfile, those that
	// gave InfoTypes. The file and policy tags win: a column they classify
	// is not classified by its profile.
	Sources []string
	// SampledRows, NonNull and Matches are the profile's counts
	// (ProfiledColumn) when Sources holds ClassProfile.
	SampledRows, NonNull, Matches int64
}

// String describes c for a person: "p.d.t.c: EMAIL_ADDRESS by profile
// (120 of 800 cells with text matched, 15.0%, in 1000 sampled rows)".
func (c ColumnClass) String() string {
	s := fmt.Sprintf("%s: %s by %s", c.Column, strings.Join(c.InfoTypes, ","), strings.Join(c.Sources, ","))
	if c.NonNull > 0 {
		s += fmt.Sprintf(" (%d of %d cells with text matched, %.1f%%, in %d sampled rows)", c.Matches, c.NonNull, 100*float64(c.Matches)/float64(c.NonNull), c.SampledRows)
	}
	return s
}

// ColumnFacts is what the decision knows about one output column: the
// source columns its lineage reaches, the infoTypes it carries (with
// DerivedInfoType when it is replaced whole), whether it is computed from
// its sources rather than copied, and how each sensitive source was
// classified. `querygate policy check` prints them and the session records
// them (session.DecisionColumn).
type ColumnFacts struct {
	Name      string
	Index     int
	Lineage   []sqlscan.ColumnRef
	InfoTypes []string
	Derived   bool
	Classes   []ColumnClass
}

// columnFacts builds the ColumnFacts of every output column.
func columnFacts(outs []sqlscan.OutputColumn, byIndex map[int][]string, classes map[sqlscan.TableRef]map[string]*ColumnClass) []ColumnFacts {
	out := make([]ColumnFacts, 0, len(outs))
	for _, c := range outs {
		cf := ColumnFacts{Name: c.Name, Index: c.Index, Lineage: c.Lineage, InfoTypes: byIndex[c.Index], Derived: len(c.Derived) > 0}
		seen := map[sqlscan.ColumnRef]bool{}
		add := func(cc *ColumnClass) {
			if cc != nil && !seen[cc.Column] {
				seen[cc.Column] = true
				cf.Classes = append(cf.Classes, *cc)
			}
		}
		for _, r := range c.Lineage {
			cols := classes[r.Table]
			if r.Column != sqlscan.AllColumns {
				add(cols[strings.ToLower(r.Column)])
				continue
			}
			names := make([]string, 0, len(cols))
			for n := range cols {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				add(cols[n])
			}
		}
		out = append(out, cf)
	}
	return out
}

// addClass records that source classified column name of ref as its.
func addClass(classes map[sqlscan.TableRef]map[string]*ColumnClass, ref sqlscan.TableRef, name, source string, its []string) *ColumnClass {
	cols := classes[ref]
	if cols == nil {
		cols = map[string]*ColumnClass{}
		classes[ref] = cols
	}
	cc := cols[name]
	if cc == nil {
		cc = &ColumnClass{Column: sqlscan.ColumnRef{Table: ref, Column: name}}
		cols[name] = cc
	}
	cc.InfoTypes = uniqueSorted(append(cc.InfoTypes, its...))
	if !slices.Contains(cc.Sources, source) {
		cc.Sources = append(cc.Sources, source)
	}
	return cc
}
