package deid

import "testing"

// skipQuiet must agree with the byte-at-a-time definition on every offset.
func TestSkipQuietMatchesByteLoop(t *testing.T) {
	t.Parallel()
	inputs := []string{
		"", "a", "hello world this is plain text", "abc def@ghi", "lower UPPER",
		"mixed 123 digits", "tabs\tand\nnewlines", "zzzzzzzz{|}~`````", "ÿé unicode é text here",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:", "abcdefgh(", "        +1", "!!!!!!!!!!!!!!!!",
	}
	for _, trig := range []uint16{cDigit | cUpper | cPlus | cParen, cDigit | cUpper | cPlus | cParen | cAt | cColon} {
		for _, s := range inputs {
			for i := 0; i <= len(s); i++ {
				want := i
				for want < len(s) && cls[s[want]]&trig == 0 {
					want++
				}
				if got := skipQuiet(s, i, trig); got != want {
					t.Errorf("skipQuiet(%q, %d) = %d, want %d", s, i, got, want)
				}
			}
		}
	}
}
