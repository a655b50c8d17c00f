package deid

import (
	"errors"
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
