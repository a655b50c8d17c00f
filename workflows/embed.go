// Package workflows embeds the workflow definitions so that the local
// runtime runs the very file that is deployed to Cloud Workflows.
package workflows

import _ "embed"

// QuerySession is workflows/query_session.yaml.
//
//go:embed query_session.yaml
var QuerySession []byte

// QuerySessionFile is its name, for error messages.
const QuerySessionFile = "workflows/query_session.yaml"
