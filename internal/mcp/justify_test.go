package mcp

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/session"
)

// TestRunQueryJustification: run_query's schema offers justification and
// break_glass; a query that needs a justification is a tool error that
// tells the model to call again with one, and the justification reaches
// the session.
func TestRunQueryJustification(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cs := f.connect(t, "alice", nil)
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var schema string
	for _, tl := range tools.Tools {
		if tl.Name == "run_query" {
			raw, err := json.Marshal(tl.InputSchema)
			if err != nil {
				t.Fatal(err)
			}
			schema = string(raw)
		}
	}
	for _, want := range []string{`"justification":{`, `"break_glass":{`} {
		if !strings.Contains(schema, want) {
			t.Errorf("run_query input schema lacks %s: %s", want, schema)
		}
	}

	res, out := call(t, cs, "run_query", map[string]any{"sql": "SELECT ssn FROM t", "wait": 0})
	next, _ := out["next_step"].(string)
	if !res.IsError || out["status"] != "denied" || !strings.HasPrefix(text(res), "A justification is required: ") ||
		!strings.Contains(next, `Call run_query again with the same arguments plus "justification"`) {
		t.Errorf("without a justification: error %v status %v %q next %q", res.IsError, out["status"], text(res), next)
	}

	res, out = call(t, cs, "run_query", map[string]any{"sql": "SELECT ssn FROM t", "wait": 0,
		"justification": "incident 4711\nfraud", "break_glass": true})
	if res.IsError || out["status"] != "running" {
		t.Fatalf("with a justification: error %v status %v %q", res.IsError, out["status"], text(res))
	}
	id, _ := out["session_id"].(string)
	sess, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Justification != "incident 4711 fraud" || !sess.BreakGlass {
		t.Errorf("session justification %q break_glass %v", sess.Justification, sess.BreakGlass)
	}
	var got session.ReceivedData
	if p, err := sess.Timeline[0].Payload(); err == nil {
		got, _ = p.(session.ReceivedData)
	}
	if got.Justification != "incident 4711 fraud" || !got.BreakGlass {
		t.Errorf("session.received = %+v, want the justification and break_glass", got)
	}

	// explain_policy has no justification to give: it says one is needed.
	res, out = call(t, cs, "explain_policy", map[string]any{"sql": "SELECT ssn FROM t"})
	next, _ = out["next_step"].(string)
	if res.IsError || out["action"] != "require_approval" || out["outcome"] != "would need a justification, then approval" ||
		!strings.Contains(next, `Call run_query with "justification"`) {
		t.Errorf("explain_policy = error %v %v", res.IsError, out)
	}

	res, _ = call(t, cs, "run_query", map[string]any{"sql": "SELECT 1", "break_glass": true})
	if !res.IsError || !strings.Contains(text(res), "break_glass needs a justification") {
		t.Errorf("break_glass without justification: error %v %q", res.IsError, text(res))
	}
}
