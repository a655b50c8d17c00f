package audit

import "errors"

// Sentinel errors of package audit.
var (
	// ErrChainBroken means the audit table does not hold the chains it
	// should: a row was changed, removed, duplicated or inserted.
	ErrChainBroken = errors.New("audit chain broken")
	// ErrDiverged means the audit table already holds a row for a session
	// event whose hash differs from the session store's. One of them was
	// changed after the row was written.
	ErrDiverged = errors.New("audit row differs from the session store")
	// ErrSchemaMismatch means an existing audit table's schema is not
	// Schema().
	ErrSchemaMismatch = errors.New("audit table schema differs from the code")
)
