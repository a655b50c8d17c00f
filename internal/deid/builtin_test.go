package deid

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func allBuiltins() *builtinSet {
	b := &builtinSet{any: true}
	for i := range b.on {
		b.on[i], b.idx[i] = true, i
	}
	return b
}

type hit struct {
	Text, InfoType string
}

func detect(s string) []hit {
	var out []hit
	for _, sp := range allBuiltins().scan(s, nil) {
		out = append(out, hit{s[sp.start:sp.end], builtinNames[sp.it]})
	}
	return out
}

func TestBuiltinDetectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []hit
	}{
		{"write to jane.doe+tag@mail.example.co.uk.", []hit{{"jane.doe+tag@mail.example.co.uk", "EMAIL_ADDRESS"}}},
		{"a@b.io", []hit{{"a@b.io", "EMAIL_ADDRESS"}}},
		{"not@an-address, x@y, @handle", nil},
		{"(415) 555-0123", []hit{{"(415) 555-0123", "PHONE_NUMBER"}}},
		{"call 415-555-0123 or 415.555.0199", []hit{{"415-555-0123", "PHONE_NUMBER"}, {"415.555.0199", "PHONE_NUMBER"}}},
		{"+1 415 555 0123; +44 20 7946 0958", []hit{{"+1 415 555 0123", "PHONE_NUMBER"}, {"+44 20 7946 0958", "PHONE_NUMBER"}}},
		{"1-800-555-0199 and 4155550123", []hit{{"1-800-555-0199", "PHONE_NUMBER"}, {"4155550123", "PHONE_NUMBER"}}},
		{"order 12345, 2024-01-15 10:30, v1.2.3, 555-0123", nil},
		{"4111 1111 1111 1111", []hit{{"4111 1111 1111 1111", "CREDIT_CARD_NUMBER"}}},
		{"5500-0000-0000-0004 then 4111111111111111 2024-01-01", []hit{{"5500-0000-0000-0004", "CREDIT_CARD_NUMBER"}, {"4111111111111111", "CREDIT_CARD_NUMBER"}}},
		{"378282246310005", []hit{{"378282246310005", "CREDIT_CARD_NUMBER"}}},
		{"4111 1111 1111 1112 fails luhn", nil},
		{"4111-1111 1111-1111 mixed separators", nil},
		{"ssn 123-45-6789.", []hit{{"123-45-6789", "US_SOCIAL_SECURITY_NUMBER"}}},
		{"000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000", nil},
		{"123-45-67890 is longer", nil},
		{"from 192.168.1.254 to 10.0.0.1", []hit{{"192.168.1.254", "IP_ADDRESS"}, {"10.0.0.1", "IP_ADDRESS"}}},
		{"256.1.1.1 1.2.3 1.2.3.4.5", nil},
		{"v6 2001:db8::8a2e:370:7334 and fe80::1 and ::1", []hit{{"2001:db8::8a2e:370:7334", "IP_ADDRESS"}, {"fe80::1", "IP_ADDRESS"}, {"::1", "IP_ADDRESS"}}},
		{"at 10:30:15 or a:b:c", nil},
		{"IBAN DE89370400440532013000.", []hit{{"DE89370400440532013000", "IBAN_CODE"}}},
		{"GB82 WEST 1234 5698 7654 32 paid", []hit{{"GB82 WEST 1234 5698 7654 32", "IBAN_CODE"}}},
		{"DE89370400440532013001 bad check", nil},
		{"", nil},
		{"plain lower case text only", nil},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, detect(tc.in)); diff != "" {
			t.Errorf("detect(%q) (-want, +got):\n%s", tc.in, diff)
		}
	}
}

// A cell without PII costs no allocation.
func TestCleanCellDoesNotAllocate(t *testing.T) {
	l, err := NewLocal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	w := l.newWorker(nil)
	s := "order #12345 shipped 2024-01-15 to the West region, v1.2.3, total $1,234.56 at 10:30"
	allocs := testing.AllocsPerRun(100, func() {
		if _, changed, _ := w.inspectString(s, l.inspect); changed {
			t.Fatal("clean cell changed")
		}
	})
	if allocs != 0 {
		t.Errorf("clean cell: %v allocations, want 0", allocs)
	}
}
