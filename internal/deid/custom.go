package deid

import (
	"fmt"
	"regexp"
	"strings"

	"cloud.google.com/go/dlp/apiv2/dlppb"
)

// detector finds a custom infoType (regex or dictionary).
type detector interface {
	find(s string, it int, out []span) []span
}

type regexDetector struct {
	re     *regexp.Regexp
	prefix string // literal prefix every match starts with, for a cheap skip
	groups []int
}

func newRegexDetector(r *dlppb.CustomInfoType_Regex) (*regexDetector, error) {
	re, err := regexp.Compile(r.GetPattern())
	if err != nil {
		return nil, fmt.Errorf("%w: custom regex: %v", ErrConfig, err)
	}
	d := &regexDetector{re: re}
	d.prefix, _ = re.LiteralPrefix()
	for _, g := range r.GetGroupIndexes() {
		if int(g) > re.NumSubexp() || g < 0 {
			return nil, fmt.Errorf("%w: custom regex group index %d out of range", ErrConfig, g)
		}
		d.groups = append(d.groups, int(g))
	}
	return d, nil
}

func (d *regexDetector) find(s string, it int, out []span) []span {
	if d.prefix != "" && !strings.Contains(s, d.prefix) {
		return out
	}
	if len(d.groups) == 0 {
		for _, m := range d.re.FindAllStringIndex(s, -1) {
			if m[1] > m[0] {
				out = append(out, span{m[0], m[1], it})
			}
		}
		return out
	}
	for _, m := range d.re.FindAllStringSubmatchIndex(s, -1) {
		for _, g := range d.groups {
			if a, b := m[2*g], m[2*g+1]; a >= 0 && b > a {
				out = append(out, span{a, b, it})
			}
		}
	}
	return out
}

// dictDetector matches phrases case-insensitively on word boundaries, as DLP's
// word-list dictionaries do.
type dictDetector struct {
	first map[string][]string // lower-cased first word -> lower-cased phrases
}

func isWordByte(c byte) bool { return isAlnum(c) || c >= 0x80 }

func newDictDetector(words []string) (*dictDetector, error) {
	d := &dictDetector{first: map[string][]string{}}
	for _, w := range words {
		p := strings.ToLower(strings.TrimSpace(w))
		if p == "" {
			continue
		}
		e := 0
		for e < len(p) && isWordByte(p[e]) {
			e++
		}
		if e == 0 {
			return nil, fmt.Errorf("%w: dictionary phrases must start with a letter or digit", ErrConfig)
		}
		d.first[p[:e]] = append(d.first[p[:e]], p)
	}
	if len(d.first) == 0 {
		return nil, fmt.Errorf("%w: dictionary wordList is empty", ErrConfig)
	}
	return d, nil
}

func (d *dictDetector) find(s string, it int, out []span) []span {
	var buf [64]byte
	for i := 0; i < len(s); {
		if !isWordByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		if j-i <= len(buf) {
			for k := i; k < j; k++ {
				c := s[k]
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				buf[k-i] = c
			}
			for _, p := range d.first[string(buf[:j-i])] {
				e := i + len(p)
				if e <= len(s) && strings.EqualFold(s[i:e], p) && (e == len(s) || !isWordByte(s[e])) {
					out = append(out, span{i, e, it})
					break
				}
			}
		}
		i = j
	}
	return out
}
