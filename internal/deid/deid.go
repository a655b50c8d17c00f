// Package deid de-identifies query results before they leave the gateway.
//
// It speaks Cloud DLP's language: the masking configuration is a DLP
// InspectConfig plus a DeidentifyConfig (see LoadConfig), and two
// implementations of the Deidentifier port apply it: Local, an in-process
// engine with DLP's semantics for a documented subset (docs/masking.md), and
// DLP, an adapter over Cloud DLP's DeidentifyContent.
//
// Every error returned by this package is free of cell values, so a caller can
// log it; on any error the caller must release nothing (fail closed).
package deid

import (
	"context"
	"time"
)

// Value is one cell: nil, string, int64, float64, bool, time.Time, []byte, or
// nested []any / map[string]any for BigQuery REPEATED and RECORD columns.
type Value = any

// Table is a result set. Every row has len(Headers) cells, in Headers order;
// the output of Deidentify keeps that order.
type Table struct {
	Headers []string
	Rows    [][]Value
}

// Request is one de-identification job.
type Request struct {
	Table *Table
	// ColumnInfoTypes maps an output column to the infoTypes its lineage reaches
	// (from policy). Those columns get the transformation configured for that
	// infoType applied to the whole cell, whatever the cell holds. A column
	// whose list holds DerivedInfoType is computed from a sensitive value
	// (policy's lineage) and is replaced whole, NULLs included, by
	// DerivedValue of its other infoTypes, whatever the configuration says.
	ColumnInfoTypes map[string][]string
}

// Stats summarises one Deidentify call. It never holds cell values.
type Stats struct {
	Rows, Cells int64
	// Findings counts inspection findings by infoType (whole-cell column
	// transformations are not findings).
	Findings map[string]int64
	// MaskedColumns lists, in header order, the columns transformed whole.
	MaskedColumns []string
	Elapsed       time.Duration
}

// Deidentifier is the port the deidentify step calls. Implementations: Local
// and DLP. The returned table is new; the input is not modified.
type Deidentifier interface {
	Deidentify(ctx context.Context, req *Request) (*Table, *Stats, error)
}

var (
	_ Deidentifier = (*Local)(nil)
	_ Deidentifier = (*DLP)(nil)
)
