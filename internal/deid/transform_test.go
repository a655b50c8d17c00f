package deid

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// deidText runs the config on one string cell and returns the result.
func deidText(t *testing.T, cfgYAML, text string) string {
	t.Helper()
	cfg, err := LoadConfig([]byte(cfgYAML))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	out, _, err := l.Deidentify(context.Background(), &Request{Table: &Table{Headers: []string{"c"}, Rows: [][]Value{{text}}}})
	if err != nil {
		t.Fatalf("Deidentify: %v", err)
	}
	return out.Rows[0][0].(string)
}

func ittYAML(infoType, primitive string) string {
	return `
inspectConfig:
  infoTypes: [{name: ` + infoType + `}]
deidentifyConfig:
  infoTypeTransformations:
    transformations:
    - primitiveTransformation:
        ` + primitive + "\n"
}

// numberYAML inspects a custom DOC_NUMBER infoType (dddd-dddd-dddd-dddd), so
// the documentation's example string, which fails Luhn, is a finding.
func numberYAML(primitive string) string {
	return `
inspectConfig:
  customInfoTypes:
  - infoType: {name: DOC_NUMBER}
    regex: {pattern: '[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{4}'}
deidentifyConfig:
  infoTypeTransformations:
    transformations:
    - primitiveTransformation:
        ` + primitive + "\n"
}

