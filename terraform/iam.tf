# One service account per function and one for the workflow, each with only
# the roles its code path needs. Every grant says why. A Go test
# (testing/terraform) fails on owner, editor, viewer or any admin role, and
# on a public invoker of a step service.

resource "google_service_account" "sa" {
  for_each = toset(concat(local.function_names, ["workflow"]))

  project      = var.project_id
  account_id   = "qg-${each.key}"
  display_name = "querygate ${each.key}"
  description  = "Runs querygate's ${each.key} ${each.key == "workflow" ? "workflow (query_session.yaml)" : "Cloud Run function"}."
}

locals {
  # Project-level grants, as data so that the roles are reviewable in one
  # place (and checked by testing/terraform).
  project_bindings = [
    # Session store (Firestore): intake creates sessions and serves the
    # sessions API; every step reads the session and writes its result;
    # notify and approval keep the approval state there.
    { sa = "intake", role = "roles/datastore.user" },
    { sa = "sessions", role = "roles/datastore.user" },
    { sa = "policy", role = "roles/datastore.user" },
    { sa = "notify", role = "roles/datastore.user" },
    { sa = "execute", role = "roles/datastore.user" },
    { sa = "deidentify", role = "roles/datastore.user" },
    { sa = "record", role = "roles/datastore.user" },
    { sa = "approval", role = "roles/datastore.user" },
    # Policy dry-runs the query for its byte estimate: a dry run is a job
    # (bigquery.jobs.create) in this project.
    { sa = "policy", role = "roles/bigquery.jobUser" },
    # Execute runs the query job, billed to this project.
    { sa = "execute", role = "roles/bigquery.jobUser" },
    # Record reads the audit hash chain's head with a query before it
    # appends (internal/audit/writer.go).
    { sa = "record", role = "roles/bigquery.jobUser" },
    # Intake writes the re-identification audit event (functions/intake.go)
    # and the audit writer reads the chain head with a query first.
    { sa = "intake", role = "roles/bigquery.jobUser" },
    # Deidentify calls Cloud DLP DeidentifyContent (dlp.content.deidentify).
    { sa = "deidentify", role = "roles/dlp.user" },
    # Intake serves POST /v1/sessions/{id}/reidentify through Cloud DLP
    # ReidentifyContent (dlp.content.reidentify).
    { sa = "intake", role = "roles/dlp.user" },
    # The workflow writes its sys.log lines to Cloud Logging.
    { sa = "workflow", role = "roles/logging.logWriter" },
  ]
}

resource "google_project_iam_member" "sa" {
  for_each = { for b in local.project_bindings : "${b.sa} ${b.role}" => b }

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.sa[each.value.sa].email}"
}

# Deidentify reads execute's finished job (jobs.get on a job another account
# created). roles/bigquery.resourceViewer would also grant listing every job
# and reservation; this role holds only the one permission.
resource "google_project_iam_custom_role" "job_reader" {
  project     = var.project_id
  role_id     = "querygateJobReader"
  title       = "querygate job reader"
  description = "Read one BigQuery job's metadata by id (the deidentify step)."
  permissions = ["bigquery.jobs.get"]
}

resource "google_project_iam_member" "deidentify_job_reader" {
  project = var.project_id
  role    = google_project_iam_custom_role.job_reader.id
  member  = "serviceAccount:${google_service_account.sa["deidentify"].email}"
}

# Intake starts one workflow execution per session and reads its state
# (workflows.executions.create, .get). Not roles/workflows.invoker: that
# role also holds workflows.callbacks.send, which would let intake deliver an
# approval decision itself. Project-wide because the provider has no
# per-workflow IAM resource; the project should hold only querygate's
# workflow.
resource "google_project_iam_custom_role" "execution_starter" {
  project     = var.project_id
  role_id     = "querygateExecutionStarter"
  title       = "querygate execution starter"
  description = "Start a workflow execution and read its state (the intake function)."
  permissions = ["workflows.executions.create", "workflows.executions.get"]
}

resource "google_project_iam_member" "intake_execution_starter" {
  project = var.project_id
  role    = google_project_iam_custom_role.execution_starter.id
  member  = "serviceAccount:${google_service_account.sa["intake"].email}"
}

