output "intake_url" {
  description = "Where agents POST /v1/queries (run.app URL of intake)."
  value       = google_cloud_run_v2_service.fn["intake"].uri
}

output "public_url" {
  description = "Base URL in session links (QUERYGATE_PUBLIC_URL)."
  value       = local.public_url
}

output "agent_audience" {
  description = "Audience agents must request for their ID tokens (QUERYGATE_AUDIENCE)."
  value       = local.agent_audience
}

output "approval_url" {
  description = "Base URL of approval links (PUBLIC_BASE_URL)."
  value       = local.approval_public_url
}

output "function_urls" {
  description = "Deterministic run.app URL of every function, as the workflow calls them."
  value       = local.urls
}

output "service_accounts" {
  description = "Email of each function's and the workflow's service account."
  value       = { for k, sa in google_service_account.sa : k => sa.email }
}

output "workflow" {
  description = "Full name of the workflow."
  value       = google_workflows_workflow.query_session.id
}

output "image_repository" {
  description = "Artifact Registry path images are pushed to."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "smtp_password_secret" {
  description = "Secret to add the SMTP password to (gcloud secrets versions add)."
  value       = google_secret_manager_secret.smtp_password.id
}

output "approval_link_key_secret" {
  description = "Secret to add the approval link HMAC key to."
  value       = google_secret_manager_secret.approval_link_key.id
}

output "service_account_grants" {
  description = "Every grant to each querygate identity, as \"SCOPE ROLE\" (docs/deploy.md, Roles)."
  value       = local.service_account_grants
}
