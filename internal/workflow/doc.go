// Package workflow runs the Cloud Workflows YAML of a query session locally
// and starts it on Cloud Workflows in production.
//
// Load and Validate accept a subset of the Workflows language and report
// anything outside it with its line. Runtime interprets a loaded workflow as
// a resumable stack machine whose state is persisted in a StateStore after
// every step, and serves callback endpoints with the real URL shape.
// CloudStarter starts executions through the Executions API. Both satisfy
// Starter. docs/workflow.md lists the supported subset.
package workflow
