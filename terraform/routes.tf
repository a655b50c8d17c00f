# Which service serves which path, for a load balancer (URL map) in front of
# the gateway. This module creates no load balancer (docs/deploy.md, "IAP
# for the approval pages"); whoever builds one routes each path prefix below
# to its service's serverless NEG. In particular the decisions API
# (/v1/approvals, internal/approval/api.go) is served by approval, not by
# intake: a URL map that sends every /v1/ path to intake makes
# `querygate approve` answer 404. testing/terraform TestPathRoutesMatchCode
# checks each prefix against the Go routes that serve it.
locals {
  path_routes = {
    "/v1/queries"                           = "intake"   # POST: agents' queries (internal/intake)
    "/v1/sessions"                          = "intake"   # GET and POST .../reidentify (intake); GET also on sessions
    "/bigquery/v2"                          = "intake"   # BigQuery's REST API (internal/bqapi)
    "/mcp"                                  = "intake"   # MCP (internal/mcp)
    "/.well-known/oauth-protected-resource" = "intake"   # MCP's protected-resource metadata
    "/openapi.json"                         = "intake"   # the API description
    "/sessions"                             = "sessions" # the replay page
    "/v1/approvals"                         = "approval" # the decisions API (internal/approval/api.go)
    "/approval"                             = "approval" # the approval pages the mailed links open
  }
}

output "path_routes" {
  description = "Path prefix -> run.app URL of the service that serves it: the URL map a load balancer in front of querygate needs (routes.tf)."
  value       = { for p, f in local.path_routes : p => local.urls[f] }
}
