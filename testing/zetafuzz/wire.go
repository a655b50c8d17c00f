// Package zetafuzz fuzzes the analyzer (sqlscan, ZetaSQL) and the policy
// engine from a test binary that does not link ZetaSQL.
//
// `go test -fuzz` instruments every package of the fuzzed binary, and the
// instrumentation changes each package's build ID, so a fuzz binary that
// linked go-zetasql would recompile its C++ (as long as the first build,
// about 20 minutes on two cores). Here the fuzz targets (fuzz_test.go) link
// only this file's framing; each input goes to a worker process
// (./worker, built normally, so from the build cache the regular build
// filled) that runs the real analyzer and checks the target's invariants.
// A worker that crashes (a C++ abort or segfault) or stops answering
// fails the input, and the fuzzer keeps it under testdata/fuzz/.
//
// The price is coverage guidance: the fuzzer sees the edges of this
// package only, not sqlscan's Go code, so it mutates the corpus mostly
// blind. The crash surface, ZetaSQL's C++, is not Go-instrumented in
// either design.
package zetafuzz

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Targets a Call names; each is one fuzz target of fuzz_test.go.
const (
	// TargetAnalyze: Args[0] is SQL for sqlscan.Analyze.
	TargetAnalyze = "analyze"
	// TargetLimits: Args are the shape (1 byte), the count (2 bytes, big
	// endian) and the filler of the resource-limit shapes.
	TargetLimits = "limits"
	// TargetEvaluate: Args[0] is SQL an analyst sends to the default policy.
	TargetEvaluate = "evaluate"
	// TargetLoad: Args[0] is policy YAML.
	TargetLoad = "load"
)

// maxField bounds one framed field; fuzz inputs are far smaller.
const maxField = 16 << 20

// maxFields bounds the fields of one frame.
const maxFields = 8

// Call is one fuzz input for the worker.
type Call struct {
	Target string
	Args   [][]byte
}

// WriteCall frames c onto w: the field count, then each field (the target
// first) as a 4-byte big-endian length and its bytes. Byte strings cross
// unchanged, invalid UTF-8 included, which JSON would not keep.
func WriteCall(w io.Writer, c Call) error {
	fields := append([][]byte{[]byte(c.Target)}, c.Args...)
	if len(fields) > maxFields {
		return fmt.Errorf("zetafuzz: %d fields, at most %d", len(fields), maxFields)
	}
	if err := writeUint32(w, uint32(len(fields))); err != nil {
		return err
	}
	for _, f := range fields {
		if err := writeField(w, f); err != nil {
			return err
		}
	}
	return nil
}

// ReadCall reads one frame WriteCall wrote. It returns io.EOF when r ends
// before a frame starts.
func ReadCall(r io.Reader) (Call, error) {
	n, err := readUint32(r)
	if err != nil {
		return Call{}, err
	}
	if n == 0 || n > maxFields {
		return Call{}, fmt.Errorf("zetafuzz: frame of %d fields", n)
	}
	fields := make([][]byte, n)
	for i := range fields {
		if fields[i], err = readField(r); err != nil {
			return Call{}, err
		}
	}
	return Call{Target: string(fields[0]), Args: fields[1:]}, nil
}

// WriteReply frames the worker's answer: "" when the input kept every
// invariant, else what it broke.
func WriteReply(w io.Writer, violation string) error {
	return writeField(w, []byte(violation))
}

// ReadReply reads one answer WriteReply wrote.
func ReadReply(r io.Reader) (string, error) {
	b, err := readField(r)
	return string(b), err
}

func writeField(w io.Writer, b []byte) error {
	if len(b) > maxField {
		return fmt.Errorf("zetafuzz: field of %d bytes, at most %d", len(b), maxField)
	}
	if err := writeUint32(w, uint32(len(b))); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readField(r io.Reader) ([]byte, error) {
	n, err := readUint32(r)
	if err != nil {
		return nil, unexpected(err)
	}
	if n > maxField {
		return nil, fmt.Errorf("zetafuzz: field of %d bytes, at most %d", n, maxField)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, unexpected(err)
	}
	return b, nil
}

func writeUint32(w io.Writer, v uint32) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	_, err := w.Write(b[:])
	return err
}

func readUint32(r io.Reader) (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// unexpected turns an end of input inside a frame into ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
