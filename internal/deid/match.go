package deid

import (
	"net/netip"
)

// matchEmail matches local@domain around the '@' at at; the local part may not
// reach before lo.
func matchEmail(s string, at, lo int) (int, int) {
	st := at
	for st > lo && at-st < 64 && cls[s[st-1]]&cLocal != 0 {
		st--
	}
	for st < at && s[st] == '.' {
		st++
	}
	if st == at {
		return 0, 0
	}
	en := at + 1
	lastDot := -1
	for en < len(s) && cls[s[en]]&cDomain != 0 {
		if s[en] == '.' {
			if s[en-1] == '.' || en == at+1 {
				break
			}
			lastDot = en
		}
		en++
	}
	for en > at+1 && (s[en-1] == '.' || s[en-1] == '-') {
		en--
	}
	for lastDot >= en {
		lastDot--
		for lastDot > at && s[lastDot] != '.' {
			lastDot--
		}
		if lastDot <= at {
			lastDot = -1
		}
	}
	if lastDot < 0 || lastDot >= en-2 {
		return 0, 0
	}
	for j := lastDot + 1; j < en; j++ {
		if cls[s[j]]&(cUpper|cLower) == 0 {
			return 0, 0
		}
	}
	return st, en
}

// matchIPv4 matches a dotted quad with octets <= 255.
func matchIPv4(s string, i int) int {
	for part := 0; part < 4; part++ {
		if part > 0 {
			if i >= len(s) || s[i] != '.' {
				return 0
			}
			i++
		}
		v, d := 0, 0
		for i < len(s) && isDigit(s[i]) && d < 4 {
			v = v*10 + int(s[i]-'0')
			i++
			d++
		}
		if d == 0 || d > 3 || v > 255 {
			return 0
		}
	}
	if !rightOK(s, i) {
		return 0
	}
	return i
}

// matchIPv6 matches an IPv6 address (at least two ':'), validated by netip.
func matchIPv6(s string, i int) int {
	j, colons := i, 0
	for j < len(s) && j-i < 45 {
		c := s[j]
		if c == ':' {
			colons++
		} else if cls[c]&(cDigit|cHexLetter) == 0 && c != '.' {
			break
		}
		j++
	}
	if colons < 2 {
		return 0
	}
	for j > i && (s[j-1] == '.' || (s[j-1] == ':' && (j-2 < i || s[j-2] != ':'))) {
		j--
	}
	if j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
		return 0
	}
	a, err := netip.ParseAddr(s[i:j])
	if err != nil || !a.Is6() {
		return 0
	}
	return j
}

// matchSSN matches an SSN written ddd-dd-dddd, ddd dd dddd or ddddddddd,
// with SSA's valid ranges: area not 000, 666 or 900-999; group not 00;
// serial not 0000. It may end before a letter or punctuation ("6789x", a
// value glued to text), not before a digit or a decimal separator and digit.
func matchSSN(s string, i int) int {
	var end int
	switch {
	case ssnShape(s, i, '-'), ssnShape(s, i, ' '):
		end = i + 11
	case digitsAt(s, i, 9):
		end = i + 9
	default:
		return 0
	}
	if !gluedRightOK(s, end) {
		return 0
	}
	var d [9]byte
	n := 0
	for j := i; j < end; j++ {
		if isDigit(s[j]) {
			d[n] = s[j] - '0'
			n++
		}
	}
	area := int(d[0])*100 + int(d[1])*10 + int(d[2])
	if area == 0 || area == 666 || area >= 900 {
		return 0
	}
	if d[3] == 0 && d[4] == 0 {
		return 0
	}
	if d[5] == 0 && d[6] == 0 && d[7] == 0 && d[8] == 0 {
		return 0
	}
	return end
}

// ssnShape reports ddd<sep>dd<sep>dddd at s[i:].
func ssnShape(s string, i int, sep byte) bool {
	if len(s)-i < 11 || s[i+3] != sep || s[i+6] != sep {
		return false
	}
	return digitsAt(s, i, 3) && digitsAt(s, i+4, 2) && digitsAt(s, i+7, 4)
}

// gluedLeftOK: a value glued to the text before it may start at s[i]: the
// byte before is not a digit, nor a decimal or thousands separator after a
// digit ("1.234-56-7890" is one number).
func gluedLeftOK(s string, i int) bool {
	if i == 0 {
		return true
	}
	c := s[i-1]
	if isDigit(c) {
		return false
	}
	if (c == '.' || c == ',') && i >= 2 && isDigit(s[i-2]) {
		return false
	}
	return true
}

// gluedRightOK: a value may end before s[i] even when a letter follows, but
// not when a digit does, nor a separator and a digit (the number goes on).
func gluedRightOK(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	c := s[i]
	if isDigit(c) {
		return false
	}
	if (c == '.' || c == ',' || c == '-') && i+1 < len(s) && isDigit(s[i+1]) {
		return false
	}
	return true
}

// glued tries the detectors whose shapes are strong enough to find a value
// glued to a word or punctuation before it ("xx123-45-6789", "x4111111111111111",
// the output of CONCAT('x', ssn)): SSNs and card numbers. A bare nine-digit
// SSN is not taken after a sign, a currency symbol or a separator, where it
// is more likely an amount.
func (b *builtinSet) glued(s string, i int) (int, int) {
	if !gluedLeftOK(s, i) {
		return 0, 0
	}
	if b.on[biSSN] {
		if en := matchSSN(s, i); en > 0 {
			if c := s[i-1]; en-i == 11 || (c != '-' && c != '+' && c != '$' && c != '.' && c != ',') {
				return en, biSSN
			}
		}
	}
	if b.on[biCard] && s[i] >= '2' && s[i] <= '6' {
		if en := matchCard(s, i); en > 0 {
			return en, biCard
		}
	}
	return 0, 0
}

