# Audit chain heads in a locked log bucket (finding 9). The audit writer
# logs each chain head it extends ("audit chain head", internal/audit); a
# head the table no longer reaches shows that rows were removed. In the
# _Default bucket those entries live 30 days and anyone with
# logging.buckets.update can shorten that; a locked bucket can be neither
# deleted nor given a shorter retention, by anyone, for its retention.
#
# The entries also stay in _Default (this sink adds a copy). A sink whose
# destination is a log bucket of its own project needs no writer identity
# and no grant (Cloud Logging's LogSink.writer_identity).

resource "google_logging_project_bucket_config" "audit" {
  project        = var.project_id
  location       = var.region
  bucket_id      = "querygate-audit"
  description    = "querygate audit chain heads and daily anchors; locked (terraform/logging.tf)."
  retention_days = var.audit_log_retention_days
  locked         = var.audit_log_bucket_locked

  depends_on = [google_project_service.enabled]
}

resource "google_logging_project_sink" "audit_chain_heads" {
  project     = var.project_id
  name        = "querygate-audit-chain-heads"
  description = "Copies querygate's audit chain heads to the locked querygate-audit bucket."
  destination = "logging.googleapis.com/${google_logging_project_bucket_config.audit.id}"
  # Only the two audit writers' services, and only the head entries.
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(\"${var.name_prefix}-record\" OR \"${var.name_prefix}-intake\")",
    "jsonPayload.message=\"audit chain head\"",
  ])
}
