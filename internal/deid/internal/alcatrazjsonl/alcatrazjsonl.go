// Package alcatrazjsonl is the comparison baseline for the deid benchmarks: the
// same job as the local engine (mask the six infoTypes in every string cell)
// done with github.com/hoophq/alcatraz v0.23.0, the engine hoop.dev uses, and
// a JSON Lines filter around it built the ordinary way with encoding/json.
// Both use all cores. It is test tooling, not production code.
package alcatrazjsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/hoophq/alcatraz"
	"github.com/hoophq/alcatraz/anonymizer"
	"github.com/hoophq/alcatraz/entities"
)

// Entities restricts alcatraz to the six infoTypes the local engine detects.
var Entities = []string{entities.EmailAddress, entities.PhoneNumber, entities.CreditCard, entities.USSSN, entities.IPAddress, entities.IBANCode}

// Engine wraps one alcatraz engine (safe for concurrent use).
type Engine struct {
	eng  *alcatraz.Engine
	opts alcatraz.Options
}

// New builds the engine with the English defaults, restricted to Entities.
func New() *Engine {
	return &Engine{eng: alcatraz.NewEngine(), opts: alcatraz.Options{Entities: Entities}}
}

// Text returns s with every detection replaced by <ENTITY_TYPE>.
func (e *Engine) Text(s string) string {
	res := e.eng.Analyze(s, e.opts)
	if len(res) == 0 {
		return s
	}
	return anonymizer.Anonymize(s, res, anonymizer.Replace())
}

// Table masks every string cell of rows, spreading rows over workers.
func (e *Engine) Table(rows [][]any, workers int) [][]any {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := make([][]any, len(rows))
	var wg sync.WaitGroup
	per := (len(rows) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*per, min((w+1)*per, len(rows))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := lo; r < hi; r++ {
				row := make([]any, len(rows[r]))
				for i, v := range rows[r] {
					if s, ok := v.(string); ok {
						v = e.Text(s)
					}
					row[i] = v
				}
				out[r] = row
			}
		}()
	}
	wg.Wait()
	return out
}

// Filter reads JSON Lines from r, masks every string value (keys and order
// kept), and writes JSON Lines to w. Batches of lines go to all cores; output
// keeps input order.
func (e *Engine) Filter(r io.Reader, w io.Writer, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type batch struct {
		lines [][]byte
		out   []byte
		err   error
		done  chan struct{}
	}
	in := make(chan *batch, workers*2)
	ordered := make(chan *batch, workers*2)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range in {
				var buf bytes.Buffer
				for _, ln := range b.lines {
					if err := e.line(&buf, ln); err != nil {
						b.err = err
						break
					}
				}
				b.out = buf.Bytes()
				close(b.done)
			}
		}()
	}
	var readErr error
	go func() {
		defer close(in)
		defer close(ordered)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		b := &batch{done: make(chan struct{})}
		size := 0
		for sc.Scan() {
			ln := append([]byte(nil), sc.Bytes()...)
			if len(bytes.TrimSpace(ln)) == 0 {
				continue
			}
			b.lines = append(b.lines, ln)
			size += len(ln)
			if size >= 256<<10 {
				in <- b
				ordered <- b
				b, size = &batch{done: make(chan struct{})}, 0
			}
		}
		readErr = sc.Err()
		if len(b.lines) > 0 {
			in <- b
			ordered <- b
		}
	}()
	bw := bufio.NewWriterSize(w, 1<<20)
	var firstErr error
	for b := range ordered {
		<-b.done
		if firstErr == nil && b.err != nil {
			firstErr = b.err
		}
		if firstErr == nil {
			_, firstErr = bw.Write(b.out)
		}
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = readErr
	}
	if firstErr != nil {
		return firstErr
	}
	return bw.Flush()
}

func (e *Engine) line(buf *bytes.Buffer, ln []byte) error {
	dec := json.NewDecoder(bytes.NewReader(ln))
	dec.UseNumber()
	if err := e.value(buf, dec); err != nil {
		return err
	}
	buf.WriteByte('\n')
	return nil
}

// value re-emits one JSON value from the token stream, masking strings.
func (e *Engine) value(buf *bytes.Buffer, dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		obj := t == '{'
		buf.WriteByte(byte(t))
		first := true
		for dec.More() {
			if !first {
				buf.WriteByte(',')
			}
			first = false
			if obj {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				kb, _ := json.Marshal(k)
				buf.Write(kb)
				buf.WriteByte(':')
			}
			if err := e.value(buf, dec); err != nil {
				return err
			}
		}
		end, err := dec.Token()
		if err != nil {
			return err
		}
		buf.WriteByte(byte(end.(json.Delim)))
	case string:
		b, err := json.Marshal(e.Text(t))
		if err != nil {
			return err
		}
		buf.Write(b)
	case json.Number:
		buf.WriteString(t.String())
	case bool:
		fmt.Fprint(buf, t)
	case nil:
		buf.WriteString("null")
	}
	return nil
}
