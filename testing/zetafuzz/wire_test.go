package zetafuzz_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/testing/zetafuzz"
)

// TestWireKeepsBytes: a call crosses byte for byte, invalid UTF-8 and NUL
// included, and a frame cut short is an error, not a shorter input.
func TestWireKeepsBytes(t *testing.T) {
	t.Parallel()
	want := zetafuzz.Call{Target: zetafuzz.TargetLimits, Args: [][]byte{{3}, {0x01, 0xf4}, []byte("SELECT '\xff\x00'")}}
	var buf bytes.Buffer
	if err := zetafuzz.WriteCall(&buf, want); err != nil {
		t.Fatal(err)
	}
	frame := append([]byte(nil), buf.Bytes()...)
	got, err := zetafuzz.ReadCall(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("call (-want, +got):\n%s", diff)
	}
	if _, err := zetafuzz.ReadCall(&buf); !errors.Is(err, io.EOF) {
		t.Errorf("ReadCall at the end = %v, want io.EOF", err)
	}
	if _, err := zetafuzz.ReadCall(bytes.NewReader(frame[:len(frame)-1])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadCall of a cut frame = %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestWorkerFailures: the harness turns a violation the worker reports,
// and the worker's death, into errors, and starts a new worker after one
// died.
func TestWorkerFailures(t *testing.T) {
	if err := worker.check(zetafuzz.Call{Target: "no-such-target"}); err == nil || !strings.Contains(err.Error(), `unknown target "no-such-target"`) {
		t.Errorf("unknown target: %v, want the worker's violation", err)
	}
	ok := zetafuzz.Call{Target: zetafuzz.TargetAnalyze, Args: [][]byte{[]byte("SELECT 1")}}
	if err := worker.check(ok); err != nil {
		t.Fatalf("SELECT 1: %v", err)
	}
	worker.mu.Lock()
	_ = worker.cmd.Process.Kill()
	<-worker.done
	worker.mu.Unlock()
	if err := worker.check(ok); err == nil || !strings.Contains(err.Error(), "the worker died") {
		t.Errorf("after the worker was killed: %v, want its death reported", err)
	}
	if err := worker.check(ok); err != nil {
		t.Errorf("the next input after a death: %v, want a new worker to answer", err)
	}
	if err := worker.check(zetafuzz.Call{Target: zetafuzz.TargetLimits, Args: [][]byte{{3}}}); err == nil || !strings.Contains(err.Error(), "2-byte count") {
		t.Errorf("malformed limits call: %v, want the worker's violation", err)
	}
}
