package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode"

	"github.com/querygate/querygate/internal/replay"
)

// FuzzAPIReplay feeds `replay`'s API path gateway answers: any bytes must
// be refused or rendered, never crash it, and what reaches a terminal
// holds no control character but newline and tab.
func FuzzAPIReplay(f *testing.F) {
	f.Add([]byte(`{"session_id":"qs_1","status":"succeeded","sql":"SELECT 1","timeline":[],"schema":[{"name":"a","type":"STRING"}],"rows":[{"a":"x"}],"total_rows":1}`),
		[]byte(`{"rows":[{"a":"y"}]}`))
	f.Add([]byte(`{"session_id":"qs_\u001b[2J","status":"\u009b31m","errors":["\u0007"],"timeline":[{"seq":1,"type":"session.received","data":{"a":1}}]}`), []byte(`{}`))
	f.Add([]byte(`{"schema":[],"rows":"not rows"}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var r apiReplay
		next, err := r.add(first)
		if err != nil {
			return
		}
		if next != "" {
			if _, err := r.add(second); err != nil {
				return
			}
		}
		v, err := r.view()
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := replay.WriteText(terminalSafe{&out}, v, 0); err != nil {
			return
		}
		if i := strings.IndexFunc(out.String(), func(c rune) bool { return c != '\n' && c != '\t' && unicode.IsControl(c) }); i >= 0 {
			t.Fatalf("control character at %d reached the terminal: %q", i, out.String())
		}
	})
}
