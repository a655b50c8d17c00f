package sqlscan

import (
	"errors"
	"fmt"
)

// ErrTableNotFound is wrapped by Catalog implementations when a table does
// not exist.
var ErrTableNotFound = errors.New("table not found")

// ErrNoStatements means the input held no SQL statement (only whitespace or
// comments).
var ErrNoStatements = errors.New("no SQL statement")

// ParseError means the GoogleSQL parser rejected the input. Message is the
// parser's own message, with the line and column of the problem.
type ParseError struct {
	Message string
}

func (e *ParseError) Error() string { return fmt.Sprintf("syntax error: %s", e.Message) }
