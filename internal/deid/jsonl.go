package deid

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// JSON Lines streaming. The fast path never builds a value tree: it walks each
// line's bytes, copies everything that is not a string verbatim (so key order
// and number spelling survive), inspects each string in place and re-encodes
// only the strings that change. Lines are processed in batches by all
// workers; output order is input order.

// errJSON is returned for malformed input; it names the line, never the text.
var errJSON = errors.New("deid: malformed JSON line")

type jsonStats struct {
	rows, cells int64
}

// jsonScanner rewrites one line at a time for one worker.
type jsonScanner struct {
	w   *worker
	p   *ittPlan
	in  []byte
	pos int
	tmp []byte // decoded string with escapes
}

// line appends the de-identified form of the JSON object in line to dst.
func (js *jsonScanner) line(dst, line []byte) ([]byte, int64, error) {
	js.in, js.pos = line, 0
	js.ws()
	if js.pos >= len(js.in) || js.in[js.pos] != '{' {
		return dst, 0, errJSON
	}
	var cells int64
	dst = append(dst, '{')
	js.pos++
	js.ws()
	if js.pos < len(js.in) && js.in[js.pos] == '}' {
		js.pos++
		dst = append(dst, '}')
		return dst, 0, js.end()
	}
	for {
		js.ws()
		st := js.pos
		if err := js.skipString(); err != nil {
			return dst, 0, err
		}
		dst = append(dst, js.in[st:js.pos]...)
		js.ws()
		if js.pos >= len(js.in) || js.in[js.pos] != ':' {
			return dst, 0, errJSON
		}
		js.pos++
		dst = append(dst, ':')
		js.ws()
		var err error
		if dst, err = js.value(dst, 0); err != nil {
			return dst, 0, err
		}
		cells++
		js.ws()
		if js.pos >= len(js.in) {
			return dst, 0, errJSON
		}
		switch js.in[js.pos] {
		case ',':
			js.pos++
			dst = append(dst, ',')
			continue
		case '}':
			js.pos++
			dst = append(dst, '}')
			return dst, cells, js.end()
		}
		return dst, 0, errJSON
	}
}

func (js *jsonScanner) end() error {
	js.ws()
	if js.pos != len(js.in) {
		return errJSON
	}
	return nil
}

func (js *jsonScanner) ws() {
	for js.pos < len(js.in) {
		switch js.in[js.pos] {
		case ' ', '\t', '\r', '\n':
			js.pos++
		default:
			return
		}
	}
}

// skipString moves past a JSON string starting at pos and reports whether it
// holds escapes.
func (js *jsonScanner) skipStringEsc() (bool, error) {
	if js.pos >= len(js.in) || js.in[js.pos] != '"' {
		return false, errJSON
	}
	esc := false
	i := js.pos + 1
	for i < len(js.in) {
		c := js.in[i]
		if c == '"' {
			js.pos = i + 1
			return esc, nil
		}
		if c == '\\' {
			esc = true
			i += 2
			continue
		}
		if c < 0x20 {
			return false, errJSON
		}
		i++
	}
	return false, errJSON
}

func (js *jsonScanner) skipString() error {
	_, err := js.skipStringEsc()
	return err
}

const maxDepth = 64

func (js *jsonScanner) value(dst []byte, depth int) ([]byte, error) {
	if js.pos >= len(js.in) || depth > maxDepth {
		return dst, errJSON
	}
	switch c := js.in[js.pos]; {
	case c == '"':
		st := js.pos
		esc, err := js.skipStringEsc()
		if err != nil {
			return dst, err
		}
		return js.str(dst, js.in[st:js.pos], esc)
	case c == '{' || c == '[':
		closeB := byte('}')
		if c == '[' {
			closeB = ']'
		}
		dst = append(dst, c)
		js.pos++
		js.ws()
		if js.pos < len(js.in) && js.in[js.pos] == closeB {
			js.pos++
			return append(dst, closeB), nil
		}
		for {
			js.ws()
			if c == '{' {
				st := js.pos
				if err := js.skipString(); err != nil {
					return dst, err
				}
				dst = append(dst, js.in[st:js.pos]...)
				js.ws()
				if js.pos >= len(js.in) || js.in[js.pos] != ':' {
					return dst, errJSON
				}
				js.pos++
				dst = append(dst, ':')
				js.ws()
			}
			var err error
			if dst, err = js.value(dst, depth+1); err != nil {
				return dst, err
			}
			js.ws()
			if js.pos >= len(js.in) {
				return dst, errJSON
			}
			if js.in[js.pos] == ',' {
				js.pos++
				dst = append(dst, ',')
				continue
			}
			if js.in[js.pos] == closeB {
				js.pos++
				return append(dst, closeB), nil
			}
			return dst, errJSON
		}
	default:
		st := js.pos
		for js.pos < len(js.in) {
			b := js.in[js.pos]
			if b == ',' || b == '}' || b == ']' || b == ' ' || b == '\t' || b == '\r' || b == '\n' {
				break
			}
			js.pos++
		}
		tok := js.in[st:js.pos]
		if !validScalar(tok) {
			return dst, errJSON
		}
		return append(dst, tok...), nil
	}
}

func validScalar(t []byte) bool {
	switch string(t) {
	case "true", "false", "null":
		return true
	}
	i := 0
	if i < len(t) && t[i] == '-' {
		i++
	}
	if i >= len(t) {
		return false
	}
	if t[i] == '0' {
		i++
	} else if t[i] >= '1' && t[i] <= '9' {
		for i < len(t) && isDigit(t[i]) {
			i++
		}
	} else {
		return false
	}
	if i < len(t) && t[i] == '.' {
		i++
		if i >= len(t) || !isDigit(t[i]) {
			return false
		}
		for i < len(t) && isDigit(t[i]) {
			i++
		}
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		if i >= len(t) || !isDigit(t[i]) {
			return false
		}
		for i < len(t) && isDigit(t[i]) {
			i++
		}
	}
	return i == len(t)
}

// str inspects one JSON string token (quotes included).
func (js *jsonScanner) str(dst, tok []byte, esc bool) ([]byte, error) {
	body := tok[1 : len(tok)-1]
	if esc {
		var err error
		if js.tmp, err = unescape(js.tmp[:0], body); err != nil {
			return dst, err
		}
		body = js.tmp
	}
	if len(body) == 0 {
		return append(dst, tok...), nil
	}
	// The string aliases the input (or tmp) only while it is inspected.
	s := unsafe.String(&body[0], len(body))
	out, changed, err := js.w.inspectString(s, js.p)
	if err != nil {
		return dst, err
	}
	if !changed {
		return append(dst, tok...), nil
	}
	return appendJSONString(dst, out), nil
}

func unescape(dst, b []byte) ([]byte, error) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(b) {
			return dst, errJSON
		}
		switch b[i] {
		case '"', '\\', '/':
			dst = append(dst, b[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := hex4(b[i+1:])
			if n == 0 {
				return dst, errJSON
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
					r2, n2 := hex4(b[i+3:])
					if n2 != 0 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r = dec
							i += 6
						}
					}
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, errJSON
		}
	}
	return dst, nil
}

func hex4(b []byte) (rune, int) {
	if len(b) < 4 {
		return 0, 0
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, 0
		}
	}
	return r, 4
}

const hexDigits = "0123456789abcdef"

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// ---- slow path: full decode, for configs whose transformations need the row.

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
