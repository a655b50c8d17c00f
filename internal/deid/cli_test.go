package deid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/deid/corpus"
)

func runCLI(t *testing.T, args []string, in string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := deid.RunCLI(context.Background(), args, strings.NewReader(in), &out, &errb)
	return out.String(), errb.String(), err
}

func TestRunCLIDefault(t *testing.T) {
	t.Parallel()
	in := `{"z_id":1,"email":"jane@example.com","note":"call (415) 555-0123\nnow","n":1.50,"ok":true,"nil":null}
{"z_id":2, "tags":["a","ssn 123-45-6789"], "rec":{"ip":"10.0.0.1","k":[1,2]}, "esc":"caf\u00e9 \u0061@b.io"}

{"z_id":3,"email":"","note":"nothing here"}
`
	want := `{"z_id":1,"email":"[EMAIL_ADDRESS]","note":"call [PHONE_NUMBER]\nnow","n":1.50,"ok":true,"nil":null}
{"z_id":2,"tags":["a","ssn [US_SOCIAL_SECURITY_NUMBER]"],"rec":{"ip":"[IP_ADDRESS]","k":[1,2]},"esc":"café [EMAIL_ADDRESS]"}
{"z_id":3,"email":"","note":"nothing here"}
`
	out, stderr, err := runCLI(t, []string{"--stats"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("stdout (-want, +got):\n%s", diff)
	}
	var st struct {
		Rows, Cells int64
		Findings    map[string]int64
		ElapsedMS   *float64 `json:"elapsed_ms"`
	}
	if err := json.Unmarshal([]byte(stderr), &st); err != nil {
		t.Fatalf("stats %q: %v", stderr, err)
	}
	wantFindings := map[string]int64{"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 1, "US_SOCIAL_SECURITY_NUMBER": 1, "IP_ADDRESS": 1}
	if st.Rows != 3 || st.Cells != 13 || st.ElapsedMS == nil || !cmp.Equal(wantFindings, st.Findings) {
		t.Errorf("stats = %+v, want rows 3, cells 13, findings %v, elapsed", st, wantFindings)
	}
}

func TestRunCLIConfigRecordTransformations(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "masking.yaml")
	if err := os.WriteFile(cfg, []byte(`
deidentifyConfig:
  recordTransformations:
    fieldTransformations:
    - fields: [{name: card}]
      primitiveTransformation: {characterMaskConfig: {maskingCharacter: '#', numberToMask: -4}}
    - fields: [{name: age}]
      primitiveTransformation: {fixedSizeBucketingConfig: {lowerBound: {integerValue: 10}, upperBound: {integerValue: 89}, bucketSize: 10}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	in := `{"card":"4111111111111111","age":42,"note":"mail a@b.io","meta":{"x":1}}` + "\n"
	want := `{"card":"############1111","age":"40-50","note":"mail [EMAIL_ADDRESS]","meta":{"x":1}}` + "\n"
	out, _, err := runCLI(t, []string{"--config", cfg}, in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("stdout (-want, +got):\n%s", diff)
	}
}

func TestRunCLIFailsClosed(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"{\"a\":\"ok\"}\n{\"secret\":\"jane@example.com\",}\n",
		"{\"a\":\"ok\"}\n[\"jane@example.com\"]\n",
		"{\"a\":\"ok\"}\n{\"secret\":\"jane@example.com\"} trailing\n",
		"{\"a\":\"ok\"}\n{\"n\":01}\n",
	} {
		out, _, err := runCLI(t, nil, in)
		if err == nil {
			t.Errorf("input %q: no error", in)
			continue
		}
		if !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "jane") {
			t.Errorf("input %q: err = %v, want line 2 and no value", in, err)
		}
		if out != "" {
			t.Errorf("input %q: wrote %q after an error in the same batch", in, out)
		}
	}
	if _, _, err := runCLI(t, []string{"--config", "/nonexistent/masking.yaml"}, ""); err == nil {
		t.Error("missing config file: no error")
	}
}

// The streaming JSON path must give the same cells as the table engine.
func TestRunCLIMatchesTableEngine(t *testing.T) {
	t.Parallel()
	c := corpus.Generate(3, 500)
	out, _, err := runCLI(t, nil, string(c.JSONL()))
	if err != nil {
		t.Fatal(err)
	}
	l, err := deid.NewLocal(deid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tbl, _, err := l.Deidentify(context.Background(), &deid.Request{Table: &deid.Table{Headers: c.Headers, Rows: c.Rows}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(c.Rows) {
		t.Fatalf("%d lines, want %d", len(lines), len(c.Rows))
	}
	for r, ln := range lines {
		dec := json.NewDecoder(strings.NewReader(ln))
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %d: %v", r+1, err)
		}
		for i, h := range c.Headers {
			if s, ok := tbl.Rows[r][i].(string); ok && m[h] != s {
				t.Fatalf("row %d column %s: stream %q, table %q", r, h, m[h], s)
			}
		}
		// Keys stay in header order.
		if !strings.HasPrefix(ln, `{"id":`) || !strings.Contains(ln, `,"contact":`) {
			t.Fatalf("line %d lost key order: %s", r+1, ln)
		}
	}
}

// Lines longer than a read block, and a last line without a newline.
func TestRunCLILongLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("plain words ", 40_000) // 480 KB, more than one block
	in := `{"a":"` + long + `jane@example.com"}` + "\n" + `{"b":"x 10.0.0.1"}` + "\n" + `{"c":"last 123-45-6789"}`
	want := `{"a":"` + long + `[EMAIL_ADDRESS]"}` + "\n" + `{"b":"x [IP_ADDRESS]"}` + "\n" + `{"c":"last [US_SOCIAL_SECURITY_NUMBER]"}` + "\n"
	out, _, err := runCLI(t, nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if out != want {
		t.Errorf("output differs: got %d bytes, want %d; tail %q", len(out), len(want), out[max(0, len(out)-80):])
	}
}
