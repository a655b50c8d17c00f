# The approval sweep (issue 15): reminders at half the approval TTL and the
# review mails of break-glass runs (internal/approval.Service.Sweep). A
# Cloud Scheduler job posts {"sweep": true} to the notify function every two
# minutes. It authenticates as the workflow's service account, the one
# identity notify accepts (QUERYGATE_WORKFLOW_SA), with the audience the
# workflow uses; Cloud Scheduler in the same project counts as internal
# traffic, so notify keeps its internal-only ingress. Each mail is claimed
# in the approval store before it is sent, so an overlapping or retried run
# sends nothing twice.
resource "google_cloud_scheduler_job" "approval_sweep" {
  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-approval-sweep"
  description      = "querygate: approval reminders at half the TTL and break-glass review mails"
  schedule         = "*/2 * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "120s"

  retry_config {
    # The next run, two minutes later, is the retry.
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = local.urls["notify"]
    body        = base64encode(jsonencode({ sweep = true }))
    headers     = { "Content-Type" = "application/json" }

    oidc_token {
      service_account_email = google_service_account.sa["workflow"].email
      audience              = local.urls["notify"]
    }
  }

  depends_on = [google_project_service.enabled]
}
