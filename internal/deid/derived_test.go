package deid_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/deid"
)

// A column that policy marks derived (DerivedInfoType) is replaced whole,
// NULLs included, by a constant in both implementations, even where the
// configuration names the column in a record transformation, and even when
// its cells hold nothing a detector recognises (a reversed SSN, hex).
func TestDerivedColumnsAreReplacedWhole(t *testing.T) {
	t.Parallel()
	cfg, err := deid.LoadConfig([]byte(`
deidentifyConfig:
  recordTransformations:
    fieldTransformations:
      - fields: [{name: ssn}]
        primitiveTransformation:
          characterMaskConfig: {maskingCharacter: "*", numberToMask: 5}
`))
	if err != nil {
		t.Fatal(err)
	}
	local, err := deid.NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cloud, _ := newFakeDLP(t, deid.DLPOptions{})
	req := &deid.Request{
		Table: &deid.Table{Headers: []string{"region", "ssn", "h", "n"}, Rows: [][]deid.Value{
			{"west", "9876-54-321", "3132332d34352d36373839", int64(1)},
			{"east", nil, nil, nil},
		}},
		ColumnInfoTypes: map[string][]string{
			"ssn": {deid.DerivedInfoType, "US_SOCIAL_SECURITY_NUMBER"},
			"h":   {"EMAIL_ADDRESS", deid.DerivedInfoType, "US_SOCIAL_SECURITY_NUMBER"},
			"n":   {"US_SOCIAL_SECURITY_NUMBER", deid.DerivedInfoType},
		},
	}
	ssn := "[DERIVED:US_SOCIAL_SECURITY_NUMBER]"
	both := "[DERIVED:EMAIL_ADDRESS,US_SOCIAL_SECURITY_NUMBER]"
	want := [][]deid.Value{
		{"west", ssn, both, ssn},
		{"east", ssn, both, ssn},
	}
	for name, d := range map[string]deid.Deidentifier{"local": local, "dlp": cloud} {
		out, st, err := d.Deidentify(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, out.Rows); diff != "" {
			t.Errorf("%s rows (-want, +got):\n%s", name, diff)
		}
		if diff := cmp.Diff([]string{"ssn", "h", "n"}, st.MaskedColumns); diff != "" {
			t.Errorf("%s masked columns (-want, +got):\n%s", name, diff)
		}
		if req.Table.Rows[0][1] != "9876-54-321" {
			t.Errorf("%s modified the input", name)
		}
	}
}

// Values glued to text (CONCAT('x', ssn)), digits-only and spaced forms are
// found by content inspection, the second line of defence; amounts and
// dates stay.
func TestInspectionBoundaries(t *testing.T) {
	t.Parallel()
	l, err := deid.NewLocal(deid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"xx123-45-6789", "xx[US_SOCIAL_SECURITY_NUMBER]"},
		{"x123-45-6789y", "x[US_SOCIAL_SECURITY_NUMBER]y"},
		{"ID_123-45-6789", "ID_[US_SOCIAL_SECURITY_NUMBER]"},
		{"ssn:123456789", "ssn:[US_SOCIAL_SECURITY_NUMBER]"},
		{"123456789", "[US_SOCIAL_SECURITY_NUMBER]"},
		{"tax123456789", "tax[US_SOCIAL_SECURITY_NUMBER]"},
		{"123 45 6789", "[US_SOCIAL_SECURITY_NUMBER]"},
		{"x4111111111111111", "x[CREDIT_CARD_NUMBER]"},
		{"cc4111-1111-1111-1111end", "cc[CREDIT_CARD_NUMBER]end"},
		{"Card4111 1111 1111 1111.", "Card[CREDIT_CARD_NUMBER]."},
		{"4111111111111111x", "[CREDIT_CARD_NUMBER]x"},
		{"3782 822463 10005", "[CREDIT_CARD_NUMBER]"},
		{"a@b.io/4111111111111111", "[EMAIL_ADDRESS]/[CREDIT_CARD_NUMBER]"},
		// Amounts, dates, times and identifiers that are not values.
		{"$123456789", "$123456789"},
		{"-123456789", "-123456789"},
		{"total 123456789.50", "total 123456789.50"},
		{"1,234,567.89 and 123,456,789", "1,234,567.89 and 123,456,789"},
		{"2024-01-15 20240115 01/15/2024 10:30:15", "2024-01-15 20240115 01/15/2024 10:30:15"},
		{"1234567890123456789012", "1234567890123456789012"},
		{"1.123456789", "1.123456789"},
		{"987654321 666123456 000123456 123004567 123450000", "987654321 666123456 000123456 123004567 123450000"},
		{"1234567891", "1234567891"},
		{"v1.2.3-rc4 build 42", "v1.2.3-rc4 build 42"},
		{"123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"},
		{"x4111111111111112", "x4111111111111112"},
	}
	tbl := &deid.Table{Headers: []string{"c"}}
	for _, tc := range tests {
		tbl.Rows = append(tbl.Rows, []deid.Value{tc.in})
	}
	out, _, err := l.Deidentify(context.Background(), &deid.Request{Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		if got := out.Rows[i][0]; got != tc.want {
			t.Errorf("%q -> %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The forms issue 11 measured: what each query returned for a seeded row,
// inspected with no lineage at all. Inspection alone must catch the ones
// that still look like a value (glued, digits only); the rest (reversed,
// hex, base64, two values glued digit to digit as CONCAT(cc, ssn) makes)
// are lineage's job (TestDerivedColumnsAreReplacedWhole).
func TestInspectionCatchesGluedForms(t *testing.T) {
	t.Parallel()
	l, err := deid.NewLocal(deid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"x" + "123-45-6789",             // CONCAT('x', ssn)
		"123456789",                     // REPLACE(ssn, '-', '')
		"555-867-5309/4111111111111111", // FORMAT('%s/%s', mobile, cc)
		"name:Jane,ssn:123-45-6789,cc:4111111111111111", // a JSON-ish row
	} {
		out, _, err := l.Deidentify(context.Background(), &deid.Request{Table: &deid.Table{Headers: []string{"c"}, Rows: [][]deid.Value{{in}}}})
		if err != nil {
			t.Fatal(err)
		}
		got := out.Rows[0][0].(string)
		for _, frag := range []string{"123-45-6789", "123456789", "4111111111111111", "6789"} {
			if strings.Contains(got, frag) {
				t.Errorf("%q -> %q still holds %q", in, got, frag)
			}
		}
	}
}
