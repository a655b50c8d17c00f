# The session flow. The YAML is the same file the local runtime runs; it
# reads the step URLs with sys.get_env, set here to the URLs the step
# services accept as their token audience (local.urls, services.tf).
resource "google_workflows_workflow" "query_session" {
  project         = var.project_id
  name            = var.workflow_name
  region          = var.region
  description     = "querygate session: policy, approval, execute, deidentify, record"
  service_account = google_service_account.sa["workflow"].id
  call_log_level  = "LOG_ERRORS_ONLY"
  source_contents = file("${path.module}/../workflows/query_session.yaml")

  user_env_vars = {
    QUERYGATE_POLICY_URL     = local.urls["policy"]
    QUERYGATE_NOTIFY_URL     = local.urls["notify"]
    QUERYGATE_EXECUTE_URL    = local.urls["execute"]
    QUERYGATE_DEIDENTIFY_URL = local.urls["deidentify"]
    QUERYGATE_RECORD_URL     = local.urls["record"]
  }

  depends_on = [google_project_service.enabled]
}
