package analyzerproc

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ProtocolStdout takes the process's standard output for the worker
// protocol and points file descriptor 1 at standard error, so that nothing
// else written to fd 1 can corrupt the frames. ZetaSQL's C++ writes there:
// on an internal check failure (ZETASQL_RET_CHECK) it logs an INFO line to
// stdout, which the zetafuzz worker found as a frame of 842,019,382 bytes
// ("2026", the line's date). A worker calls it once, before serving.
func ProtocolStdout() (*os.File, error) {
	fd, err := unix.Dup(1)
	if err != nil {
		return nil, fmt.Errorf("keep stdout for the protocol: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.Dup2(2, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("point stdout at stderr: %w", err)
	}
	os.Stdout = os.Stderr
	return os.NewFile(uintptr(fd), "analyzer-protocol"), nil
}
