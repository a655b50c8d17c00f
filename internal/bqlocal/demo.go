package bqlocal

import (
	"github.com/goccy/bigquery-emulator/types"

	"github.com/querygate/querygate/internal/demodata"
)

// DemoProject returns the demo dataset (demo.customers, demo.orders) as an
// emulator project with id project.
func DemoProject(project string) *types.Project {
	ds := &types.Dataset{ID: "demo"}
	for _, t := range demodata.Tables() {
		tbl := &types.Table{ID: t.Name}
		for _, c := range t.Columns {
			tbl.Columns = append(tbl.Columns, &types.Column{Name: c.Name, Type: types.Type(c.Type), Mode: types.NullableMode})
		}
		tbl.Data = types.Data(t.Rows)
		ds.Tables = append(ds.Tables, tbl)
	}
	return &types.Project{ID: project, Datasets: []*types.Dataset{ds}}
}