# Approval delivers the decision to the execution's callback endpoint
# (workflows.callbacks.send) and nothing else: roles/workflows.invoker would
# also let it start executions.
resource "google_project_iam_custom_role" "callback_sender" {
  project     = var.project_id
  role_id     = "querygateCallbackSender"
  title       = "querygate callback sender"
  description = "Send a workflow execution callback (the approval function)."
  permissions = ["workflows.callbacks.send"]
}

resource "google_project_iam_member" "approval_callback_sender" {
  project = var.project_id
  role    = google_project_iam_custom_role.callback_sender.id
  member  = "serviceAccount:${google_service_account.sa["approval"].email}"
}

# Policy resolves table schemas (catalog) for ZetaSQL analysis: metadata
# only, no row data, and only on the datasets agents may query. A table
# outside them is unknown to policy, which denies (fails closed).
resource "google_bigquery_dataset_iam_member" "policy_metadata" {
  for_each = toset(var.allowed_datasets)

  project    = local.data_project
  dataset_id = each.key
  role       = "roles/bigquery.metadataViewer"
  member     = "serviceAccount:${google_service_account.sa["policy"].email}"
}

# Execute is the only identity that reads agents' data, and only in the
# allowed datasets.
resource "google_bigquery_dataset_iam_member" "execute_read" {
  for_each = toset(var.allowed_datasets)

  project    = local.data_project
  dataset_id = each.key
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.sa["execute"].email}"
}

# Record appends audit rows (tables.updateData) and reads the chain head
# (tables.getData) in the audit dataset only; intake does the same for the
# re-identification event.
resource "google_bigquery_dataset_iam_member" "audit_writer" {
  for_each = toset(["record", "intake"])

  project    = var.project_id
  dataset_id = google_bigquery_dataset.audit.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.sa[each.key].email}"
}

# When the masking config's crypto keys are KMS-wrapped, DLP unwraps them
# with the caller's identity: deidentify (masking) and intake
# (re-identification) need decrypt on that one key.
resource "google_kms_crypto_key_iam_member" "masking_key" {
  for_each = toset(var.masking_kms_key == "" ? [] : ["deidentify", "intake"])

  crypto_key_id = var.masking_kms_key
  role          = "roles/cloudkms.cryptoKeyDecrypter"
  member        = "serviceAccount:${google_service_account.sa[each.key].email}"
}

# Query results. BigQuery writes a job's result to an anonymous dataset
# that only the job's creator can read, so deidentify (another account)
# cannot read execute's result there. This dataset is where execute's jobs
# must write their destination tables for deidentify to read them; tables
# expire after a day. NOTE: internal/warehouse does not set a destination
# yet (docs/deploy.md, "Known gaps").
resource "google_bigquery_dataset" "results" {
  project     = var.project_id
  dataset_id  = "querygate_results"
  location    = var.data_location != "" ? var.data_location : var.region
  description = "querygate query results between the execute and deidentify steps; raw rows, kept one day."

  default_table_expiration_ms = 86400000
  delete_contents_on_destroy  = true
}

# Execute creates and writes the destination tables.
resource "google_bigquery_dataset_iam_member" "execute_results" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.results.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.sa["execute"].email}"
}

# Deidentify reads them (tables.getData) to mask the rows.
resource "google_bigquery_dataset_iam_member" "deidentify_results" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.results.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.sa["deidentify"].email}"
}

# Only the workflow may call the steps (the functions also check the
# caller's email against QUERYGATE_WORKFLOW_SA).
resource "google_cloud_run_v2_service_iam_member" "workflow_invokes_steps" {
  for_each = toset(local.step_functions)

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.sa["workflow"].email}"
}

# Intake and approval authenticate every request themselves (ID tokens from
# several issuers; signed single-use links plus CSRF, optionally an IAP
# assertion), so Cloud Run lets everyone reach them.
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = toset(local.public_functions)

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Approvers pass IAP on the load balancer in front of approval. Project-wide
# because the backend service is created outside this module.
resource "google_iap_web_iam_member" "approvers" {
  count = var.approvers_group == "" ? 0 : 1

  project = var.project_id
  role    = "roles/iap.httpsResourceAccessor"
  member  = "group:${var.approvers_group}"
}
