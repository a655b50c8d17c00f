# The audit dataset: one row per session event, written by the record step
# (internal/audit). The schema below must equal audit.Schema(); a Go test
# (internal/audit/terraform_test.go) fails when they differ.
#
# Uses var.project_id and var.region, declared with the provider.

variable "audit_dataset_id" {
  description = "BigQuery dataset holding the audit table."
  type        = string
  default     = "querygate_audit"
}

variable "audit_table_id" {
  description = "The audit table."
  type        = string
  default     = "events"
}

resource "google_bigquery_dataset" "audit" {
  project     = var.project_id
  dataset_id  = var.audit_dataset_id
  location    = var.region
  description = "querygate audit events (docs/audit.md)"

  delete_contents_on_destroy = false

  depends_on = [google_project_service.enabled]
}

resource "google_bigquery_table" "audit_events" {
  project     = var.project_id
  dataset_id  = google_bigquery_dataset.audit.dataset_id
  table_id    = var.audit_table_id
  description = "querygate audit events: one row per session event, hash chained (docs/audit.md)"

  deletion_protection = true

  time_partitioning {
    type  = "DAY"
    field = "event_time"
  }
  clustering = ["principal"]

  schema = jsonencode([
    { name = "event_time", type = "TIMESTAMP", mode = "REQUIRED", description = "When the event happened (microseconds); the partitioning column." },
    { name = "event_time_text", type = "STRING", mode = "REQUIRED", description = "The event time exactly as hashed, RFC 3339 with nanoseconds." },
    { name = "session_id", type = "STRING", mode = "REQUIRED", description = "The session the event belongs to." },
    { name = "seq", type = "INTEGER", mode = "REQUIRED", description = "The event's position in its session, from 1." },
    { name = "event_type", type = "STRING", mode = "REQUIRED", description = "Stable event type code, e.g. policy.decided." },
    { name = "actor", type = "STRING", mode = "NULLABLE", description = "Who or what caused the event." },
    { name = "data", type = "STRING", mode = "NULLABLE", description = "The event's data as canonical JSON. Never holds result cell values." },
    { name = "prev_hash", type = "STRING", mode = "REQUIRED", description = "Hash of the previous event of the session (64 zeros for the first)." },
    { name = "event_hash", type = "STRING", mode = "REQUIRED", description = "SHA-256 of the event chained to prev_hash (session.EventHash)." },
    { name = "principal", type = "STRING", mode = "REQUIRED", description = "The verified requester: email, else issuer|subject. Clustering column." },
    { name = "principal_issuer", type = "STRING", mode = "NULLABLE", description = "Token issuer of the requester." },
    { name = "principal_subject", type = "STRING", mode = "NULLABLE", description = "Token subject of the requester." },
    { name = "conversation_id", type = "STRING", mode = "NULLABLE", description = "The agent's conversation id, as the agent declared it." },
    { name = "agent_name", type = "STRING", mode = "NULLABLE", description = "Agent name, as the agent declared it." },
    { name = "agent_model", type = "STRING", mode = "NULLABLE", description = "Agent model, as the agent declared it." },
    { name = "sql_sha256", type = "STRING", mode = "NULLABLE", description = "SHA-256 of the session's SQL exactly as received." },
    { name = "chain_day", type = "DATE", mode = "REQUIRED", description = "UTC date of event_time (the day its anchor covers)." },
    { name = "chain_seq", type = "INTEGER", mode = "REQUIRED", description = "Rows written before the day anchor: position in the day chain, from 1. 0 on rows written since (no day chain)." },
    { name = "chain_prev", type = "STRING", mode = "REQUIRED", description = "Rows written before the day anchor: row_hash of the previous row of the day chain (64 zeros for the first). Empty on rows written since." },
    { name = "recorded_at", type = "TIMESTAMP", mode = "REQUIRED", description = "When the row was written. Informational: not covered by row_hash, because BigQuery may keep either attempt of a retried insert." },
    { name = "row_hash", type = "STRING", mode = "REQUIRED", description = "SHA-256 over every other column of the row (see audit.RowHash)." },
    { name = "hash_version", type = "INTEGER", mode = "NULLABLE", description = "How event_hash and row_hash were computed: 2 for typed event data; NULL for rows written before (docs/audit.md)." },
  ])
}
