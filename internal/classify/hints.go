package classify

import "strings"

// nameHints maps a word of a column name to the infoType it suggests.
var nameHints = map[string]string{
	"email": "EMAIL_ADDRESS", "mail": "EMAIL_ADDRESS",
	"phone": "PHONE_NUMBER", "mobile": "PHONE_NUMBER", "tel": "PHONE_NUMBER", "telephone": "PHONE_NUMBER", "fax": "PHONE_NUMBER",
	"ssn": "US_SOCIAL_SECURITY_NUMBER", "social": "US_SOCIAL_SECURITY_NUMBER",
	"card": "CREDIT_CARD_NUMBER", "cc": "CREDIT_CARD_NUMBER", "pan": "CREDIT_CARD_NUMBER",
	"iban": "IBAN_CODE",
	"ip":   "IP_ADDRESS", "ipv4": "IP_ADDRESS", "ipv6": "IP_ADDRESS",
}

// NameHint returns the infoType a column's name suggests, or "": the name is
// split into words at underscores, hyphens, digits and case changes
// (customerEmail, cc_number, phone2). A hint is never enough to mark a
// column; it only lowers the share of matching samples needed (see
// Options).
func NameHint(name string) string {
	for _, w := range words(name) {
		if it, ok := nameHints[w]; ok {
			return it
		}
	}
	if it, ok := nameHints[strings.ToLower(name)]; ok {
		return it
	}
	return ""
}

func words(name string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	prevLower := false
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z':
			cur = append(cur, r)
			prevLower = true
		case r >= 'A' && r <= 'Z':
			if prevLower {
				flush()
			}
			cur = append(cur, r)
			prevLower = false
		default:
			flush()
			prevLower = false
		}
	}
	flush()
	return out
}
