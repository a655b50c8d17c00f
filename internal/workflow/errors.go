package workflow

import "errors"

var (
	// ErrNotFound: no execution (or callback) of that name.
	ErrNotFound = errors.New("not found")
	// ErrArgumentTooLarge: the execution argument exceeds the 32 KB that
	// Workflows accepts.
	ErrArgumentTooLarge = errors.New("execution argument larger than 32 KB")
	// ErrWorkflowChanged: a persisted execution started on a different
	// workflow source than the runtime's, so its frames do not apply.
	ErrWorkflowChanged = errors.New("execution started on a different workflow source")
	// ErrClosed: the runtime was closed.
	ErrClosed = errors.New("runtime closed")
)

// MaxArgumentBytes is the documented limit on an execution's argument.
const MaxArgumentBytes = 32 * 1024

// MaxVariableBytes is the documented limit on the total size of variables
// of an execution (512 KB). The runtime measures the serialized frame stack,
// which holds all variables plus loop state.
const MaxVariableBytes = 512 * 1024

// maxHTTPResponseBytes is the documented limit on an HTTP response's size.
const maxHTTPResponseBytes = 2 * 1024 * 1024

// maxCallbackBytes bounds a callback request's body on the local server.
const maxCallbackBytes = 64 * 1024
