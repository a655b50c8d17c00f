package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock advances only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressPlainLines(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newProgress(&out, clk.now)
	p.update("qs_1", "running", nil)
	clk.t = clk.t.Add(3 * time.Second)
	p.update("qs_1", "running", nil) // unchanged: no line
	clk.t = clk.t.Add(4 * time.Second)
	p.update("qs_1", "pending_approval", []string{"a@example.com", "b@example.com"})
	p.stop()
	p.update("qs_1", "succeeded", nil) // after stop: nothing
	want := "qs_1  running  (after 0s)\n" +
		"qs_1  pending_approval  asked: a@example.com, b@example.com  (after 7s)\n"
	if out.String() != want {
		t.Errorf("progress lines:\n%q\nwant\n%q", out.String(), want)
	}
}

func TestProgressTerminalLine(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newProgress(&out, clk.now)
	p.tty = true // a terminal: one line, redrawn in place
	clk.t = clk.t.Add(12 * time.Second)
	p.update("qs_1", "pending_approval\x1b[2J", nil)
	p.stop()
	got := out.String()
	if !strings.HasPrefix(got, "\rqs_1  pending_approval\uFFFD[2J     12s\x1b[K") || !strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("terminal progress = %q, want one redrawn line (escapes from the gateway neutralized) ended by a newline", got)
	}
}
