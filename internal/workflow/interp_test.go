package workflow

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runYAML runs a small workflow to completion on a fresh runtime.
func runYAML(t *testing.T, src string, args map[string]any, env map[string]string, client *http.Client) (*ExecutionState, *fakeClock) {
	t.Helper()
	wf, err := Load([]byte(src), "test.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	clock := newFakeClock()
	rt, err := NewRuntime(Options{
		Workflow: wf, Store: NewMemoryStateStore(), Env: env, HTTPClient: client,
		IDToken: func(context.Context, string) (string, error) { return "tok", nil },
		Project: "p", Location: "l", Name: "w", CallbackBase: "http://127.0.0.1:1",
		Now: clock.Now, Sleep: clock.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	name, err := rt.Start(context.Background(), args)
	if err != nil {
		t.Fatal(err)
	}
	return waitDone(t, rt, name), clock
}

func TestInterpreterConstructs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		src   string
		args  map[string]any
		want  any
		state State
	}{
		{
			name: "list of steps is main; next end returns null",
			src: `
- a:
    assign:
      - x: 1
    next: end
- b:
    return: 2
`,
			want: nil, state: StateSucceeded,
		},
		{
			name: "params, subworkflow defaults and result",
			src: `
main:
  params: [args]
  steps:
    - call_it:
        call: add
        args:
          a: ${args.n}
        result: r
    - done:
        return: ${r}
add:
  params: [a, b: 10]
  steps:
    - r:
        return: ${a + b}
`,
			args: map[string]any{"n": 5}, want: int64(15), state: StateSucceeded,
		},
		{
			name: "range loop and nested steps with next jumping forward",
			src: `
main:
  steps:
    - init:
        assign:
          - acc: []
    - loop:
        for:
          value: n
          range: [1, 3]
          steps:
            - push:
                assign:
                  - acc: ${acc + [n]}
    - group:
        steps:
          - inner:
              next: after
          - skipped:
              raise: "must not run"
          - after:
              assign:
                - acc: ${acc + ["after"]}
    - done:
        return: ${acc}
`,
			want: []any{int64(1), int64(2), int64(3), "after"}, state: StateSucceeded,
		},
		{
			name: "try except catches a raised map; nested assignment targets",
			src: `
main:
  steps:
    - t:
        try:
          steps:
            - boom:
                raise:
                  code: 7
                  message: "custom"
        except:
          as: e
          steps:
            - keep:
                assign:
                  - out.caught: ${e.code}
                  - out.list: [0, 0]
                  - out.list[1]: ${e.message}
    - done:
        return: ${out}
`,
			want: map[string]any{"caught": int64(7), "list": []any{int64(0), "custom"}}, state: StateSucceeded,
		},
		{
			name: "uncaught error fails the execution with the error map",
			src: `
main:
  steps:
    - bad:
        assign:
          - x: '${{"a": 1}.b}'
`,
			want: map[string]any{"message": "key not found: b", "tags": []any{"KeyError"}}, state: StateFailed,
		},
		{
			name: "raise a string",
			src: `
main:
  steps:
    - r:
        raise: "plain"
`,
			want: "plain", state: StateFailed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, _ := runYAML(t, tc.src, tc.args, nil, nil)
			if st.State != tc.state {
				t.Fatalf("state = %s (result %v, error %v), want %s", st.State, st.Result, st.Error, tc.state)
			}
			got := st.Result
			if tc.state == StateFailed {
				got = st.Error
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want, +got):\n%s", diff)
			}
		})
	}
}

func TestForScoping(t *testing.T) {
	t.Parallel()
	src := `
main:
  steps:
    - init:
        assign:
          - total: 0
    - loop:
        for:
          value: v
          index: i
          in: [1, 2, 3, 4, 5]
          steps:
            - skip_two:
                switch:
                  - condition: ${v == 2}
                    next: continue
                  - condition: ${v == 5}
                    next: break
            - add:
                assign:
                  - total: ${total + v * 10 + i}
                  - inner: true
    - probe:
        try:
          assign:
            - leaked: ${inner}
        except:
          as: e
          steps:
            - scoped:
                assign:
                  - leaked: "no"
    - done:
        return: ${[total, leaked]}
`
	st, _ := runYAML(t, src, nil, nil, nil)
	// v=1 (i=0): 10; v=3 (i=2): 32; v=4 (i=3): 43; v=5 breaks.
	if diff := cmp.Diff([]any{int64(85), "no"}, st.Result); diff != "" {
		t.Errorf("(-want, +got):\n%s (error %v)", diff, st.Error)
	}
}

