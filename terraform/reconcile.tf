# The reconciler (internal/reconcile, functions/reconcile.go): a session
# whose workflow execution ended before its record step could end it, or
# whose execution is gone or was never started, stays `running` in
# Firestore. Cloud Scheduler calls the Reconcile function hourly; it ends
# such sessions `failed` with a reason through the record step (audit rows
# once per event). The local gateway runs the same code at start and hourly.
#
# The service is an entry of local.functions (services.tf) and its account
# qg-reconcile one of google_service_account.sa; what is specific to it is
# here. Requests from Cloud Scheduler in the same project to the run.app URL
# count as internal, so the service keeps internal ingress.

locals {
  # Hourly, as the local gateway; a run that finds a pass in progress
  # answers 200 and leaves the work to it.
  reconcile_schedule = "17 * * * *"

  # Called by Cloud Scheduler only (its account holds run.invoker on
  # these services and nothing else).
  scheduled_functions = ["reconcile"]
}

# Cloud Scheduler's identity: it holds run.invoker on the Reconcile service
# and nothing else, and Reconcile accepts no other caller
# (QUERYGATE_SCHEDULER_SA).
resource "google_service_account" "reconcile_scheduler" {
  project      = var.project_id
  account_id   = "qg-reconcile-scheduler"
  display_name = "querygate reconcile scheduler"
  description  = "Cloud Scheduler's OIDC identity for calling querygate's Reconcile function."

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_reconcile" {
  for_each = toset(local.scheduled_functions)

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.reconcile_scheduler.email}"
}

resource "google_cloud_scheduler_job" "reconcile" {
  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-reconcile"
  description      = "Ends querygate sessions their workflow execution left running (functions/reconcile.go)."
  schedule         = local.reconcile_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "320s"

  retry_config {
    retry_count          = 2
    min_backoff_duration = "60s"
  }

  http_target {
    http_method = "POST"
    uri         = local.urls["reconcile"]

    # The audience is the service URL, as the function's verifier expects
    # (QUERYGATE_SELF_URL).
    oidc_token {
      service_account_email = google_service_account.reconcile_scheduler.email
      audience              = local.urls["reconcile"]
    }
  }

  depends_on = [google_project_service.enabled, google_cloud_run_v2_service_iam_member.scheduler_invokes_reconcile]
}

# The reconciler reruns the record step: the session store, the audit
# writer's stored-hash query and its appends, and the result cleanup, as
# qg-record; plus reading a workflow execution's state.
resource "google_project_iam_member" "reconcile_datastore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.sa["reconcile"].email}"
}

resource "google_project_iam_member" "reconcile_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.sa["reconcile"].email}"
}

# workflows.executions.get only: not the starter role (it could start
# executions), not roles/workflows.viewer (it lists every workflow).
resource "google_project_iam_custom_role" "execution_reader" {
  project     = var.project_id
  role_id     = "querygateExecutionReader"
  title       = "querygate execution reader"
  description = "Read a workflow execution's state (the reconciler)."
  permissions = ["workflows.executions.get"]

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "reconcile_execution_reader" {
  project = var.project_id
  role    = google_project_iam_custom_role.execution_reader.id
  member  = "serviceAccount:${google_service_account.sa["reconcile"].email}"
}

resource "google_bigquery_table_iam_member" "reconcile_audit_writer" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.audit.dataset_id
  table_id   = google_bigquery_table.audit_events.table_id
  role       = google_project_iam_custom_role.audit_appender.id
  member     = "serviceAccount:${google_service_account.sa["reconcile"].email}"
}

resource "google_bigquery_dataset_iam_member" "reconcile_results" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.results.dataset_id
  role       = google_project_iam_custom_role.results_cleaner.id
  member     = "serviceAccount:${google_service_account.sa["reconcile"].email}"
}
