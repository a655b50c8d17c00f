package deid

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// The six built-in detectors are hand-written byte scanners: no regexp, no
// allocation. builtinSet.scan walks a cell once; at each byte that can start
// a value (a digit, '+', '(' or an upper-case letter at a token start) or
// anchor one ('@' for e-mail, ':' for IPv6) it tries only the detectors that
// could match there, and resumes past a match or past the failed token, so
// the work stays linear in the cell length. Local lookback around '@' and
// ':' is bounded (64 and 40 bytes).

// Built-in detector ids, in the order their infoType names are registered.
const (
	biEmail = iota
	biPhone
	biCard
	biSSN
	biIP
	biIBAN
	numBuiltins
)

var builtinNames = [numBuiltins]string{
	biEmail: "EMAIL_ADDRESS",
	biPhone: "PHONE_NUMBER",
	biCard:  "CREDIT_CARD_NUMBER",
	biSSN:   "US_SOCIAL_SECURITY_NUMBER",
	biIP:    "IP_ADDRESS",
	biIBAN:  "IBAN_CODE",
}

// BuiltinInfoTypes lists the infoTypes the local engine detects without a
// custom definition.
func BuiltinInfoTypes() []string { return append([]string(nil), builtinNames[:]...) }

const (
	cDigit = 1 << iota
	cUpper
	cLower
	cAt
	cColon
	cPlus
	cParen
	cHexLetter
	cLocal  // allowed in an e-mail local part
	cDomain // allowed in a domain
)

var cls [256]uint16

func init() {
	for c := '0'; c <= '9'; c++ {
		cls[c] |= cDigit | cLocal | cDomain
	}
	for c := 'A'; c <= 'Z'; c++ {
		cls[c] |= cUpper | cLocal | cDomain
	}
	for c := 'a'; c <= 'z'; c++ {
		cls[c] |= cLower | cLocal | cDomain
	}
	for _, c := range "abcdefABCDEF" {
		cls[c] |= cHexLetter
	}
	for _, c := range "._%+-" {
		cls[c] |= cLocal
	}
	cls['.'] |= cDomain
	cls['-'] |= cDomain
	cls['@'] |= cAt
	cls[':'] |= cColon
	cls['+'] |= cPlus
	cls['('] |= cParen
}

func isAlnum(c byte) bool { return cls[c]&(cDigit|cUpper|cLower) != 0 }
func isDigit(c byte) bool { return c-'0' < 10 }

// span is one finding: s[start:end] is a value of infoType it (an index into
// the engine's infoType table).
type span struct {
	start, end int
	it         int
}

// builtinSet says which built-ins are enabled and which infoType index each
// maps to.
type builtinSet struct {
	on  [numBuiltins]bool
	idx [numBuiltins]int
	any bool
}

