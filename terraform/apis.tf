# The APIs querygate calls. disable_on_destroy is false: turning an API off
# on destroy would break anything else in the project that uses it.
#
# Every resource that calls one of these APIs at apply time depends_on
# google_project_service.enabled, so that a first apply does not race the
# enablement (tests/plan.tftest.hcl checks it). Two APIs cannot be enabled
# by Terraform before Terraform itself needs them: serviceusage (to enable
# the others) and cloudresourcemanager (read by data.google_project at plan
# time). docs/deploy.md enables both once with gcloud; listing
# cloudresourcemanager here keeps it on.
locals {
  apis = [
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "bigquerydatatransfer.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudidentity.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com", # reconcile.tf
    "dlp.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iap.googleapis.com",
    "logging.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "workflowexecutions.googleapis.com",
    "workflows.googleapis.com",
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.apis)

  project            = var.project_id
  service            = each.key
  disable_on_destroy = false
}
