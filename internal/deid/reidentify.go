package deid

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Reidentify reverses the crypto_deterministic_config surrogates in t: tokens
// marked with their surrogate infoType ("NAME(n):token") anywhere in a string
// cell, and whole cells of columns whose record transformation has no
// surrogate. Everything else is returned unchanged. The caller checks that the
// requester may re-identify and records the audit event; errors name the
// column, never the token or value.
func (l *Local) Reidentify(ctx context.Context, t *Table) (*Table, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: no table", ErrTable)
	}
	cols := make(map[string]int, len(t.Headers))
	for i, h := range t.Headers {
		cols[h] = i
	}
	out := &Table{Headers: slices.Clone(t.Headers), Rows: make([][]Value, len(t.Rows))}
	for r, row := range t.Rows {
		if r%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if len(row) != len(t.Headers) {
			return nil, fmt.Errorf("%w: row %d has %d cells for %d headers", ErrTable, r, len(row), len(t.Headers))
		}
		rc := &rowCtx{cols: cols, row: row}
		nr := make([]Value, len(row))
		for i, v := range row {
			s, ok := v.(string)
			if !ok {
				nr[i] = v
				continue
			}
			if d, whole := l.wholeTokens[t.Headers[i]]; whole {
				p, err := d.reverse(s, rc)
				if err != nil {
					return nil, fmt.Errorf("row %d column %q: %w", r, t.Headers[i], err)
				}
				nr[i] = p
				continue
			}
			p, err := l.reverseSurrogates(s, rc)
			if err != nil {
				return nil, fmt.Errorf("row %d column %q: %w", r, t.Headers[i], err)
			}
			nr[i] = p
		}
		out.Rows[r] = nr
	}
	return out, nil
}

// reverseSurrogates replaces every NAME(n):token of a known surrogate name.
func (l *Local) reverseSurrogates(s string, rc *rowCtx) (string, error) {
	if len(l.surrogates) == 0 || strings.IndexByte(s, '(') < 0 {
		return s, nil
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '(')
		if j < 0 {
			break
		}
		j += i
		// The name is the run of infoType characters before '('.
		st := j
		for st > last && isInfoTypeChar(s[st-1]) {
			st--
		}
		d, ok := l.surrogates[s[st:j]]
		if !ok {
			i = j + 1
			continue
		}
		k := j + 1
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == j+1 || k+1 >= len(s) || s[k] != ')' || s[k+1] != ':' {
			i = j + 1
			continue
		}
		n, err := strconv.Atoi(s[j+1 : k])
		if err != nil || k+2+n > len(s) {
			return "", fmt.Errorf("%w: surrogate length is out of range", ErrReidentify)
		}
		p, err := d.reverse(s[k+2:k+2+n], rc)
		if err != nil {
			return "", err
		}
		b.WriteString(s[last:st])
		b.WriteString(p)
		last = k + 2 + n
		i = last
	}
	if last == 0 {
		return s, nil
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

func isInfoTypeChar(c byte) bool {
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || isDigit(c)
}
