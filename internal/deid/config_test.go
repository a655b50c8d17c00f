package deid

import (
	"errors"
	"strings"
	"testing"
)

func TestLoadConfigStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, wantErr string
	}{
		{"unknown top level", "inspect: {}\n", `line 1: unknown field "inspect"`},
		{"unknown nested field", `
deidentifyConfig:
  infoTypeTransformations:
    transformations:
    - primitiveTransformation:
        replaceWithInfoTypeConfig: {}
        maskAll: true
`, `line 7: unknown field "maskAll"`},
		{"unknown field in list item", `
inspectConfig:
  infoTypes:
  - {name: EMAIL_ADDRESS, likelyhood: LIKELY}
deidentifyConfig: {infoTypeTransformations: {transformations: [{primitiveTransformation: {redactConfig: {}}}]}}
`, `line 4: unknown field "likelyhood"`},
		{"no deidentify config", "inspectConfig: {}\n", "deidentifyConfig or deidentifyTemplateName is required"},
		{"bad enum", `
deidentifyConfig:
  infoTypeTransformations:
    transformations:
    - primitiveTransformation:
        characterMaskConfig: {charactersToIgnore: [{commonCharactersToIgnore: DIGITS}]}
`, "commonCharactersToIgnore"},
		{"not yaml", "deidentifyConfig: [\n", "invalid masking config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadConfigAcceptsProtoJSONAndSnakeCase(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		`{"inspectConfig": {"infoTypes": [{"name": "EMAIL_ADDRESS"}]}, "deidentifyConfig": {"infoTypeTransformations": {"transformations": [{"primitiveTransformation": {"redactConfig": {}}}]}}}`,
		"inspect_config: {info_types: [{name: EMAIL_ADDRESS}]}\ndeidentify_config: {info_type_transformations: {transformations: [{primitive_transformation: {redact_config: {}}}]}}\n",
	} {
		cfg, err := LoadConfig([]byte(src))
		if err != nil {
			t.Fatalf("LoadConfig(%q): %v", src, err)
		}
		if got := deidWith(t, cfg, "mail jane@example.com now"); got != "mail  now" {
			t.Errorf("got %q, want %q", got, "mail  now")
		}
	}
}

func deidWith(t *testing.T, cfg *Config, text string) string {
	t.Helper()
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := l.Deidentify(t.Context(), &Request{Table: &Table{Headers: []string{"c"}, Rows: [][]Value{{text}}}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Rows[0][0].(string)
}

func TestNewLocalRejectsUnsupported(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src string }{
		{"unknown infoType", "inspectConfig: {infoTypes: [{name: PERSON_NAME}]}\ndeidentifyConfig: {infoTypeTransformations: {transformations: [{primitiveTransformation: {redactConfig: {}}}]}}\n"},
		{"fpe", "deidentifyConfig: {infoTypeTransformations: {transformations: [{primitiveTransformation: {cryptoReplaceFfxFpeConfig: {cryptoKey: {transient: {name: k}}, commonAlphabet: NUMERIC}}}]}}\n"},
		{"template", "deidentifyTemplateName: projects/p/locations/global/deidentifyTemplates/t\n"},
		{"rule set", "inspectConfig: {ruleSet: [{infoTypes: [{name: EMAIL_ADDRESS}]}]}\ndeidentifyConfig: {infoTypeTransformations: {transformations: [{primitiveTransformation: {redactConfig: {}}}]}}\n"},
		{"kms key without unwrapper", "deidentifyConfig: {infoTypeTransformations: {transformations: [{primitiveTransformation: {cryptoHashConfig: {cryptoKey: {kmsWrapped: {wrappedKey: AAAA, cryptoKeyName: projects/p/locations/l/keyRings/r/cryptoKeys/k}}}}}]}}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := LoadConfig([]byte(tc.src))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if _, err := NewLocal(cfg); !errors.Is(err, ErrUnsupported) {
				t.Errorf("NewLocal err = %v, want ErrUnsupported", err)
			}
		})
	}
}
