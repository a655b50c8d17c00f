# Plans the module with an example tfvars, given on the command line (run
# from terraform/, as scripts/test.sh does, once per file):
#   terraform test -filter=tests/examples.tftest.hcl -var-file=examples/dev.tfvars
#   terraform test -filter=tests/examples.tftest.hcl -var-file=examples/prod.tfvars
# The asserts hold for any tfvars: they compare the plan with var.*.

mock_provider "google" {
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
}

run "example_plans" {
  command = plan

  assert {
    # The eight functions of the session flow, plus Reconcile (reconcile.tf).
    condition     = length(google_cloud_run_v2_service.fn) == 9
    error_message = "Every function needs a service."
  }

  assert {
    condition     = alltrue([for k, s in google_cloud_run_v2_service.fn : s.template[0].containers[0].image == var.image && s.template[0].scaling[0].max_instance_count == var.scaling[k].max])
    error_message = "Every service runs var.image with var.scaling."
  }

  assert {
    condition     = alltrue([for k, s in google_cloud_run_v2_service.fn : one([for e in s.template[0].containers[0].env : e.value if e.name == "QUERYGATE_DATA_PROJECT"]) == (var.data_project_id != "" ? var.data_project_id : var.project_id)])
    error_message = "QUERYGATE_DATA_PROJECT must be data_project_id, or project_id when that is empty."
  }

  assert {
    condition     = length(google_bigquery_dataset_iam_member.execute_read) == length(var.allowed_datasets) && alltrue([for k, m in google_bigquery_dataset_iam_member.execute_read : m.project == (var.data_project_id != "" ? var.data_project_id : var.project_id)])
    error_message = "execute reads each allowed dataset, in the data project."
  }

  assert {
    condition     = google_cloud_run_v2_service.fn["approval"].ingress == var.approval_ingress
    error_message = "approval's ingress is var.approval_ingress."
  }

  assert {
    condition     = length(google_iap_web_iam_member.approvers) == (var.approvers_group == "" ? 0 : 1)
    error_message = "IAP access is granted exactly when approvers_group is set."
  }

  assert {
    condition     = length(google_data_loss_prevention_deidentify_template.cells) == (var.dlp_templates ? 1 : 0)
    error_message = "The DLP templates exist exactly when dlp_templates is true."
  }

  assert {
    condition     = google_logging_project_bucket_config.audit.locked == var.audit_log_bucket_locked && google_logging_project_bucket_config.audit.retention_days == var.audit_log_retention_days
    error_message = "The audit log bucket follows audit_log_bucket_locked and audit_log_retention_days."
  }

  assert {
    condition     = one([for e in google_cloud_run_v2_service.fn["notify"].template[0].containers[0].env : e.value if e.name == "QUERYGATE_GROUPS_SOURCE"]) == "cloudidentity"
    error_message = "notify always resolves approvers through Cloud Identity."
  }

  assert {
    condition     = jsonencode(sort(keys(google_secret_manager_secret_version.config))) == jsonencode(["masking", "policy"])
    error_message = "Both config files become secret versions."
  }
}
