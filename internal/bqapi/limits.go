package bqapi

import "github.com/querygate/querygate/internal/limits"

// isRefusal reports whether intake refused a job by a per-principal limit
// (requests_per_minute, concurrent_sessions). It is answered as BigQuery
// answers a caller over a rate quota: 429, reason rateLimitExceeded, with
// Retry-After, which BigQuery's client libraries retry.
func isRefusal(err error) bool {
	_, ok := limits.AsRefusal(err)
	return ok
}
