package classify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
)

// Sources of a column's classification.
const (
	SourceFile      = "file"       // the policy file's sensitive_columns
	SourcePolicyTag = "policy_tag" // a BigQuery column policy tag
	SourceProfile   = "profile"    // sampling and inspection
)

// Report is the output of `querygate policy classify TABLE` (its --json
// form). It holds counts and infoType names only, never a sampled value.
type Report struct {
	Table        string    `json:"table"`
	Type         string    `json:"type"`
	LastModified time.Time `json:"last_modified"`
	// EngineProfiles says whether the policy engine uses the profile for
	// this table: it profiles only tables that neither the policy file nor
	// policy tags classify, and only when the policy enables profiling.
	EngineProfiles bool           `json:"engine_profiles"`
	SampledRows    int64          `json:"sampled_rows"`
	SampledBytes   int64          `json:"sampled_bytes"`
	ProfiledAt     time.Time      `json:"profiled_at"`
	Columns        []ColumnReport `json:"columns"`
}

// ColumnReport is one column of a Report.
type ColumnReport struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// InfoTypes is the union over Sources; empty means not sensitive.
	InfoTypes []string `json:"info_types"`
	// Sources lists where InfoTypes come from: file, policy_tag, profile.
	Sources []string `json:"sources"`
	// NonNull is the number of sampled cells with text; Matches counts, per
	// infoType found, the cells it was found in; Share is the largest
	// Matches over NonNull.
	NonNull  int64            `json:"non_null"`
	Matches  map[string]int64 `json:"matches,omitempty"`
	Share    float64          `json:"match_share"`
	NameHint string           `json:"name_hint,omitempty"`
}

// Report builds the Report of one table: the policy file's columns, the
// policy tags of its schema (mapped through the policy's policy_tags, else
// POLICY_TAG) and a profile (from the store while the table is unchanged).
func (p *Profiler) Report(ctx context.Context, pol *policy.Policy, ref sqlscan.TableRef) (*Report, error) {
	info, err := p.src.TableInfo(ctx, ref.Project, ref.Dataset, ref.Table)
	if err != nil {
		return nil, fmt.Errorf("classify %s: %w", ref, err)
	}
	prof, err := p.Profile(ctx, ref)
	if err != nil {
		return nil, err
	}
	file := pol.SensitiveColumnsOf(ref)
	r := &Report{Table: ref.String(), Type: info.Type, LastModified: info.LastModified, SampledRows: prof.SampledRows,
		SampledBytes: prof.SampledBytes, ProfiledAt: prof.ProfiledAt}
	fileOrTag := len(file) > 0
	for i, c := range info.Columns {
		cr := ColumnReport{Name: c.Name, Type: c.Type}
		if its := file[strings.ToLower(c.Name)]; len(its) > 0 {
			cr.InfoTypes = union(cr.InfoTypes, its)
			cr.Sources = append(cr.Sources, SourceFile)
		}
		if len(c.PolicyTags) > 0 {
			fileOrTag = true
			for _, tag := range c.PolicyTags {
				if its, ok := pol.PolicyTags[tag]; ok {
					cr.InfoTypes = union(cr.InfoTypes, its)
				} else {
					cr.InfoTypes = union(cr.InfoTypes, []string{"POLICY_TAG"})
				}
			}
			cr.Sources = append(cr.Sources, SourcePolicyTag)
		}
		if i < len(prof.Columns) {
			pc := prof.Columns[i]
			cr.NonNull, cr.Matches, cr.NameHint = pc.NonNull, pc.Matches, pc.NameHint
			for _, n := range pc.Matches {
				if pc.NonNull > 0 {
					cr.Share = max(cr.Share, float64(n)/float64(pc.NonNull))
				}
			}
			if len(pc.InfoTypes) > 0 {
				cr.InfoTypes = union(cr.InfoTypes, pc.InfoTypes)
				cr.Sources = append(cr.Sources, SourceProfile)
			}
		}
		if cr.InfoTypes == nil {
			cr.InfoTypes = []string{}
		}
		if cr.Sources == nil {
			cr.Sources = []string{}
		}
		r.Columns = append(r.Columns, cr)
	}
	r.EngineProfiles = pol.Profiling.Enabled && !fileOrTag
	return r, nil
}

// WriteReport prints r as a table, or as JSON.
func WriteReport(w io.Writer, r *Report, jsonOut bool) error {
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "table: %s (%s, last modified %s)\n", r.Table, r.Type, r.LastModified.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "sample: %d rows, %d bytes (tabledata.list), profiled %s\n", r.SampledRows, r.SampledBytes, r.ProfiledAt.UTC().Format(time.RFC3339))
	if !r.EngineProfiles {
		b.WriteString("note: the policy engine does not use this profile (the policy file or policy tags classify the table, or profiling is off)\n")
	}
	fmt.Fprintf(&b, "%-24s %-10s %-36s %-20s %8s %8s  %s\n", "column", "type", "info_types", "source", "non_null", "share", "matches")
	for _, c := range r.Columns {
		var ms []string
		for it, n := range c.Matches {
			ms = append(ms, fmt.Sprintf("%s=%d", it, n))
		}
		sort.Strings(ms)
		if c.NameHint != "" {
			ms = append(ms, "name hint "+c.NameHint)
		}
		fmt.Fprintf(&b, "%-24s %-10s %-36s %-20s %8d %7.1f%%  %s\n", c.Name, c.Type, orDash(strings.Join(c.InfoTypes, ",")),
			orDash(strings.Join(c.Sources, ",")), c.NonNull, 100*c.Share, strings.Join(ms, " "))
	}
	_, err := w.Write(b.Bytes())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
