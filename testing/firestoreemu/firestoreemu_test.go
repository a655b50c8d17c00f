package firestoreemu

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestStartListensOnLoopbackAndCloseStops(t *testing.T) {
	e := ForTest(t)
	if !strings.HasPrefix(e.Addr, "127.0.0.1:") {
		t.Errorf("Addr = %q, want a 127.0.0.1 port", e.Addr)
	}
	c, err := net.DialTimeout("tcp", e.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial emulator: %v", err)
	}
	c.Close()
	e.Close()
	if e.cmd.ProcessState == nil || !e.cmd.ProcessState.Exited() {
		t.Errorf("emulator process still running after Close: %v", e.cmd.ProcessState)
	}
}
