package bqapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/querygate/querygate/internal/mcp"
	"github.com/querygate/querygate/internal/session"
)

// SourceTables describes a table a query may read, as the caller may see
// it: the schema with the columns querygate masks for the caller marked
// (mcp.Server's Describe, the describe_table tool's logic). Errors are
// *mcp.DescribeError.
type SourceTables interface {
	Describe(ctx context.Context, p *session.Principal, table string) (*mcp.TableDescription, error)
}

var _ SourceTables = (*mcp.Server)(nil)

// maskedSourceDescription starts the description of a column querygate
// masks: query results carry de-identified replacements, as STRING.
const maskedSourceDescription = "querygate: masked for you"

// getSourceTable: tables.get on a table outside the results dataset. The
// policy decides what the caller may see (a denied table is 403 with the
// reasons); no data and no row counts are served, only the schema.
func (s *Server) getSourceTable(c *call, dataset, table string) *apiError {
	if !datasetIDRE.MatchString(dataset) {
		return badRequest("the dataset id is not valid")
	}
	if !tableIDRE.MatchString(table) {
		return badRequest("the table id is not valid")
	}
	name := c.project + "." + dataset + "." + table
	d, err := s.Sources.Describe(c.ctx(), c.p, name)
	var de *mcp.DescribeError
	switch {
	case errors.As(err, &de):
		switch de.Kind {
		case mcp.DescribeInvalid:
			return badRequest(de.Message)
		case mcp.DescribeDenied:
			return &apiError{Code: http.StatusForbidden, Reason: reasonAccessDenied, Message: "Access Denied: querygate policy: " + de.Message}
		case mcp.DescribeNotFound:
			return notFound("Not found: Table " + c.project + ":" + dataset + "." + table)
		}
		return &apiError{Code: http.StatusServiceUnavailable, Reason: reasonBackendError, Message: "the table could not be described; retry later"}
	case err != nil:
		s.log().ErrorContext(c.ctx(), "describe source table failed", "error", err.Error())
		return &apiError{Code: http.StatusServiceUnavailable, Reason: reasonBackendError, Message: "the table could not be described; retry later"}
	}
	fields := make([]fieldSchema, 0, len(d.Columns))
	var masked []string
	for _, col := range d.Columns {
		f := fieldSchema{Name: col.Name, Type: legacyType(col.Type), Mode: col.Mode, Description: col.Description}
		if f.Mode == "" {
			f.Mode = "NULLABLE"
		}
		if col.Masked {
			masked = append(masked, col.Name)
			f.Description = maskedColumnDescription(col)
		}
		fields = append(fields, f)
	}
	desc := "Schema as querygate shows it to you: "
	if len(masked) > 0 {
		desc += "columns " + strings.Join(masked, ", ") + " come back de-identified (as STRING) in query results."
	} else {
		desc += "no column is masked for you."
	}
	if d.SelectStar == "require_approval" {
		desc += " SELECT * on this table needs an approver; naming the columns you need may not."
	}
	typ := d.Type
	if typ == "" {
		typ = "TABLE"
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"kind":           "bigquery#table",
		"id":             c.project + ":" + dataset + "." + table,
		"tableReference": tableRef{ProjectID: c.project, DatasetID: dataset, TableID: table},
		"type":           typ,
		"schema":         tableSchema{Fields: fields},
		"location":       s.location(""),
		"description":    desc,
	})
	return nil
}

// maskedColumnDescription marks a masked column, naming the kinds of
// personal data it holds, before the column's own description.
func maskedColumnDescription(col mcp.Column) string {
	out := maskedSourceDescription
	if len(col.InfoTypes) > 0 {
		out += " (" + strings.Join(col.InfoTypes, ", ") + ")"
	}
	out += ": query results carry de-identified replacements, served as STRING."
	if col.Description != "" {
		out += " " + col.Description
	}
	return out
}

// legacyType is the type name BigQuery's REST API uses in table schemas
// for a standard SQL type name.
func legacyType(t string) string {
	switch t {
	case "INT64":
		return "INTEGER"
	case "FLOAT64":
		return "FLOAT"
	case "BOOL":
		return "BOOLEAN"
	case "STRUCT":
		return "RECORD"
	}
	return t
}
