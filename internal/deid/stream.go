package deid

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// The slow path: full decode, for configs whose transformations need the row.

// decodeRow decodes one JSON object into headers and values, keeping order.
func decodeRow(line []byte) ([]string, []Value, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil || t != json.Delim('{') {
		return nil, nil, errJSON
	}
	var hs []string
	var vs []Value
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, nil, errJSON
		}
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, errJSON
		}
		hs = append(hs, k.(string))
		vs = append(vs, fromJSON(raw))
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, errJSON
	}
	if dec.More() {
		return nil, nil, errJSON
	}
	return hs, vs, nil
}

func fromJSON(v any) Value {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = fromJSON(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = fromJSON(x[k])
		}
	}
	return v
}

func encodeRow(dst []byte, hs []string, vs []Value) ([]byte, error) {
	dst = append(dst, '{')
	for i, h := range hs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, h)
		dst = append(dst, ':')
		var err error
		if dst, err = appendJSONValue(dst, vs[i]); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

func appendJSONValue(dst []byte, v Value) ([]byte, error) {
	if s, ok := v.(string); ok {
		return appendJSONString(dst, s), nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, fmt.Errorf("%w: cannot encode a %T cell", ErrTable, v)
	}
	return append(dst, bytes.TrimRight(b.Bytes(), "\n")...), nil
}

// ---- the pipeline

type jsonBatch struct {
	lines  [][]byte
	size   int   // input bytes
	first  int64 // line number of lines[0], 1-based
	out    []byte
	err    error
	rows   int64
	cells  int64
	done   chan struct{}
	counts []int64
}

// Stream reads JSON Lines from r and writes de-identified JSON Lines to w,
// using all workers. Blank lines are skipped. On error, output stops at the
// last good batch boundary and the error names the line number only.
func (l *Local) Stream(ctx context.Context, r io.Reader, w io.Writer) (*Stats, error) {
	start := time.Now()
	st := &Stats{Findings: map[string]int64{}}
	// Cancelled on the first error so the reader stops feeding batches.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	br := r
	const batchBytes = 256 << 10
	nw := l.workers
	batches := make(chan *jsonBatch, nw*2)
	ordered := make(chan *jsonBatch, nw*2)
	var wg sync.WaitGroup
	for range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := l.newWorker(nil)
			js := &jsonScanner{w: wk, p: l.inspect}
			for b := range batches {
				l.runBatch(js, b)
				close(b.done)
			}
		}()
	}
	var readErr error
	go func() {
		defer close(batches)
		defer close(ordered)
		// Read blocks of about batchBytes straight into a buffer the batch owns,
		// cut at the last newline; the tail carries into the next block. One
		// allocation per batch, none per line.
		var line int64
		var carry []byte
		for {
			buf := make([]byte, batchBytes+len(carry))
			copy(buf, carry)
			n, err := io.ReadFull(br, buf[len(carry):])
			data := buf[:len(carry)+n]
			eof := err == io.EOF || err == io.ErrUnexpectedEOF
			if err != nil && !eof {
				readErr = err
				return
			}
			if !eof {
				cut := bytes.LastIndexByte(data, '\n')
				if cut < 0 {
					// A line longer than the block: read more before cutting.
					carry = data
					continue
				}
				carry = data[cut+1:]
				data = data[:cut+1]
			} else {
				carry = nil
			}
			b := &jsonBatch{first: line + 1, done: make(chan struct{}), size: len(data)}
			for len(data) > 0 {
				i := bytes.IndexByte(data, '\n')
				var ln []byte
				if i < 0 {
					ln, data = data, nil
				} else {
					ln, data = data[:i], data[i+1:]
				}
				line++
				b.lines = append(b.lines, ln)
			}
			if len(b.lines) > 0 {
				if err := ctx.Err(); err != nil {
					readErr = err
					return
				}
				batches <- b
				ordered <- b
			}
			if eof {
				return
			}
		}
	}()
	bw := bufio.NewWriterSize(w, 1<<20)
	var firstErr error
	for b := range ordered {
		<-b.done
		if firstErr != nil {
			continue
		}
		if b.err != nil {
			firstErr = b.err
			cancel()
			continue
		}
		if _, err := bw.Write(b.out); err != nil {
			firstErr = err
			cancel()
			continue
		}
		st.Rows += b.rows
		st.Cells += b.cells
		for i, n := range b.counts {
			if n > 0 {
				st.Findings[l.infoTypes[i]] += n
			}
		}
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = readErr
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

func (l *Local) runBatch(js *jsonScanner, b *jsonBatch) {
	w := js.w
	clear(w.counts)
	out := make([]byte, 0, b.size+b.size/8+64)
	for i, ln := range b.lines {
		ln = bytes.TrimRight(ln, "\r\n")
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		var cells int64
		var err error
		if l.needsRow() {
			out, cells, err = l.slowLine(w, out, ln)
		} else {
			out, cells, err = js.line(out, ln)
		}
		if err != nil {
			b.err = fmt.Errorf("line %d: %w", b.first+int64(i), err)
			return
		}
		out = append(out, '\n')
		b.rows++
		b.cells += cells
	}
	b.out = out
	b.counts = append([]int64(nil), w.counts...)
}

func (l *Local) slowLine(w *worker, dst, ln []byte) ([]byte, int64, error) {
	hs, vs, err := decodeRow(ln)
	if err != nil {
		return dst, 0, err
	}
	req := &Request{Table: &Table{Headers: hs}}
	plans, _ := l.plan(req)
	cols := make(map[string]int, len(hs))
	for i, h := range hs {
		cols[h] = i
	}
	w.rc.cols = cols
	row := make([]Value, len(vs))
	if err := w.row(plans, vs, row); err != nil {
		return dst, 0, err
	}
	dst, err = encodeRow(dst, hs, row)
	return dst, int64(len(hs)), err
}
