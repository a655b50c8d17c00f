package sqlscantest

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/querygate/querygate/internal/sqlscan"
)

// CatalogFile is the YAML form of a test catalog (testing/sql/catalog.yaml).
type CatalogFile struct {
	DefaultProject string      `yaml:"default_project"`
	DefaultDataset string      `yaml:"default_dataset"`
	Tables         []TableYAML `yaml:"tables"`
}

// TableYAML is one table of a CatalogFile.
type TableYAML struct {
	Ref     string       `yaml:"ref"`
	Type    string       `yaml:"type"`
	ViewSQL string       `yaml:"view_sql"`
	Bytes   int64        `yaml:"bytes"`
	Rows    int64        `yaml:"rows"`
	Columns []ColumnYAML `yaml:"columns"`
}

// ColumnYAML is one column of a TableYAML.
type ColumnYAML struct {
	Name       string       `yaml:"name"`
	Type       string       `yaml:"type"`
	Mode       string       `yaml:"mode"`
	PolicyTags []string     `yaml:"policy_tags"`
	Fields     []ColumnYAML `yaml:"fields"`
}

func (c ColumnYAML) column() sqlscan.Column {
	out := sqlscan.Column{Name: c.Name, Type: c.Type, Mode: c.Mode, PolicyTags: c.PolicyTags}
	if out.Mode == "" {
		out.Mode = "NULLABLE"
	}
	for _, f := range c.Fields {
		out.Fields = append(out.Fields, f.column())
	}
	return out
}

// LoadCatalog reads a catalog file strictly and returns the catalog with
// the file's default project and dataset.
func LoadCatalog(path string) (*sqlscan.MemoryCatalog, *CatalogFile, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var f CatalogFile
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	cat := sqlscan.NewMemoryCatalog()
	for _, t := range f.Tables {
		parts := strings.SplitN(t.Ref, ".", 3)
		if len(parts) != 3 {
			return nil, nil, fmt.Errorf("%s: table ref %q is not project.dataset.table", path, t.Ref)
		}
		meta := &sqlscan.TableMeta{
			Ref:  sqlscan.TableRef{Project: parts[0], Dataset: parts[1], Table: parts[2]},
			Type: "TABLE", ViewSQL: t.ViewSQL, NumBytes: t.Bytes, NumRows: t.Rows,
		}
		if t.Type != "" {
			meta.Type = t.Type
		}
		for _, c := range t.Columns {
			meta.Columns = append(meta.Columns, c.column())
		}
		cat.Put(meta)
	}
	return cat, &f, nil
}
