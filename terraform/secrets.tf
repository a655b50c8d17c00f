# Secrets. Terraform creates the secrets and who may read them, never their
# values: values in Terraform state would be readable by anyone who can read
# the state. docs/deploy.md adds the first versions with gcloud.

resource "google_secret_manager_secret" "smtp_password" {
  project   = var.project_id
  secret_id = var.smtp_password_secret_id

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

# The HMAC key that signs approval links. Each version is one key; the
# version number is the key id, so links signed with an older version keep
# verifying until that version is disabled.
resource "google_secret_manager_secret" "approval_link_key" {
  project   = var.project_id
  secret_id = var.approval_key_secret_id

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

locals {
  secret_bindings = [
    # Notify logs in to the SMTP relay to mail the approvers.
    { sa = "notify", secret = "smtp_password" },
    # Notify signs the Approve and Deny links it mails.
    { sa = "notify", secret = "approval_link_key" },
    # Approval verifies a link's signature before it shows or decides.
    { sa = "approval", secret = "approval_link_key" },
  ]
  secret_ids = {
    smtp_password     = google_secret_manager_secret.smtp_password.secret_id
    approval_link_key = google_secret_manager_secret.approval_link_key.secret_id
  }
}

resource "google_secret_manager_secret_iam_member" "sa" {
  for_each = { for b in local.secret_bindings : "${b.sa} ${b.secret}" => b }

  project   = var.project_id
  secret_id = local.secret_ids[each.value.secret]
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.sa[each.value.sa].email}"
}

# The policy and masking config. Neither is secret, but a Secret Manager
# volume is how Cloud Run mounts a file that changes without a new image;
# each apply with a changed file adds a version, and new revisions read
# "latest".
locals {
  # Both are required variables with a validation (variables.tf), so this
  # map always has both keys: no apply can destroy the secrets or their
  # mounts by leaving a variable out.
  config_files = {
    policy  = var.policy_file
    masking = var.masking_file
  }
  # The functions that load the policy and the masking config at start
  # (functions/deps.go: the steps, and intake for re-identification).
  config_readers = ["intake", "policy", "execute", "deidentify", "record"]
}

resource "google_secret_manager_secret" "config" {
  for_each = local.config_files

  project   = var.project_id
  secret_id = "querygate-${each.key}"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "config" {
  for_each = local.config_files

  secret      = google_secret_manager_secret.config[each.key].id
  secret_data = file(each.value)
}

# Cloud Run reads a mounted secret as the service's own identity.
resource "google_secret_manager_secret_iam_member" "config" {
  for_each = { for pair in setproduct(keys(local.config_files), local.config_readers) : "${pair[1]} ${pair[0]}" => { secret = pair[0], sa = pair[1] } }

  project   = var.project_id
  secret_id = google_secret_manager_secret.config[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.sa[each.value.sa].email}"
}
