// Package procstat reads a process's resident memory from /proc, for the
// supervisors that recycle child processes (internal/bqproc,
// internal/analyzerproc) and the load tool.
package procstat

import (
	"os"
	"strconv"
	"strings"
)

// RSS is the resident set size of process pid in bytes (0 when unknown:
// no such process, or no /proc).
func RSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
