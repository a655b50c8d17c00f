package procstat

import (
	"os"
	"testing"
)

func TestRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc here")
	}
	if got := RSS(os.Getpid()); got < 1<<20 {
		t.Errorf("RSS of this test process = %d bytes, want at least 1 MiB", got)
	}
	if got := RSS(0); got != 0 {
		t.Errorf("RSS(0) = %d, want 0", got)
	}
}
