package classify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
)

// FuzzNameHint: any column name (BigQuery schemas are outside input)
// yields no hint or one of the known infoTypes.
func FuzzNameHint(f *testing.F) {
	for _, s := range []string{"contact", "customerEmail", "cc_number", "ssn2", "\xff\xfe", "ÉMAIL", ""} {
		f.Add(s)
	}
	known := map[string]bool{"": true}
	for _, it := range nameHints {
		known[it] = true
	}
	f.Fuzz(func(t *testing.T, name string) {
		if h := NameHint(name); !known[h] {
			t.Fatalf("NameHint(%q) = %q, not a known infoType", name, h)
		}
	})
}

// FuzzProfileSample: any sampled text is profiled without error, and the
// stored profile never holds the text itself.
func FuzzProfileSample(f *testing.F) {
	for _, s := range []string{"person01@example.org", "219-09-9999", "4111 1111 1111 1111", "\x00\xff", strings.Repeat("9", 40)} {
		f.Add(s, s)
	}
	insp := localInspectorF(f)
	f.Fuzz(func(t *testing.T, a, b string) {
		src := newFakeSource()
		src.put(peopleRef, "TABLE", time.Unix(1, 0), []string{"x_col", "y_col"}, [][]bigquery.Value{{a, b}, {b, nil}, {[]bigquery.Value{a}, a}})
		p := New(src, insp, NewMemoryStore(), Options{})
		prof, err := p.Profile(context.Background(), peopleRef)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(prof)
		for _, v := range []string{a, b} {
			// Short strings can occur in names and infoTypes by chance.
			if len(v) >= 12 && strings.Contains(string(js), v) {
				t.Fatalf("the profile holds a sampled value: %s", js)
			}
		}
	})
}
