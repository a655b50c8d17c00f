package policy_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/sqlscan/sqlscantest"
)

// derivedCorpus is testing/sql/derived.yaml (see its header).
type derivedCorpus struct {
	DefaultProject string `yaml:"default_project"`
	DefaultDataset string `yaml:"default_dataset"`
	Table          struct {
		Name    string `yaml:"name"`
		Columns []struct {
			Name      string   `yaml:"name"`
			Type      string   `yaml:"type"`
			InfoTypes []string `yaml:"info_types"`
		} `yaml:"columns"`
	} `yaml:"table"`
	Cases []struct {
		Name    string            `yaml:"name"`
		SQL     string            `yaml:"sql"`
		Action  string            `yaml:"action"`
		Outputs map[string]string `yaml:"outputs"`
	} `yaml:"cases"`
}

// TestDerivedCorpus runs every derived form of testing/sql/derived.yaml
// against the analyzer and the default policy, over a table that no policy
// lists and that only a profiler classifies: the decision's action, and for
// every output column whether it is intact, masked as a copy or replaced as
// derived. Every output column must be listed, so over-masking fails too.
func TestDerivedCorpus(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../testing/sql/derived.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c derivedCorpus
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(c.Table.Name, ".")
	if len(parts) != 2 {
		t.Fatalf("table %q is not dataset.table", c.Table.Name)
	}
	ref := sqlscan.TableRef{Project: c.DefaultProject, Dataset: parts[0], Table: parts[1]}
	meta := &sqlscan.TableMeta{Ref: ref, Type: "TABLE", NumBytes: 1000, NumRows: 10}
	profile := map[string][]string{}
	for _, col := range c.Table.Columns {
		meta.Columns = append(meta.Columns, sqlscan.Column{Name: col.Name, Type: col.Type, Mode: "NULLABLE"})
		if len(col.InfoTypes) > 0 {
			profile[col.Name] = col.InfoTypes
		}
	}
	cat := sqlscantest.Demo()
	cat.Put(meta)
	profiler := func(_ context.Context, r sqlscan.TableRef) (map[string][]string, error) {
		if r == ref {
			return profile, nil
		}
		return nil, nil
	}
	e := policy.NewEngine(nil, cat, policy.WithProfiler(profiler, 0))
	derivedForms := 0
	for _, tc := range c.Cases {
		for _, how := range tc.Outputs {
			if how == "derived" {
				derivedForms++
				break
			}
		}
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Evaluate(context.Background(), policy.Input{SQL: tc.SQL, Groups: []string{"analysts"}, Email: "ana@example.com",
				DefaultProject: c.DefaultProject, DefaultDataset: c.DefaultDataset})
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.Action {
				t.Errorf("action = %s, want %s (%s)", d.Action, tc.Action, strings.Join(d.Reasons, " | "))
			}
			if tc.Outputs == nil {
				return
			}
			if d.Analysis == nil {
				t.Fatalf("no analysis: %v", d.Reasons)
			}
			var names []string
			for _, oc := range d.Analysis.OutputColumns {
				names = append(names, oc.Name)
				how, ok := tc.Outputs[oc.Name]
				if !ok {
					t.Errorf("output column %q is not in the case's outputs", oc.Name)
					continue
				}
				its := d.ColumnInfoTypes[oc.Name]
				derived := slices.Contains(its, policy.DerivedInfoType)
				switch how {
				case "intact":
					if len(its) > 0 {
						t.Errorf("%s: want intact, got infoTypes %v", oc.Name, its)
					}
				case "masked":
					if len(its) == 0 || derived {
						t.Errorf("%s: want masked as a copy, got infoTypes %v", oc.Name, its)
					}
				case "derived":
					if !derived || len(its) < 2 {
						t.Errorf("%s: want derived (with the infoTypes it reaches), got infoTypes %v", oc.Name, its)
					}
				default:
					t.Errorf("%s: unknown expectation %q", oc.Name, how)
				}
			}
			for name := range tc.Outputs {
				if !slices.Contains(names, name) {
					t.Errorf("case lists %q, the query's columns are %v", name, names)
				}
			}
		})
	}
	if derivedForms < 40 {
		t.Errorf("the corpus has %d derived forms, want at least 40", derivedForms)
	}
}

// The marker travels from policy to the de-identifier inside
// ColumnInfoTypes; both packages must spell it the same.
func TestDerivedMarkerIsShared(t *testing.T) {
	t.Parallel()
	if policy.DerivedInfoType != deid.DerivedInfoType {
		t.Errorf("policy.DerivedInfoType %q != deid.DerivedInfoType %q", policy.DerivedInfoType, deid.DerivedInfoType)
	}
}
