// Package cloudbox runs the cloud binary (cmd/functions), one process per
// function with the environment terraform/ gives its Cloud Run service,
// against the Firestore and BigQuery emulators and in-process fakes of DLP,
// the Workflows Executions API, Secret Manager and Cloud Identity, while
// the workflow YAML runs in the local Workflows runtime and calls the
// processes over HTTP with OIDC tokens. Its tests are the whole package;
// docs/deploy.md says what they prove and what only a real project can.
package cloudbox