// scanBuiltins appends the built-in findings in s to out, in order and
// non-overlapping.
func (b *builtinSet) scan(s string, out []span) []span {
	if !b.any {
		return out
	}
	// One pass over the cell. Bytes that cannot start a value (lower-case
	// letters, spaces, most punctuation) are skipped by the tight loop; at a
	// digit the shape of its first run (length, next byte) picks the only
	// detectors that could match, so most numbers cost one short look.
	trig := uint16(cDigit | cUpper | cPlus | cParen)
	if b.on[biEmail] {
		trig |= cAt
	}
	if b.on[biIP] {
		trig |= cColon
	}
	lastEnd := 0
	n := len(s)
	emit := func(st, en, bi int) {
		out = append(out, span{st, en, b.idx[bi]})
		lastEnd = en
	}
	for i := 0; i < n; {
		i = skipQuiet(s, i, trig)
		if i >= n {
			break
		}
		k := cls[s[i]]
		if k&cAt != 0 {
			if st, en := matchEmail(s, i, lastEnd); en > 0 {
				emit(st, en, biEmail)
				i = en
				continue
			}
			i++
			continue
		}
		if k&cColon != 0 {
			// An IPv6 address may start with a hex letter ("fe80::1"), which
			// the skip loop passed over: look back from its first ':'.
			st := i
			for st > lastEnd && i-st < 40 && (cls[s[st-1]]&(cDigit|cHexLetter) != 0 || s[st-1] == ':') {
				st--
			}
			if st == 0 || leftOK(s[st-1]) {
				if en := matchIPv6(s, st); en > 0 {
					emit(st, en, biIP)
					i = en
					continue
				}
			}
			i++
			continue
		}
		// Everything else must start a token, except an SSN or a card
		// number glued to the word or punctuation before it
		// ("xx123-45-6789"). A failed digit run is skipped whole, so each
		// letter-to-digit boundary costs one short look.
		if i > 0 && !leftOK(s[i-1]) {
			if k&cDigit != 0 {
				if en, bi := b.glued(s, i); en > 0 {
					emit(i, en, bi)
					i = en
					continue
				}
				i = skipDigits(s, i)
				continue
			}
			i++
			continue
		}
		if k&cUpper != 0 {
			if b.on[biIBAN] {
				if en := matchIBAN(s, i); en > 0 {
					emit(i, en, biIBAN)
					i = en
					continue
				}
			}
			// Only the letters: digits glued to them are looked at next.
			i = skipLetters(s, i)
			continue
		}
		if k&cDigit != 0 {
			j := i + 1
			for j < n && isDigit(s[j]) {
				j++
			}
			d := j - i
			var c byte
			if j < n {
				c = s[j]
			}
			sep := c == ' ' || c == '-' || c == '.'
			if b.on[biIP] && (c == ':' || cls[c]&cHexLetter != 0) {
				if en := matchIPv6(s, i); en > 0 {
					emit(i, en, biIP)
					i = en
					continue
				}
			}
			if b.on[biIP] && c == '.' && d <= 3 {
				if en := matchIPv4(s, i); en > 0 {
					emit(i, en, biIP)
					i = en
					continue
				}
			}
			if b.on[biSSN] && (((c == '-' || c == ' ') && d == 3) || d == 9) && (d == 3 || i == 0 || s[i-1] != '$') {
				if en := matchSSN(s, i); en > 0 {
					emit(i, en, biSSN)
					i = en
					continue
				}
			}
			if b.on[biCard] && s[i] >= '2' && s[i] <= '6' && ((d == 4 && (c == ' ' || c == '-') && digitsAt(s, j+1, 3)) || (d >= 13 && d <= 19)) {
				if en := matchCard(s, i); en > 0 {
					emit(i, en, biCard)
					i = en
					continue
				}
			}
			if b.on[biPhone] && ((d == 3 && sep && digitsAt(s, j+1, 3)) || d == 10 || (d == 1 && s[i] == '1' && sep)) {
				if en := matchPhone(s, i); en > 0 {
					emit(i, en, biPhone)
					i = en
					continue
				}
			}
			// Nothing matched: skip the whole numeric token ("2024-06-27",
			// "1.2.3"); a value cannot start after '-' or '.' anyway.
			i = skipNumeric(s, j)
			continue
		}
		// '+' or '('.
		if b.on[biPhone] {
			if en := matchPhone(s, i); en > 0 {
				emit(i, en, biPhone)
				i = en
				continue
			}
		}
		i++
	}
	return out
}

const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// skipQuiet returns the index of the first byte at or after i whose class
// intersects trig. Every trigger byte lies in '('..'Z' (0x28-0x5A), so eight
// bytes at a time (SWAR) it looks only for bytes in that range, which skips
// lower-case letters, spaces and most punctuation in one step; a byte in the
// range is then checked against the class table.
func skipQuiet(s string, i int, trig uint16) int {
	n := len(s)
	for i+8 <= n {
		w := load64(s, i)
		// Clear the top bits so per-byte additions cannot carry; a non-ASCII
		// byte may then look in range, which only costs a table check.
		v := w &^ high
		inRange := (v + (0x80-0x28)*ones) &^ (v + (0x80-0x5b)*ones) & high
		for inRange != 0 {
			j := i + bits.TrailingZeros64(inRange)>>3
			if cls[s[j]]&trig != 0 {
				return j
			}
			inRange &= inRange - 1
		}
		i += 8
	}
	for i < n && cls[s[i]]&trig == 0 {
		i++
	}
	return i
}

// load64 reads s[i:i+8] little-endian in one load; the caller guarantees
// i+8 <= len(s).
func load64(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
}

// digitsAt reports whether s[i:i+n] are all digits.
func digitsAt(s string, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	for k := i; k < i+n; k++ {
		if !isDigit(s[k]) {
			return false
		}
	}
	return true
}

// skipNumeric returns the end of the run of alphanumerics and of '-' or '.'
// followed by an alphanumeric, starting at i.
func skipNumeric(s string, i int) int {
	for i < len(s) {
		c := s[i]
		if isAlnum(c) || ((c == '-' || c == '.') && i+1 < len(s) && isAlnum(s[i+1])) {
			i++
			continue
		}
		break
	}
	return i
}

// skipLetters returns the index after the run of letters starting at i
// (at least i+1).
func skipLetters(s string, i int) int {
	i++
	for i < len(s) && cls[s[i]]&(cUpper|cLower) != 0 {
		i++
	}
	return i
}

// skipDigits returns the index after the run of digits starting at i (at
// least i+1).
func skipDigits(s string, i int) int {
	i++
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// leftOK: a value may start after this byte.
func leftOK(c byte) bool {
	return !isAlnum(c) && c != '_' && c != '.' && c != '@' && c != '+' && c != '-'
}

// rightOK: a value may end before s[i].
func rightOK(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	c := s[i]
	if isAlnum(c) || c == '_' || c == '@' {
		return false
	}
	// "1.2.3.4.5" or "555-0123-9": the token goes on.
	if (c == '.' || c == '-') && i+1 < len(s) && isDigit(s[i+1]) {
		return false
	}
	return true
}