// Examples from DLP's documentation (proto comments and the de-identification
// concept pages), one per transformation.
func TestTransformationsDocumentedExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cfg, in, want string
	}{
		{"replace_with_info_type", ittYAML("EMAIL_ADDRESS", "replaceWithInfoTypeConfig: {}"),
			"My email is jane@example.com", "My email is [EMAIL_ADDRESS]"},
		// RedactConfig doc: 'My phone number is 206-555-0123' -> 'My phone number is '.
		{"redact", ittYAML("PHONE_NUMBER", "redactConfig: {}"),
			"My phone number is 206-555-0123", "My phone number is "},
		{"replace_config", ittYAML("PHONE_NUMBER", "replaceConfig: {newValue: {stringValue: '[redacted]'}}"),
			"My phone number is 206-555-0123", "My phone number is [redacted]"},
		// CharacterMaskConfig.number_to_mask doc: -4, ignore '-', reverse false.
		{"mask_inverse", numberYAML("characterMaskConfig: {maskingCharacter: '*', numberToMask: -4, charactersToIgnore: [{charactersToSkip: '-'}]}"),
			"card 1234-5678-9012-3456", "card ****-****-****-3456"},
		{"mask_inverse_reverse", numberYAML("characterMaskConfig: {maskingCharacter: '*', numberToMask: -4, reverseOrder: true, charactersToIgnore: [{charactersToSkip: '-'}]}"),
			"card 1234-5678-9012-3456", "card 1234-****-****-****"},
		// CharacterMaskConfig.reverse_order doc: '0', 14, false.
		{"mask_14_zero", numberYAML("characterMaskConfig: {maskingCharacter: '0', numberToMask: 14}"),
			"1234-5678-9012-3456", "00000000000000-3456"},
		// CharacterMaskConfig.characters_to_ignore doc: skip '-', mask 5 with '*'.
		{"mask_skip_dash", ittYAML("PHONE_NUMBER", "characterMaskConfig: {maskingCharacter: '*', numberToMask: 5, charactersToIgnore: [{charactersToSkip: '-'}]}"),
			"555-555-5555", "***-**5-5555"},
		{"mask_all_common_punctuation", ittYAML("EMAIL_ADDRESS", "characterMaskConfig: {maskingCharacter: '#', charactersToIgnore: [{commonCharactersToIgnore: PUNCTUATION}]}"),
			"to jane.doe@example.com", "to ####.###@#######.###"},
		{"mask_card_keep_last4", ittYAML("CREDIT_CARD_NUMBER", "characterMaskConfig: {maskingCharacter: '*', numberToMask: -4, charactersToIgnore: [{commonCharactersToIgnore: PUNCTUATION}]}"),
			"card 4111-1111-1111-1111 ok", "card ****-****-****-1111 ok"},
		// crypto hash: HMAC-SHA-256, base64 (expected value from openssl dgst -sha256 -hmac).
		{"crypto_hash", ittYAML("EMAIL_ADDRESS", "cryptoHashConfig: {cryptoKey: {unwrapped: {key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}}}"),
			"from jane@example.com", "from 5U7NgoXe/Vx6A/kCXbqAmGIiT4xLO47Bt4RNd1ontzQ="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := deidText(t, tc.cfg, tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// CharacterMaskConfig doc: '*', 3, reverse true on "12345" gives "12***"; and
// masking a long keeps its digits as a string ("123" -> "**3" style).
func TestCharacterMaskWholeCell(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig([]byte(`
deidentifyConfig:
  recordTransformations:
    fieldTransformations:
    - fields: [{name: code}]
      primitiveTransformation: {characterMaskConfig: {maskingCharacter: '*', numberToMask: 3, reverseOrder: true}}
    - fields: [{name: n}]
      primitiveTransformation: {characterMaskConfig: {numberToMask: 2}}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, st, err := l.Deidentify(context.Background(), &Request{Table: &Table{
		Headers: []string{"code", "n", "other"},
		Rows:    [][]Value{{"12345", int64(123), "ok"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Value{{"12***", "003", "ok"}}
	if diff := cmp.Diff(want, out.Rows); diff != "" {
		t.Errorf("rows (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"code", "n"}, st.MaskedColumns); diff != "" {
		t.Errorf("masked columns (-want, +got):\n%s", diff)
	}
}

// CryptoDeterministicConfig doc: the surrogate is NAME(len):token; the issue's
// example shape is TOKEN(44):... for a 16-byte value. Tokens are
// deterministic, depend on the context field, and Reidentify reverses them.
func TestCryptoDeterministicSurrogateAndReidentify(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig([]byte(`
inspectConfig:
  infoTypes: [{name: EMAIL_ADDRESS}]
deidentifyConfig:
  infoTypeTransformations:
    transformations:
    - infoTypes: [{name: EMAIL_ADDRESS}]
      primitiveTransformation:
        cryptoDeterministicConfig:
          cryptoKey: {unwrapped: {key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}}
          surrogateInfoType: {name: TOKEN}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in := &Table{Headers: []string{"note"}, Rows: [][]Value{
		{"write to jane@example.com today"},
		{"jane@example.com"},
		{"cc john@example.org and jane@example.com"},
	}}
	out, _, err := l.Deidentify(context.Background(), &Request{Table: in})
	if err != nil {
		t.Fatal(err)
	}
	tok := regexp.MustCompile(`TOKEN\(44\):[A-Za-z0-9+/]{43}=`)
	first := tok.FindString(out.Rows[0][0].(string))
	if first == "" {
		t.Fatalf("no TOKEN(44): surrogate in %q", out.Rows[0][0])
	}
	if got := out.Rows[1][0]; got != first {
		t.Errorf("same value, different token: %q vs %q", got, first)
	}
	if got := out.Rows[0][0]; got != "write to "+first+" today" {
		t.Errorf("row 0 = %q", got)
	}
	for _, r := range out.Rows {
		if strings.Contains(r[0].(string), "jane@") || strings.Contains(r[0].(string), "john@") {
			t.Errorf("raw e-mail left in %q", r[0])
		}
	}
	back, err := l.Reidentify(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in.Rows, back.Rows); diff != "" {
		t.Errorf("Reidentify (-want, +got):\n%s", diff)
	}
	// A tampered token fails closed.
	bad := &Table{Headers: []string{"note"}, Rows: [][]Value{{strings.Replace(first, "TOKEN(44):", "TOKEN(44):A", 1)[:len(first)]}}}
	if _, err := l.Reidentify(context.Background(), bad); err == nil {
		t.Error("Reidentify accepted a tampered token")
	}
}

func TestCryptoDeterministicContextAndWholeCell(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig([]byte(`
deidentifyConfig:
  recordTransformations:
    fieldTransformations:
    - fields: [{name: email}]
      primitiveTransformation:
        cryptoDeterministicConfig:
          cryptoKey: {transient: {name: k1}}
          context: {name: tenant}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in := &Table{Headers: []string{"tenant", "email"}, Rows: [][]Value{
		{"a", "jane@example.com"}, {"b", "jane@example.com"}, {"a", "jane@example.com"}, {int64(7), "x"},
	}}
	out, _, err := l.Deidentify(context.Background(), &Request{Table: in})
	if err != nil {
		t.Fatal(err)
	}
	if out.Rows[0][1] != out.Rows[2][1] {
		t.Error("same context and value gave different tokens")
	}
	if out.Rows[0][1] == out.Rows[1][1] {
		t.Error("different contexts gave the same token")
	}
	if s := out.Rows[0][1].(string); strings.Contains(s, "(") || s == "jane@example.com" {
		t.Errorf("whole-cell token without surrogate = %q", s)
	}
	back, err := l.Reidentify(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in.Rows, back.Rows); diff != "" {
		t.Errorf("Reidentify (-want, +got):\n%s", diff)
	}
	// The context is authenticated: moving a token to another tenant fails.
	moved := &Table{Headers: in.Headers, Rows: [][]Value{{"b", out.Rows[0][1]}}}
	if _, err := l.Reidentify(context.Background(), moved); err == nil {
		t.Error("token re-identified under another context")
	}
}

// DateShiftConfig doc: shift is random within [lower, upper] days and, with a
// context and key, the same for the same context.
func TestDateShift(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig([]byte(`
deidentifyConfig:
  recordTransformations:
    fieldTransformations:
    - fields: [{name: birth}, {name: visit}]
      primitiveTransformation:
        dateShiftConfig:
          lowerBoundDays: -10
          upperBoundDays: 10
          context: {name: patient}
          cryptoKey: {unwrapped: {key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	birth := time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC)
	tbl := &Table{Headers: []string{"patient", "birth", "visit"}}
	for p := 0; p < 50; p++ {
		tbl.Rows = append(tbl.Rows, []Value{"p" + string(rune('A'+p%26)) + string(rune('a'+p/26)), birth, "2024-03-01"})
	}
	out, _, err := l.Deidentify(context.Background(), &Request{Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for i, r := range out.Rows {
		got := r[1].(time.Time)
		days := int(got.Sub(birth).Hours() / 24)
		if days < -10 || days > 10 {
			t.Errorf("row %d shifted %d days, outside [-10, 10]", i, days)
		}
		visit, err := time.Parse("2006-01-02", r[2].(string))
		if err != nil {
			t.Fatalf("row %d visit %q: %v", i, r[2], err)
		}
		// Same context: both fields move by the same number of days.
		if vd := int(visit.Sub(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)).Hours() / 24); vd != days {
			t.Errorf("row %d: birth shifted %d days, visit %d", i, days, vd)
		}
		seen[days] = true
	}
	if len(seen) < 3 {
		t.Errorf("only %d distinct shifts over 50 contexts", len(seen))
	}
	// Not a date: the transformation fails and the error holds no value.
	_, _, err = l.Deidentify(context.Background(), &Request{Table: &Table{Headers: []string{"patient", "birth", "visit"}, Rows: [][]Value{{"p", "secret-not-a-date", "x"}}}})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("err = %v, want a failure without the value", err)
	}
}

// BucketingConfig doc: 1-30 -> LOW, 31-65 -> MEDIUM, 66-100 -> HIGH;
// FixedSizeBucketingConfig doc: lower 10, upper 89, size 10 gives -10, 10-20,
// ..., 80-89, 89+.
func TestBucketing(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig([]byte(`
deidentifyConfig:
  recordTransformations:
    fieldTransformations:
    - fields: [{name: risk}]
      primitiveTransformation:
        bucketingConfig:
          buckets:
          - {min: {integerValue: 1}, max: {integerValue: 31}, replacementValue: {stringValue: LOW}}
          - {min: {integerValue: 31}, max: {integerValue: 66}, replacementValue: {stringValue: MEDIUM}}
          - {min: {integerValue: 66}, max: {integerValue: 101}, replacementValue: {stringValue: HIGH}}
    - fields: [{name: age}]
      primitiveTransformation:
        fixedSizeBucketingConfig: {lowerBound: {integerValue: 10}, upperBound: {integerValue: 89}, bucketSize: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in := [][]Value{
		{int64(1), int64(5)}, {int64(30), int64(10)}, {int64(31), int64(15)}, {float64(65.5), int64(20)},
		{int64(66), float64(84.5)}, {int64(100), int64(89)}, {int64(200), int64(120)}, {nil, nil},
	}
	want := [][]Value{
		{"LOW", "-10"}, {"LOW", "10-20"}, {"MEDIUM", "10-20"}, {"MEDIUM", "20-30"},
		{"HIGH", "80-89"}, {"HIGH", "89+"}, {int64(200), "89+"}, {nil, nil},
	}
	out, _, err := l.Deidentify(context.Background(), &Request{Table: &Table{Headers: []string{"risk", "age"}, Rows: in}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, out.Rows); diff != "" {
		t.Errorf("rows (-want, +got):\n%s", diff)
	}
}

func TestCustomInfoTypes(t *testing.T) {
	t.Parallel()
	cfg := `
inspectConfig:
  infoTypes: [{name: EMAIL_ADDRESS}]
  customInfoTypes:
  - infoType: {name: EMPLOYEE_ID}
    regex: {pattern: 'EMP-[0-9]{6}'}
  - infoType: {name: PROJECT_CODENAME}
    dictionary: {wordList: {words: [Bluebird, "red falcon"]}}
deidentifyConfig:
  infoTypeTransformations:
    transformations:
    - primitiveTransformation: {replaceWithInfoTypeConfig: {}}
`
	got := deidText(t, cfg, "EMP-123456 on bluebird and Red Falcon, not bluebirds; mail a@b.io")
	// "bluebirds" is not a dictionary match on its own, but once "bluebird"
	// is found in the cell every occurrence of that text is masked.
	want := "[EMPLOYEE_ID] on [PROJECT_CODENAME] and [PROJECT_CODENAME], not [PROJECT_CODENAME]s; mail [EMAIL_ADDRESS]"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLineageColumnsAreMaskedWhole(t *testing.T) {
	t.Parallel()
	l, err := NewLocal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	out, st, err := l.Deidentify(context.Background(), &Request{
		Table: &Table{Headers: []string{"id", "name_upper", "note"}, Rows: [][]Value{
			{int64(1), "JANE DOE", "ok"}, {int64(2), nil, "mail x@y.com"}, {int64(3), []any{"A", "B"}, "fine"},
		}},
		ColumnInfoTypes: map[string][]string{"name_upper": {"PERSON_NAME"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Value{
		{int64(1), "[PERSON_NAME]", "ok"}, {int64(2), "[PERSON_NAME]", "mail [EMAIL_ADDRESS]"}, {int64(3), []any{"[PERSON_NAME]", "[PERSON_NAME]"}, "fine"},
	}
	if diff := cmp.Diff(want, out.Rows); diff != "" {
		t.Errorf("rows (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{"EMAIL_ADDRESS": 1}, st.Findings); diff != "" {
		t.Errorf("findings (-want, +got):\n%s", diff)
	}
}

func TestDictionaryWholeWordsOnly(t *testing.T) {
	t.Parallel()
	cfg := `
inspectConfig:
  customInfoTypes:
  - infoType: {name: PROJECT_CODENAME}
    dictionary: {wordList: {words: [Bluebird]}}
deidentifyConfig:
  infoTypeTransformations:
    transformations:
    - primitiveTransformation: {replaceWithInfoTypeConfig: {}}
`
	if got := deidText(t, cfg, "bluebirds and xbluebird only"); got != "bluebirds and xbluebird only" {
		t.Errorf("got %q, want no match inside words", got)
	}
}

// TimePartConfig doc: extract YEAR [0-9999], MONTH [1-12], DAY_OF_MONTH
// [1-31], DAY_OF_WEEK [1-7], WEEK_OF_YEAR [1-53], HOUR_OF_DAY [0-23].
// ReplaceDictionaryConfig doc: each value becomes a word from the list.
func TestTimePartAndReplaceDictionary(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig([]byte(`
deidentifyConfig:
  recordTransformations:
    fieldTransformations:
    - fields: [{name: y}]
      primitiveTransformation: {timePartConfig: {partToExtract: YEAR}}
    - fields: [{name: dow}]
      primitiveTransformation: {timePartConfig: {partToExtract: DAY_OF_WEEK}}
    - fields: [{name: week}]
      primitiveTransformation: {timePartConfig: {partToExtract: WEEK_OF_YEAR}}
    - fields: [{name: hour}]
      primitiveTransformation: {timePartConfig: {partToExtract: HOUR_OF_DAY}}
    - fields: [{name: name}]
      primitiveTransformation: {replaceDictionaryConfig: {wordList: {words: [Alpha, Beta]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 3, 1, 17, 30, 0, 0, time.UTC) // a Friday, ISO week 9
	out, _, err := l.Deidentify(context.Background(), &Request{Table: &Table{
		Headers: []string{"y", "dow", "week", "hour", "name"},
		Rows:    [][]Value{{"2020-03-01", ts, ts, ts, "Jane Doe"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Value{int64(2020), int64(5), int64(9), int64(17)}
	if diff := cmp.Diff(want, out.Rows[0][:4]); diff != "" {
		t.Errorf("time parts (-want, +got):\n%s", diff)
	}
	if w := out.Rows[0][4]; w != "Alpha" && w != "Beta" {
		t.Errorf("dictionary replacement = %v", w)
	}
}

// Whole-cell redact and replace (record transformations): redact empties a
// string and nulls other types; replace keeps newValue's type.
func TestRedactAndReplaceWholeCell(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig([]byte(`
deidentifyConfig:
  recordTransformations:
    fieldTransformations:
    - fields: [{name: s}, {name: n}]
      primitiveTransformation: {redactConfig: {}}
    - fields: [{name: r}]
      primitiveTransformation: {replaceConfig: {newValue: {integerValue: -1}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := l.Deidentify(context.Background(), &Request{Table: &Table{
		Headers: []string{"s", "n", "r", "free"},
		Rows:    [][]Value{{"secret", int64(42), "x", "call 415-555-0123"}, {nil, nil, nil, nil}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Value{{"", nil, int64(-1), "call [PHONE_NUMBER]"}, {nil, nil, int64(-1), nil}}
	if diff := cmp.Diff(want, out.Rows); diff != "" {
		t.Errorf("rows (-want, +got):\n%s", diff)
	}
}
