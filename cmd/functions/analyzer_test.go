package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"testing"
)

// TestAnalyzerWorkerSubcommand: the cloud binary started with the hidden
// analyzer subcommand speaks the worker protocol on stdin and stdout (a
// hello, one analysis) and exits 0 when stdin ends, whatever FUNCTION_TARGET.
func TestAnalyzerWorkerSubcommand(t *testing.T) {
	req := []byte(`{"analyze":{"sql":"SELECT 1 AS one; SELEC","default_project":"p","default_dataset":"d"}}`)
	var in bytes.Buffer
	_ = binary.Write(&in, binary.BigEndian, uint32(len(req)))
	in.Write(req)
	cmd := exec.Command(os.Args[0], "internal-analyzer")
	cmd.Env = []string{"QUERYGATE_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &in, &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("worker: %v; stderr:\n%s", err, errb.String())
	}
	var frames []map[string]json.RawMessage
	for {
		var n uint32
		if err := binary.Read(&out, binary.BigEndian, &n); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		var f map[string]json.RawMessage
		if err := json.Unmarshal(out.Next(int(n)), &f); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	if len(frames) != 2 || string(frames[0]["hello"]) != `{"version":1}` {
		t.Fatalf("frames = %v, want a hello and a result", frames)
	}
	var res struct {
		Error struct{ Kind string } `json:"error"`
	}
	if err := json.Unmarshal(frames[1]["result"], &res); err != nil {
		t.Fatal(err)
	}
	if res.Error.Kind != "parse" {
		t.Errorf("result = %s, want a parse error", frames[1]["result"])
	}
}
