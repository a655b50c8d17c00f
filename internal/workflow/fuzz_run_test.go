package workflow

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in the fuzzer")
}

// FuzzRun runs every workflow that Load accepts: the interpreter must not
// panic on any accepted file. Executions are bounded by a step budget and a
// short wait; HTTP always fails and sleeps return at once.
func FuzzRun(f *testing.F) {
	for _, s := range []string{
		"- a:\n    return: ${1 + 2}\n",
		"main:\n  params: [args]\n  steps:\n    - l:\n        for:\n          value: v\n          in: ${[1, 2, args.a]}\n          steps:\n            - s:\n                switch:\n                  - condition: ${v == 2}\n                    next: break\n    - r:\n        return: ${v}\n",
		"main:\n  steps:\n    - t:\n        try:\n          call: http.get\n          args:\n            url: http://x/\n        retry: ${http.default_retry}\n        except:\n          as: e\n          steps:\n            - r:\n                return: ${e.tags}\n",
		"main:\n  steps:\n    - a:\n        next: b\n    - b:\n        next: a\n",
		"main:\n  steps:\n    - c:\n        call: events.create_callback_endpoint\n        result: cb\n    - w:\n        call: events.await_callback\n        args:\n          callback: ${cb}\n          timeout: 0\n",
		"main:\n  steps:\n    - t:\n        try:\n          raise: {code: 1}\n        retry:\n          predicate: ${p}\n          max_retries: 3\n          backoff:\n            initial_delay: 1\n            max_delay: 2\n            multiplier: 2\np:\n  params: [e]\n  steps:\n    - r:\n        return: ${e.code == 1}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		wf, err := Load(src, "fuzz.yaml")
		if err != nil {
			return
		}
		rt, err := NewRuntime(Options{
			Workflow: wf, Store: NewMemoryStateStore(),
			HTTPClient: &http.Client{Transport: failingTransport{}},
			IDToken:    func(context.Context, string) (string, error) { return "t", nil },
			Project:    "p", Location: "l", Name: "w", CallbackBase: "http://cb",
			Now:   func() time.Time { return time.Unix(1700000000, 0) },
			Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		})
		if err != nil {
			t.Fatal(err)
		}
		rt.maxSteps = 300
		defer rt.Close()
		name, err := rt.Start(context.Background(), map[string]any{"a": 1})
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, _ = rt.Wait(ctx, name)
	})
}
