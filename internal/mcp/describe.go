package mcp

import (
	"context"
	"errors"
	"strings"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
)

// DescribeError is a refusal of Describe whose Message is written for the
// caller (a model or a BigQuery client): Kind says which.
type DescribeError struct {
	Kind    DescribeErrorKind
	Message string
}

func (e *DescribeError) Error() string { return e.Message }

// DescribeErrorKind classifies a DescribeError.
type DescribeErrorKind int

// The kinds of DescribeError.
const (
	// DescribeInvalid: the table name is not one.
	DescribeInvalid DescribeErrorKind = iota + 1
	// DescribeDenied: the policy denies the caller the table, so its
	// schema is not shown.
	DescribeDenied
	// DescribeNotFound: no such table.
	DescribeNotFound
	// DescribeUnavailable: the policy or the catalog failed; retry.
	DescribeUnavailable
)

// Describe returns the schema of table (dataset.table or
// project.dataset.table) as p may see it, with the columns querygate masks
// for p marked: describe_table's answer (without NextStep), also served by
// the BigQuery front door's tables.get. The policy classifies the table
// (policy file, policy tags, profiles) as it would for a real query:
// SELECT * reaches every column, so its masked output columns are the
// table's masked columns. A caller the policy denies the table sees no
// schema. Errors are *DescribeError; their messages hold no cell value.
func (s *Server) Describe(ctx context.Context, p *session.Principal, table string) (*TableDescription, error) {
	ref, err := s.parseTable(table)
	if err != nil {
		return nil, &DescribeError{DescribeInvalid, err.Error() + "."}
	}
	d, err := s.decide(ctx, p, "SELECT * FROM `"+ref.String()+"`", "")
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "mcp policy check failed", "error", err.Error())
		return nil, &DescribeError{DescribeUnavailable, "The policy could not be evaluated; retry later."}
	}
	// Fail closed: whatever the rule, a denied probe shows no schema.
	if d.Action == "deny" {
		return nil, &DescribeError{DescribeDenied, "You may not read " + ref.String() + ": " + strings.Join(d.Reasons, " ")}
	}
	meta, err := s.cfg.Tables.Table(ctx, ref)
	if errors.Is(err, sqlscan.ErrTableNotFound) {
		return nil, &DescribeError{DescribeNotFound, "Table " + ref.String() + " does not exist. Call list_datasets to see the tables."}
	}
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "mcp describe table failed", "table", ref.String(), "error", err.Error())
		return nil, &DescribeError{DescribeUnavailable, "The table could not be read; retry later."}
	}
	all := d.ColumnInfoTypes["*"]
	out := &TableDescription{Table: ref.String(), Type: meta.Type, Columns: []Column{}, SelectStar: d.Action}
	for _, c := range meta.Columns {
		col := Column{Name: c.Name, Type: c.Type, Mode: c.Mode, Description: c.Description}
		it := infoTypesOf(d.ColumnInfoTypes, c.Name)
		if len(it) == 0 && all != nil {
			it = all
		}
		if len(it) > 0 || all != nil {
			col.Masked, col.InfoTypes = true, it
		}
		out.Columns = append(out.Columns, col)
	}
	return out, nil
}
