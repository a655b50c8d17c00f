package workflow

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		src  string
		want []Problem
	}{
		{
			name: "parallel step",
			src: `main:
  steps:
    - fan_out:
        parallel:
          branches: []
`,
			want: []Problem{{Line: 4, Construct: "parallel"}},
		},
		{
			name: "unknown call and connector",
			src: `main:
  steps:
    - q:
        call: googleapis.bigquery.v2.jobs.query
        args:
          projectId: p
`,
			want: []Problem{{Line: 3, Construct: "call googleapis.bigquery.v2.jobs.query"}},
		},
		{
			name: "unsupported expression function and interpolation",
			src: `main:
  steps:
    - a:
        assign:
          - x: ${base64.encode(y)}
          - y: "id-${x}"
    - b:
        return: ${x}
`,
			want: []Problem{{Line: 5, Construct: "expression"}, {Line: 6, Construct: "expression"}},
		},
		{
			name: "bad next and break outside for",
			src: `main:
  steps:
    - a:
        next: nowhere
    - b:
        assign:
          - x: 1
        next: break
`,
			want: []Problem{{Line: 4, Construct: "next"}, {Line: 8, Construct: "next"}},
		},
		{
			name: "http auth OAuth2 and unknown arg",
			src: `main:
  steps:
    - a:
        call: http.post
        args:
          url: https://example.com
          auth:
            type: OAuth2
          retries: 3
`,
			want: []Problem{{Line: 3, Construct: "auth"}, {Line: 3, Construct: "call http.post"}},
		},
		{
			name: "subworkflow call missing parameter",
			src: `main:
  steps:
    - a:
        call: helper
        args:
          other: 1
helper:
  params: [x]
  steps:
    - r:
        return: ${x}
`,
			want: []Problem{{Line: 3, Construct: "call helper"}, {Line: 3, Construct: "call helper"}},
		},
		{
			name: "yaml anchors",
			src: `main:
  steps:
    - a:
        assign:
          - x: &v 1
          - y: *v
`,
			want: []Problem{{Line: 1, Construct: "yaml alias"}},
		},
		{
			name: "retry predicate unknown",
			src: `main:
  steps:
    - a:
        try:
          call: sys.log
          args:
            text: hi
        retry:
          predicate: ${nope}
          max_retries: 1
          backoff:
            initial_delay: 1
            max_delay: 1
            multiplier: 1
`,
			want: []Problem{{Line: 9, Construct: "predicate"}},
		},
		{
			name: "no main",
			src: `helper:
  steps:
    - r:
        return: 1
`,
			want: []Problem{{Line: 1, Construct: "main"}},
		},
		{
			name: "syntax error",
			src:  "main:\n  steps:\n    - a: [\n",
			want: []Problem{{Line: 3, Construct: "yaml"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Validate([]byte(tc.src), "test.yaml")
			// Compare line and construct; messages are prose.
			var gotLC []Problem
			for _, p := range got {
				if p.Message == "" {
					t.Errorf("problem %+v has no message", p)
				}
				gotLC = append(gotLC, Problem{Line: p.Line, Construct: p.Construct})
			}
			sortProblems(tc.want)
			sortProblems(gotLC)
			if diff := cmp.Diff(tc.want, gotLC); diff != "" {
				t.Errorf("problems (-want, +got):\n%s\nall: %v", diff, got)
			}
			if _, err := Load([]byte(tc.src), "test.yaml"); !errors.Is(err, ErrUnsupported) {
				t.Errorf("Load error = %v, want ErrUnsupported", err)
			} else if !strings.Contains(err.Error(), "test.yaml:") {
				t.Errorf("Load error %q does not name the file", err)
			}
		})
	}
}

func sortProblems(p []Problem) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && (p[j].Line < p[j-1].Line || (p[j].Line == p[j-1].Line && p[j].Construct < p[j-1].Construct)); j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

func TestProblemString(t *testing.T) {
	t.Parallel()
	p := Problem{Line: 12, Construct: "parallel", Message: "not supported"}
	if got, want := p.String(), "line 12: parallel: not supported"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// FuzzLoad feeds arbitrary YAML to Load: it must never panic, and a file it
// accepts must also have no Validate problems.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("main:\n  steps:\n    - a:\n        return: ${1 + 2}\n"))
	f.Add([]byte("- a:\n    assign:\n      - x.y[0]: 1\n- b:\n    for:\n      value: v\n      range: [1, 3]\n      steps:\n        - c:\n            next: continue\n"))
	f.Add([]byte("main:\n  params: [args]\n  steps:\n    - t:\n        try:\n          call: http.get\n          args:\n            url: ${args.u}\n        retry: ${http.default_retry}\n"))
	f.Add([]byte("main:\n  steps:\n    - s:\n        switch:\n          - condition: ${true}\n            next: end\n"))
	f.Add([]byte("x: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		w, err := Load(src, "fuzz.yaml")
		probs := Validate(src, "fuzz.yaml")
		if (err == nil) != (len(probs) == 0) {
			t.Fatalf("Load err %v but Validate found %d problems", err, len(probs))
		}
		if err == nil && w == nil {
			t.Fatal("nil workflow without error")
		}
	})
}
