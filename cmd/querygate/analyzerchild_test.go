package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"testing"
)

// TestAnalyzerWorkerCommand speaks the worker protocol to the hidden
// subcommand: a hello, then the analysis of one request, then exit when
// stdin ends.
func TestAnalyzerWorkerCommand(t *testing.T) {
	t.Parallel()
	req := []byte(`{"analyze":{"sql":"SELECT 1 AS one","default_project":"p","default_dataset":"d"}}`)
	var in bytes.Buffer
	_ = binary.Write(&in, binary.BigEndian, uint32(len(req)))
	in.Write(req)
	var out, errb bytes.Buffer
	if err := realMain(context.Background(), []string{analyzerWorkerCommand}, &in, &out, &errb); err != nil {
		t.Fatalf("worker: %v (%s)", err, errb.String())
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
		Analysis struct {
			Path          string
			OutputColumns []struct{ Name string }
		} `json:"analysis"`
	}
	if err := json.Unmarshal(frames[1]["result"], &res); err != nil {
		t.Fatal(err)
	}
	if res.Analysis.Path != "analyzer" || len(res.Analysis.OutputColumns) != 1 || res.Analysis.OutputColumns[0].Name != "one" {
		t.Errorf("result = %+v, want one analyzed column named one", res.Analysis)
	}
}
