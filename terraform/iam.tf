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

  depends_on = [google_project_service.enabled]
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
    # A retried record step reads which of the session's audit rows the
    # table already holds, with a query (audit.Writer.WriteRemaining), so
    # that a crash after the write leaves one row per event. Intake, the
    # other audit writer, only appends (WriteSession reads nothing) and has
    # no jobUser: it runs no query job.
    { sa = "record", role = "roles/bigquery.jobUser" },
    # Deidentify calls Cloud DLP DeidentifyContent (dlp.content.deidentify).
    { sa = "deidentify", role = "roles/dlp.user" },
    # Policy's profiler runs each sampled column through Cloud DLP
    # InspectContent (dlp.content.inspect) to classify a table no policy
    # file lists (issue 11).
    { sa = "policy", role = "roles/dlp.user" },
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

  depends_on = [google_project_service.enabled]
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

  depends_on = [google_project_service.enabled]
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

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "approval_callback_sender" {
  project = var.project_id
  role    = google_project_iam_custom_role.callback_sender.id
  member  = "serviceAccount:${google_service_account.sa["approval"].email}"
}

# Policy classifies and estimates every table a query reaches, on the
# datasets agents may query only (a table outside them is unknown to
# policy, which denies: fails closed):
#   - bigquery.tables.get: the schema and policy tags for ZetaSQL analysis
#     (internal/catalog) and lastModifiedTime for the profile cache;
#   - bigquery.tables.list: a wildcard table's members (warehouse.ListTables);
#   - bigquery.tables.getData: the dry run (BigQuery checks read access on
#     every table a query references, even for a dry run) and the
#     profiler's sample through tabledata.list (at most 1,000 rows or 1 MB);
#   - bigquery.routines.get: a dry run of a query calling a persistent UDF.
# Not roles/bigquery.dataViewer (which adds tables.export, snapshots, IAM
# reads and models) nor metadataViewer (no getData, so every dry run of an
# unlisted table failed and denied: issue 12 item 7, issue 11). The role
# lives in the data project: a project's custom role can only be granted on
# that project's resources. docs/threat-model.md ("IAM: policy reads
# samples") says what this grant means.
resource "google_project_iam_custom_role" "table_reader" {
  project     = local.data_project
  role_id     = "querygateTableReader"
  title       = "querygate table reader"
  description = "Schema, dry run and a bounded sample of the allowed datasets' tables (the policy function)."
  permissions = ["bigquery.routines.get", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.list"]

  depends_on = [google_project_service.enabled]
}

resource "google_bigquery_dataset_iam_member" "policy_read" {
  for_each = toset(var.allowed_datasets)

  project    = local.data_project
  dataset_id = each.key
  role       = google_project_iam_custom_role.table_reader.id
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

# Record appends audit rows and reads the chain head; intake does the same
# for the re-identification event. Not roles/bigquery.dataEditor on the
# dataset (finding 9): that also holds tables.delete, tables.update (which
# could set an expiration that drops the table) and tables.create. The
# custom role holds only what insertAll and the head query need, on the
# one table. BigQuery has no insert-only permission: tables.updateData
# also authorises DML, so a writer that can create query jobs could still
# UPDATE or DELETE rows. What catches that is the chain, re-anchored daily
# by a job no writer controls (audit_anchor.tf), with the chain heads in a
# locked log bucket (logging.tf). docs/deploy.md says what remains.
resource "google_project_iam_custom_role" "audit_appender" {
  project     = var.project_id
  role_id     = "querygateAuditAppender"
  title       = "querygate audit appender"
  description = "Append rows to the audit table and read it (record, intake); no delete, no table update."
  permissions = ["bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.updateData"]

  depends_on = [google_project_service.enabled]
}

resource "google_bigquery_table_iam_member" "audit_writer" {
  for_each = toset(["record", "intake"])

  project    = var.project_id
  dataset_id = google_bigquery_dataset.audit.dataset_id
  table_id   = google_bigquery_table.audit_events.table_id
  role       = google_project_iam_custom_role.audit_appender.id
  member     = "serviceAccount:${google_service_account.sa[each.key].email}"
}

# The functions whose DLP requests name the templates (dlp.tf) read them:
# deidentify (DeidentifyContent), policy and intake (InspectContent of the
# profiler). DLP templates have no IAM of their own, so the grant is
# project-wide, but it reads templates only. None with dlp_templates = false.
resource "google_project_iam_custom_role" "dlp_template_reader" {
  project     = var.project_id
  role_id     = "querygateDlpTemplateReader"
  title       = "querygate DLP template reader"
  description = "Read DLP inspect and de-identify templates (policy, deidentify, intake)."
  permissions = ["dlp.deidentifyTemplates.get", "dlp.inspectTemplates.get"]

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "dlp_template_reader" {
  for_each = toset(local.dlp_functions)

  project = var.project_id
  role    = google_project_iam_custom_role.dlp_template_reader.id
  member  = "serviceAccount:${google_service_account.sa[each.key].email}"
}

# DLP unwraps the deterministic-encryption key with the caller's identity:
# deidentify (masking) and intake (re-identification) need decrypt on that
# one key (kms.tf creates it unless masking_kms_key names another).
resource "google_kms_crypto_key_iam_member" "masking_key" {
  for_each = toset(["deidentify", "intake"])

  crypto_key_id = local.masking_kms_key
  role          = "roles/cloudkms.cryptoKeyDecrypter"
  member        = "serviceAccount:${google_service_account.sa[each.key].email}"
}

# Query results. BigQuery writes a job's result to an anonymous dataset
# that only the job's creator can read, so deidentify (another account)
# cannot read execute's result there. This dataset is where execute's jobs
# must write their destination tables for deidentify to read them; tables
# expire after a day, and the record step deletes each once the session has
# ended (warehouse.DeleteResult).
resource "google_bigquery_dataset" "results" {
  project     = var.project_id
  dataset_id  = "querygate_results"
  location    = var.data_location != "" ? var.data_location : var.region
  description = "querygate query results between the execute and deidentify steps; raw rows, kept one day."

  default_table_expiration_ms = 86400000
  delete_contents_on_destroy  = true

  depends_on = [google_project_service.enabled]
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

# Record deletes each session's result table once the session has ended
# (warehouse.DeleteResult), so raw rows do not wait a day for the table
# expiry. Delete and get on this dataset only; nothing else.
resource "google_project_iam_custom_role" "results_cleaner" {
  project     = var.project_id
  role_id     = "querygateResultsCleaner"
  title       = "querygate results cleaner"
  description = "Delete a session's result table in the results dataset (the record step)."
  permissions = ["bigquery.tables.delete", "bigquery.tables.get"]

  depends_on = [google_project_service.enabled]
}

resource "google_bigquery_dataset_iam_member" "record_results" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.results.dataset_id
  role       = google_project_iam_custom_role.results_cleaner.id
  member     = "serviceAccount:${google_service_account.sa["record"].email}"
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

  depends_on = [google_project_service.enabled]
}

# Every grant to a querygate identity, per account, as "SCOPE ROLE". Built
# from the grant resources' instance keys, so it is known at plan time: the
# output shows a reviewer what each identity may do, tests/plan.tftest.hcl
# compares it with docs/deploy.md's Roles table, and testing/terraform fails
# when an IAM resource granting to a service account is missing here.
locals {
  grant_list = concat(
    # reconcile.tf
    ["reconcile|project ${google_project_iam_member.reconcile_datastore.role}"],
    ["reconcile|project ${google_project_iam_member.reconcile_job_user.role}"],
    [for m in [google_project_iam_member.reconcile_execution_reader] : "reconcile|project custom:${google_project_iam_custom_role.execution_reader.role_id}"],
    [for m in [google_bigquery_table_iam_member.reconcile_audit_writer] : "reconcile|table:events custom:${google_project_iam_custom_role.audit_appender.role_id}"],
    [for m in [google_bigquery_dataset_iam_member.reconcile_results] : "reconcile|dataset:results custom:${google_project_iam_custom_role.results_cleaner.role_id}"],
    [for k, m in google_cloud_run_v2_service_iam_member.scheduler_invokes_reconcile : "reconcile-scheduler|service:${k} ${m.role}"],
    [for k in keys(google_project_iam_member.sa) : "${split(" ", k)[0]}|project ${split(" ", k)[1]}"],
    # A custom role's id is known only after apply; its role_id names it.
    [for m in [google_project_iam_member.deidentify_job_reader] : "deidentify|project custom:${google_project_iam_custom_role.job_reader.role_id}"],
    [for m in [google_project_iam_member.intake_execution_starter] : "intake|project custom:${google_project_iam_custom_role.execution_starter.role_id}"],
    [for m in [google_project_iam_member.approval_callback_sender] : "approval|project custom:${google_project_iam_custom_role.callback_sender.role_id}"],
    [for k in keys(google_project_iam_member.dlp_template_reader) : "${k}|project custom:${google_project_iam_custom_role.dlp_template_reader.role_id}"],
    [for k in keys(google_bigquery_dataset_iam_member.policy_read) : "policy|dataset:allowed custom:${google_project_iam_custom_role.table_reader.role_id}"],
    [for k, m in google_bigquery_dataset_iam_member.execute_read : "execute|dataset:allowed ${m.role}"],
    ["execute|dataset:results ${google_bigquery_dataset_iam_member.execute_results.role}"],
    ["deidentify|dataset:results ${google_bigquery_dataset_iam_member.deidentify_results.role}"],
    [for m in [google_bigquery_dataset_iam_member.record_results] : "record|dataset:results custom:${google_project_iam_custom_role.results_cleaner.role_id}"],
    [for k in keys(google_bigquery_table_iam_member.audit_writer) : "${k}|table:events custom:${google_project_iam_custom_role.audit_appender.role_id}"],
    [for k, m in google_kms_crypto_key_iam_member.masking_key : "${k}|key:masking ${m.role}"],
    [for k, m in google_secret_manager_secret_iam_member.sa : "${split(" ", k)[0]}|secret:${split(" ", k)[1]} ${m.role}"],
    [for k, m in google_secret_manager_secret_iam_member.config : "${split(" ", k)[0]}|secret:${split(" ", k)[1]} ${m.role}"],
    [for k, m in google_cloud_run_v2_service_iam_member.workflow_invokes_steps : "workflow|service:${k} ${m.role}"],
    ["audit-anchor|project ${google_project_iam_member.audit_anchor_job_user.role}"],
    ["audit-anchor|table:events ${google_bigquery_table_iam_member.audit_anchor_reads_events.role}"],
    [for m in [google_bigquery_table_iam_member.audit_anchor_writes_anchors] : "audit-anchor|table:anchors custom:${google_project_iam_custom_role.audit_appender.role_id}"],
  )
  service_account_grants = {
    for sa in sort(distinct([for g in local.grant_list : split("|", g)[0]])) :
    sa => sort([for g in local.grant_list : split("|", g)[1] if split("|", g)[0] == sa])
  }
}
