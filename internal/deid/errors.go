package deid

import "errors"

var (
	// ErrConfig reports an invalid or unsupported masking configuration.
	ErrConfig = errors.New("deid: invalid masking config")
	// ErrUnsupported reports a DLP feature the local engine does not implement.
	ErrUnsupported = errors.New("deid: not supported by the local engine")
	// ErrTable reports a malformed table (ragged rows, unsupported cell type).
	ErrTable = errors.New("deid: malformed table")
	// ErrTransform reports a transformation that could not be applied to a
	// value (for example date shifting a value that is not a date). The message
	// names the column and transformation, never the value.
	ErrTransform = errors.New("deid: transformation failed")
	// ErrReidentify reports a surrogate that could not be reversed.
	ErrReidentify = errors.New("deid: re-identification failed")
	// ErrDLP reports a Cloud DLP failure that retries and splitting did not fix.
	ErrDLP = errors.New("deid: cloud DLP failed")
)
