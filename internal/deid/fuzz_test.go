package deid

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		"mail jane.doe@example.com now", "(415) 555-0123", "+44 20 7946 0958", "4111 1111 1111 1111",
		"123-45-6789", "10.0.0.1 2001:db8::1 fe80::1", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
		"x4111111111111111 4111111111111111", "a@b.co@c.io", "1-800-555-0199 4155550123", "::1:2:3",
		"", "plain text", "2024-01-15 10:30 #12345 $1.00",
	} {
		f.Add(s)
	}
}

// FuzzInspect: the engine never panics, and no value it detected survives
// anywhere in its output.
func FuzzInspect(f *testing.F) {
	fuzzSeeds(f)
	l, err := NewLocal(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spans := l.builtins.scan(s, nil)
		for i, sp := range spans {
			if sp.start < 0 || sp.end > len(s) || sp.start >= sp.end || (i > 0 && sp.start < spans[i-1].end) {
				t.Fatalf("bad span %+v in %q", sp, s)
			}
		}
		out, _, err := l.Deidentify(context.Background(), &Request{Table: &Table{Headers: []string{"c"}, Rows: [][]Value{{s}}}})
		if err != nil {
			t.Fatalf("Deidentify(%q): %v", s, err)
		}
		got := out.Rows[0][0].(string)
		for _, sp := range spans {
			if v := s[sp.start:sp.end]; strings.Contains(got, v) {
				t.Fatalf("detected %s %q survives in %q (input %q)", builtinNames[sp.it], v, got, s)
			}
		}
	})
}

// FuzzStream: the JSON Lines path never panics, accepts what encoding/json
// accepts as one object, emits valid JSON, and leaks no detected value.
func FuzzStream(f *testing.F) {
	for _, s := range []string{
		`{"a":"jane@example.com","b":[1,"10.0.0.1",{"c":"x"}],"d":null}`,
		`{"e":"caf\u00e9 \ud83d\ude00 a@b.io","n":-1.5e3}`, `{}`, `{"a":}`, `[1]`, `{"a":"\x"}`,
	} {
		f.Add([]byte(s))
	}
	l, err := NewLocal(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.ContainsAny(line, "\n\r") {
			return
		}
		var out bytes.Buffer
		_, err := l.Stream(context.Background(), bytes.NewReader(line), &out)
		var obj map[string]any
		validObj := json.Valid(line) && json.Unmarshal(line, &obj) == nil && obj != nil
		if validObj && err != nil {
			t.Fatalf("valid object %q rejected: %v", line, err)
		}
		if err != nil {
			if out.Len() != 0 {
				t.Fatalf("output %q after error", out.Bytes())
			}
			return
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return
		}
		res := bytes.TrimSuffix(out.Bytes(), []byte("\n"))
		if !json.Valid(res) {
			t.Fatalf("input %q gave invalid JSON %q", line, res)
		}
		if !validObj {
			return
		}
		// Every value the engine flags in an input string must be gone from
		// every output string value (keys are column names, copied as is).
		var got map[string]any
		if err := json.Unmarshal(res, &got); err != nil {
			t.Fatalf("output %q: %v", res, err)
		}
		outStrings := strings.Join(stringsIn(got, nil), "\x00")
		for _, in := range stringsIn(obj, nil) {
			for _, sp := range l.builtins.scan(in, nil) {
				if v := in[sp.start:sp.end]; strings.Contains(outStrings, v) {
					t.Fatalf("detected %q survives in %q", v, res)
				}
			}
		}
	})
}

func stringsIn(v any, acc []string) []string {
	switch x := v.(type) {
	case string:
		acc = append(acc, x)
	case []any:
		for _, e := range x {
			acc = stringsIn(e, acc)
		}
	case map[string]any:
		for _, e := range x {
			acc = stringsIn(e, acc)
		}
	}
	return acc
}

// FuzzLoadConfig: the strict loader never panics on arbitrary input.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte("deidentifyConfig: {infoTypeTransformations: {transformations: [{primitiveTransformation: {redactConfig: {}}}]}}\n"))
	f.Add([]byte("inspectConfig: {infoTypes: [{name: X}]}\n"))
	f.Add([]byte("{\"deidentifyConfig\": []}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := LoadConfig(src)
		if err == nil {
			_, _ = NewLocal(cfg)
		}
	})
}
