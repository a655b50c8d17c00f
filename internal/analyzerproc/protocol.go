// Package analyzerproc runs the policy analyzer (sqlscan.Analyze, ZetaSQL)
// in supervised worker processes. go-zetasql never frees its C++
// allocations (about 30 KB per analysis, up to +16 MB for the worst
// accepted statement), so a long-lived policy instance that analyzed in
// process would grow without bound. A worker is replaced after a number of
// analyses or once its resident memory passes a threshold, and an analysis
// that runs past its deadline is killed with its worker, not waited for.
//
// The parent and a worker speak length-prefixed JSON frames over the
// worker's stdin and stdout. Only SQL, the default project and dataset and
// table schemas cross; the worker asks the parent for each schema through
// the parent's sqlscan.Catalog, exactly as the in-process analyzer would.
// No row or cell value ever crosses.
package analyzerproc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/querygate/querygate/internal/sqlscan"
)

// protocolVersion is announced by a worker in its hello frame; the parent
// refuses a worker that speaks another version.
const protocolVersion = 1

// maxFrame bounds one frame. The largest legitimate frame is an analysis of
// a statement at sqlscan's size limits, far below this.
const maxFrame = 64 << 20

// toWorker is a frame from the parent: exactly one field is set.
type toWorker struct {
	Analyze *analyzeRequest `json:"analyze,omitempty"`
	Table   *tableReply     `json:"table,omitempty"`
}

// fromWorker is a frame from a worker: exactly one field is set.
type fromWorker struct {
	Hello  *hello         `json:"hello,omitempty"`
	Table  *tableRequest  `json:"table,omitempty"`
	Result *analyzeResult `json:"result,omitempty"`
}

type hello struct {
	Version int `json:"version"`
}

// analyzeRequest is what sqlscan.Analyze takes, minus the Catalog (which
// the worker reaches through tableRequest frames).
type analyzeRequest struct {
	SQL            string `json:"sql"`
	DefaultProject string `json:"default_project"`
	DefaultDataset string `json:"default_dataset"`
}

// tableRequest asks the parent's Catalog for one table.
type tableRequest struct {
	Ref sqlscan.TableRef `json:"ref"`
}

// tableReply is the parent Catalog's answer: Meta, or an error message,
// with NotFound when the error wraps sqlscan.ErrTableNotFound.
type tableReply struct {
	Meta     *sqlscan.TableMeta `json:"meta,omitempty"`
	Error    string             `json:"error,omitempty"`
	NotFound bool               `json:"not_found,omitempty"`
}

// analyzeResult is sqlscan.Analyze's answer.
type analyzeResult struct {
	Analysis *sqlscan.Analysis `json:"analysis,omitempty"`
	Error    *wireError        `json:"error,omitempty"`
}

// Error kinds of wireError.
const (
	errKindParse        = "parse"
	errKindNoStatements = "no_statements"
	errKindNotFound     = "not_found"
	errKindOther        = "other"
)

// wireError carries an Analyze error with the identity that callers test
// for (errors.As *sqlscan.ParseError, errors.Is sqlscan.ErrNoStatements or
// sqlscan.ErrTableNotFound) and its exact message.
type wireError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func encodeError(err error) *wireError {
	var pe *sqlscan.ParseError
	switch {
	case errors.As(err, &pe):
		return &wireError{Kind: errKindParse, Message: pe.Message}
	case errors.Is(err, sqlscan.ErrNoStatements):
		return &wireError{Kind: errKindNoStatements, Message: err.Error()}
	case errors.Is(err, sqlscan.ErrTableNotFound):
		return &wireError{Kind: errKindNotFound, Message: err.Error()}
	default:
		return &wireError{Kind: errKindOther, Message: err.Error()}
	}
}

func (w *wireError) decode() error {
	switch w.Kind {
	case errKindParse:
		return &sqlscan.ParseError{Message: w.Message}
	case errKindNoStatements:
		if w.Message == sqlscan.ErrNoStatements.Error() {
			return sqlscan.ErrNoStatements
		}
		return &remoteError{msg: w.Message, is: sqlscan.ErrNoStatements}
	case errKindNotFound:
		return &remoteError{msg: w.Message, is: sqlscan.ErrTableNotFound}
	default:
		return &remoteError{msg: w.Message}
	}
}

// remoteError is an error that crossed the process boundary: its message
// unchanged, and the sentinel it wrapped, if any.
type remoteError struct {
	msg string
	is  error
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Is(target error) bool { return e.is != nil && target == e.is }

// writeFrame writes v as one frame: a 4-byte big-endian length, then JSON.
func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(b), maxFrame)
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

// readFrame reads one frame into v. It refuses frames over maxFrame and
// JSON with unknown fields.
func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", n, maxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("short frame: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	return nil
}
