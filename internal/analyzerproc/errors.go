package analyzerproc

import "errors"

// ErrTimeout means an analysis ran past its deadline: its worker was killed
// and the request must be denied.
var ErrTimeout = errors.New("the SQL analysis ran past its deadline and was stopped")

// ErrWorker means the worker failed (crashed, was killed, or broke the
// protocol) during the analysis: the worker is replaced and the request
// must be denied.
var ErrWorker = errors.New("the SQL analyzer worker failed")

// ErrClosed means the Pool was closed.
var ErrClosed = errors.New("the SQL analyzer pool is closed")