// matchCard matches 13 to 19 digits, optionally grouped by one consistent
// separator (' ' or '-'), starting with 2-6 and passing Luhn. It may end
// before a letter (a value glued to text), not before a digit. The longest
// valid prefix ending at a group boundary wins, so a card followed by
// " 2024-01-01" is still found.
func matchCard(s string, i int) int {
	if s[i] < '2' || s[i] > '6' {
		return 0
	}
	var sep byte
	var digits [19]byte
	var ends [19]int // ends[k]: index after the group that holds digit k-1
	var endAt [19]bool
	nd := 0
	j := i
	for j < len(s) {
		c := s[j]
		if isDigit(c) {
			if nd == len(digits) {
				break
			}
			digits[nd] = c - '0'
			nd++
			j++
			continue
		}
		if nd > 0 {
			ends[nd-1], endAt[nd-1] = j, true
		}
		if (c == ' ' || c == '-') && j+1 < len(s) && isDigit(s[j+1]) && (sep == 0 || sep == c) {
			sep = c
			j++
			continue
		}
		break
	}
	if j >= len(s) && nd > 0 {
		ends[nd-1], endAt[nd-1] = j, true
	}
	for n := nd; n >= 13; n-- {
		if !endAt[n-1] || !gluedRightOK(s, ends[n-1]) {
			continue
		}
		if luhn(digits[:n]) {
			return ends[n-1]
		}
	}
	return 0
}

func luhn(d []byte) bool {
	sum := 0
	for k := 0; k < len(d); k++ {
		v := int(d[len(d)-1-k])
		if k%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// matchPhone matches international numbers ('+', 8 to 15 digits) and North
// American ones (10 digits as 3-3-4 with optional "(...)" area code and a
// leading 1, or 10 bare digits). Separators are ' ', '-' and '.'. Groups are
// read greedily, then the longest prefix of groups that forms a number wins,
// so "555-0123 415-555-0199" does not swallow its neighbour.
func matchPhone(s string, i int) int {
	j := i
	plus := false
	if s[j] == '+' {
		plus = true
		j++
	}
	var groups, ends [8]int
	ng, nd := 0, 0
	paren := false
	for j < len(s) && ng < len(groups) {
		if s[j] == '(' {
			if paren {
				break
			}
			paren = true
			st := j + 1
			k := st
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if k >= len(s) || s[k] != ')' || k-st < 1 || k-st > 4 {
				break
			}
			groups[ng] = k - st
			j = k + 1
		} else if isDigit(s[j]) {
			st := j
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			groups[ng] = j - st
		} else {
			break
		}
		nd += groups[ng]
		ends[ng] = j
		ng++
		if nd > 15 {
			break
		}
		// One separator, then another group.
		if j+1 < len(s) && (s[j] == ' ' || s[j] == '-' || s[j] == '.') && (isDigit(s[j+1]) || s[j+1] == '(') {
			j++
			continue
		}
		if j < len(s) && s[j] == '(' {
			continue
		}
		break
	}
	nd = 0
	var total [8]int
	for k := 0; k < ng; k++ {
		nd += groups[k]
		total[k] = nd
	}
	for k := ng; k >= 1; k-- {
		e := ends[k-1]
		if !rightOK(s, e) {
			continue
		}
		if phoneShape(s[i], plus, groups[:k], total[k-1]) {
			return e
		}
	}
	return 0
}

func phoneShape(first byte, plus bool, g []int, nd int) bool {
	if plus {
		return nd >= 8 && nd <= 15
	}
	switch {
	case len(g) == 1 && nd == 10 && first != '0' && first != '1':
		return true
	case len(g) == 3 && g[0] == 3 && g[1] == 3 && g[2] == 4:
		return true
	case len(g) == 4 && g[0] == 1 && first == '1' && g[1] == 3 && g[2] == 3 && g[3] == 4:
		return true
	}
	return false
}

// matchIBAN matches an IBAN (two letters, two check digits, 11 to 30
// alphanumerics, optionally in space-separated groups of four) that passes the
// ISO 13616 mod-97 check. The longest valid prefix at a group boundary wins.
func matchIBAN(s string, i int) int {
	if len(s)-i < 15 || cls[s[i+1]]&cUpper == 0 || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
		return 0
	}
	// Candidate ends: after each alphanumeric when compact, or after each group
	// of four when spaced.
	var ends [40]int
	ne := 0
	j := i
	n := 0 // alphanumerics consumed
	for j < len(s) && n < 34 {
		c := s[j]
		if cls[c]&(cDigit|cUpper) != 0 {
			j++
			n++
			if n >= 15 && ne < len(ends) {
				ends[ne] = j
				ne++
			}
			continue
		}
		if c == ' ' && n%4 == 0 && j+1 < len(s) && cls[s[j+1]]&(cDigit|cUpper) != 0 {
			j++
			continue
		}
		break
	}
	for k := ne - 1; k >= 0; k-- {
		e := ends[k]
		if !rightOK(s, e) {
			continue
		}
		if ibanValid(s[i:e]) {
			return e
		}
	}
	return 0
}

// ibanValid runs mod 97 over the rearranged IBAN, skipping spaces.
func ibanValid(v string) bool {
	rem := 0
	add := func(c byte) {
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			d := int(c-'A') + 10
			rem = (rem*100 + d) % 97
		}
	}
	for k := 4; k < len(v); k++ {
		if v[k] != ' ' {
			add(v[k])
		}
	}
	for k := 0; k < 4; k++ {
		add(v[k])
	}
	return rem == 1
}
