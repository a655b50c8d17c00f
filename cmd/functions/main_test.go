package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary act as the cloud binary itself: with
// QUERYGATE_RUN_MAIN set it runs main, so the tests below see the real exit
// code and output.
func TestMain(m *testing.M) {
	if os.Getenv("QUERYGATE_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestUnconfiguredExitsWithJSON: a function started without its
// configuration exits non-zero at start, and every line it prints is JSON
// with a severity (issue 12, findings 3 and 4).
func TestUnconfiguredExitsWithJSON(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		wantText string
	}{
		{"no target", nil, "FUNCTION_TARGET is required"},
		{"unknown target", []string{"FUNCTION_TARGET=Nope"}, `FUNCTION_TARGET \"Nope\" is not a querygate function`},
		{"policy without configuration", []string{"FUNCTION_TARGET=Policy"}, "configuration"},
		{"intake without configuration", []string{"FUNCTION_TARGET=Intake"}, "configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append([]string{"QUERYGATE_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "PORT=0"}, tc.env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit = %v, want exit status 1; output:\n%s", err, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			for _, line := range lines {
				var entry map[string]any
				if err := json.Unmarshal([]byte(line), &entry); err != nil {
					t.Errorf("line is not JSON: %q", line)
					continue
				}
				if entry["severity"] == nil || entry["message"] == nil {
					t.Errorf("line lacks severity or message: %q", line)
				}
			}
			if last := lines[len(lines)-1]; !strings.Contains(last, `"severity":"ERROR"`) || !strings.Contains(last, tc.wantText) {
				t.Errorf("last line = %q, want an ERROR naming %q", last, tc.wantText)
			}
		})
	}
}