func TestRetryDefaultPolicyAndConnectionErrors(t *testing.T) {
	t.Parallel()
	// A closed port: connection refused is ConnectionFailedError, which
	// http.default_retry retries 5 times with its documented backoff.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	src := `
main:
  params: [args]
  steps:
    - get:
        try:
          call: http.get
          args:
            url: ${args.url}
        retry: ${http.default_retry}
`
	st, clock := runYAML(t, src, map[string]any{"url": "http://" + addr + "/x"}, nil, nil)
	if st.State != StateFailed {
		t.Fatalf("state = %s", st.State)
	}
	em := st.Error.(map[string]any)
	if diff := cmp.Diff([]any{"ConnectionFailedError"}, em["tags"]); diff != "" {
		t.Errorf("tags (-want, +got):\n%s", diff)
	}
	// initial 1 s, multiplier 1.25, max 60 s, 5 retries.
	want := []time.Duration{1000 * time.Millisecond, 1250 * time.Millisecond, 1562500 * time.Microsecond, 1953125 * time.Microsecond, 2441406250 * time.Nanosecond}
	if diff := cmp.Diff(want, clock.Sleeps()); diff != "" {
		t.Errorf("backoff (-want, +got):\n%s", diff)
	}
}

func TestHTTPCallShape(t *testing.T) {
	t.Parallel()
	var got *http.Request
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Answer", "42")
		w.Write([]byte("plain answer"))
	}))
	t.Cleanup(srv.Close)
	src := `
main:
  params: [args]
  steps:
    - req:
        call: http.request
        args:
          method: PUT
          url: ${args.url}
          query:
            page: 2
            tag: ["a", "b"]
          headers:
            X-Trace: "t1"
          body:
            k: v
          auth:
            type: OIDC
            audience: "https://aud.example"
          timeout: 5
        result: r
    - done:
        return: ${[r.code, r.body, r.headers["X-Answer"]]}
`
	st, _ := runYAML(t, src, map[string]any{"url": srv.URL + "/p"}, nil, srv.Client())
	if diff := cmp.Diff([]any{int64(200), "plain answer", "42"}, st.Result); diff != "" {
		t.Fatalf("result (-want, +got):\n%s (error %v)", diff, st.Error)
	}
	if got.Method != "PUT" || got.URL.Query().Get("page") != "2" || strings.Join(got.URL.Query()["tag"], ",") != "a,b" {
		t.Errorf("request = %s %s", got.Method, got.URL)
	}
	if got.Header.Get("Authorization") != "Bearer tok" || got.Header.Get("X-Trace") != "t1" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", got.Header)
	}
	if gotBody != `{"k":"v"}` {
		t.Errorf("body = %q", gotBody)
	}
}

func TestVariableLimit(t *testing.T) {
	t.Parallel()
	// Doubling a string past 512 KB of variables raises ResourceLimitError.
	src := `
main:
  steps:
    - init:
        assign:
          - s: "0123456789abcdef"
    - grow:
        for:
          value: i
          range: [1, 20]
          steps:
            - double:
                assign:
                  - s: ${s + s}
`
	st, _ := runYAML(t, src, nil, nil, nil)
	if st.State != StateFailed {
		t.Fatalf("state = %s", st.State)
	}
	if diff := cmp.Diff([]any{"ResourceLimitError"}, st.Error.(map[string]any)["tags"]); diff != "" {
		t.Errorf("tags (-want, +got):\n%s", diff)
	}
}

func TestStartRejectsLargeArgument(t *testing.T) {
	t.Parallel()
	wf, err := Load([]byte("- a:\n    return: 1\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := NewRuntime(Options{Workflow: wf, Store: NewMemoryStateStore(), Project: "p", Location: "l", Name: "w"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	_, err = rt.Start(context.Background(), map[string]any{"x": strings.Repeat("a", MaxArgumentBytes)})
	if err == nil || !strings.Contains(err.Error(), ErrArgumentTooLarge.Error()) {
		t.Errorf("Start with a 32 KB+ argument: %v, want ErrArgumentTooLarge", err)
	}
}

func TestDefaultRetryPredicate(t *testing.T) {
	t.Parallel()
	httpErr := func(code int64) any { return map[string]any{"code": code, "tags": []any{"HttpError"}} }
	tagged := func(tag string) any { return map[string]any{"tags": []any{tag}} }
	cases := []struct {
		name                 string
		err                  any
		idempotent, nonIdemp bool
	}{
		{"429", httpErr(429), true, true},
		{"500", httpErr(500), false, false},
		{"502", httpErr(502), true, false},
		{"503", httpErr(503), true, true},
		{"504", httpErr(504), true, false},
		{"404", httpErr(404), false, false},
		{"ConnectionError", tagged("ConnectionError"), true, false},
		{"ConnectionFailedError", tagged("ConnectionFailedError"), true, true},
		{"TimeoutError", tagged("TimeoutError"), true, false},
		{"KeyError", tagged("KeyError"), false, false},
		{"string", "boom", false, false},
	}
	for _, tc := range cases {
		if got := defaultRetryPredicate(tc.err, false); got != tc.idempotent {
			t.Errorf("default_retry_predicate(%s) = %v, want %v", tc.name, got, tc.idempotent)
		}
		if got := defaultRetryPredicate(tc.err, true); got != tc.nonIdemp {
			t.Errorf("default_retry_predicate_non_idempotent(%s) = %v, want %v", tc.name, got, tc.nonIdemp)
		}
	}
}

func TestSwitchAndBuiltinCalls(t *testing.T) {
	t.Parallel()
	src := `
main:
  params: [args]
  steps:
    - s1:
        switch:
          - condition: '${args.x == {"a": [1, 2.0, null, true, "s"]}}'
            assign:
              - deep_equal: true
            next: s2
          - condition: true
            assign:
              - deep_equal: false
    - s2:
        switch:
          - condition: ${false}
            raise: "not taken"
          - condition: ${len(keys(args)) == 1}
            steps:
              - inner:
                  assign:
                    - via_steps: "yes"
    - nap:
        call: sys.sleep
        args:
          seconds: 2.5
    - log:
        call: sys.log
        args:
          severity: WARNING
          text: ${"hello " + string(args.x.a[1])}
    - env:
        call: sys.get_env
        args:
          name: PROJECT
        result: project
    - now:
        call: sys.now
        result: t
    - s3:
        switch:
          - condition: ${t > 0}
            raise:
              code: 9
    - unreachable:
        return: "no"
`
	st, clock := runYAML(t, src, map[string]any{"x": map[string]any{"a": []any{1, 2, nil, true, "s"}}}, map[string]string{"PROJECT": "demo"}, nil)
	if st.State != StateFailed {
		t.Fatalf("state = %s, result %v", st.State, st.Result)
	}
	if diff := cmp.Diff(map[string]any{"code": int64(9)}, st.Error); diff != "" {
		t.Errorf("error (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{2500 * time.Millisecond}, clock.Sleeps()); diff != "" {
		t.Errorf("sys.sleep (-want, +got):\n%s", diff)
	}
}

func TestSwitchVariablesVisible(t *testing.T) {
	t.Parallel()
	src := `
main:
  params: [args]
  steps:
    - s1:
        switch:
          - condition: '${args.x == {"a": [1, 2.0, null, true, "s"]}}'
            assign:
              - deep_equal: true
            next: s2
          - condition: true
            assign:
              - deep_equal: false
    - s2:
        switch:
          - condition: ${len(keys(args)) == 1}
            steps:
              - inner:
                  assign:
                    - via_steps: "yes"
    - env:
        call: sys.get_env
        args:
          name: PROJECT
        result: project
    - done:
        return: ${[deep_equal, via_steps, project]}
`
	st, _ := runYAML(t, src, map[string]any{"x": map[string]any{"a": []any{1, 2, nil, true, "s"}}}, map[string]string{"PROJECT": "demo"}, nil)
	if diff := cmp.Diff([]any{true, "yes", "demo"}, st.Result); diff != "" {
		t.Errorf("result (-want, +got):\n%s (error %v)", diff, st.Error)
	}
}
