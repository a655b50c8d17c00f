# The audit chain's single writer, by design (finding 8, item 4).
#
# The day chain (chain_day, chain_seq, chain_prev) needs one writer per day,
# which Cloud Run cannot promise: record scales out, max-instances can be
# exceeded briefly, intake writes audit rows too, and insertAll's insertId
# dedupe is best effort. Of the three designs in issue 12 this module takes
# the second: per-session chains only, anchored once a day by one
# scheduled job.
#   - A session's events are already chained (prev_hash, event_hash) and
#     their order is serialized by the session store (one timeline, append
#     only), so any number of writers can append them.
#   - Once a day, one BigQuery scheduled query (below; the only principal
#     that can write the anchors table) computes the previous UTC day's
#     anchor over the distinct (session_id, seq, event_hash) of that day:
#     a duplicate insert changes nothing, a removed or altered event
#     changes the anchor.
#   - MERGE makes a re-run of a day a no-op.
# Rejected: a chain head in a Firestore transaction serializes every audit
# row through one document (about one write per second sustained); the
# Storage Write API's committed streams give exactly-once per stream, but
# each writer needs its own stream, so the chain still forks.
#
# internal/audit follows it: the writer never reads the table and fills no
# day chain (chain_seq 0), and `audit verify` recomputes this anchor
# (audit.AnchorHash) for every anchored day. internal/audit/anchor_test.go
# runs the computation below, read from this file, on the emulator.

resource "google_bigquery_table" "audit_anchors" {
  project     = var.project_id
  dataset_id  = google_bigquery_dataset.audit.dataset_id
  table_id    = "anchors"
  description = "One row per UTC day: the anchor over that day's audit events (terraform/audit_anchor.tf)."

  deletion_protection = true

  schema = jsonencode([
    { name = "anchor_day", type = "DATE", mode = "REQUIRED", description = "UTC day of event_time anchored." },
    { name = "event_count", type = "INTEGER", mode = "REQUIRED", description = "Distinct (session_id, seq, event_hash) that day." },
    { name = "session_count", type = "INTEGER", mode = "REQUIRED", description = "Distinct sessions with an event that day." },
    { name = "anchor_hash", type = "STRING", mode = "REQUIRED", description = "Hex SHA-256 over the day's session hashes, ordered by session_id (see audit_anchor.tf)." },
    { name = "computed_at", type = "TIMESTAMP", mode = "REQUIRED", description = "When the scheduled query computed it." },
  ])
}

# The anchor job's own identity: not a function, no key, used only by the
# scheduled query.
resource "google_service_account" "audit_anchor" {
  project      = var.project_id
  account_id   = "qg-audit-anchor"
  display_name = "querygate audit anchor"
  description  = "Runs querygate's daily audit anchor (BigQuery scheduled query)."

  depends_on = [google_project_service.enabled]
}

locals {
  audit_table_ref   = "`${var.project_id}.${google_bigquery_dataset.audit.dataset_id}.${google_bigquery_table.audit_events.table_id}`"
  audit_anchors_ref = "`${var.project_id}.${google_bigquery_dataset.audit.dataset_id}.${google_bigquery_table.audit_anchors.table_id}`"

  # session hash = SHA-256 of "seq:event_hash" lines ordered by seq;
  # anchor    = SHA-256 of "session_id:session_hash" lines ordered by
  # session_id. Both hex. Verify recomputes exactly this.
  audit_anchor_query = <<-SQL
    DECLARE day DATE DEFAULT DATE_SUB(@run_date, INTERVAL 1 DAY);
    MERGE ${local.audit_anchors_ref} AS a
    USING (
      WITH events AS (
        SELECT DISTINCT session_id, seq, event_hash
        FROM ${local.audit_table_ref}
        WHERE event_time >= TIMESTAMP(day) AND event_time < TIMESTAMP(DATE_ADD(day, INTERVAL 1 DAY))
      ),
      sessions AS (
        SELECT session_id, COUNT(*) AS n,
          TO_HEX(SHA256(STRING_AGG(CONCAT(CAST(seq AS STRING), ':', event_hash), '\n' ORDER BY seq))) AS session_hash
        FROM events
        GROUP BY session_id
      )
      SELECT day AS anchor_day,
        IFNULL(SUM(n), 0) AS event_count,
        COUNT(*) AS session_count,
        TO_HEX(SHA256(IFNULL(STRING_AGG(CONCAT(session_id, ':', session_hash), '\n' ORDER BY session_id), ''))) AS anchor_hash,
        CURRENT_TIMESTAMP() AS computed_at
      FROM sessions
    ) AS d
    ON a.anchor_day = d.anchor_day
    WHEN NOT MATCHED THEN
      INSERT (anchor_day, event_count, session_count, anchor_hash, computed_at)
      VALUES (d.anchor_day, d.event_count, d.session_count, d.anchor_hash, d.computed_at)
  SQL
}

resource "google_bigquery_data_transfer_config" "audit_anchor" {
  project              = var.project_id
  location             = var.region
  display_name         = "querygate audit anchor"
  data_source_id       = "scheduled_query"
  schedule             = var.audit_anchor_schedule
  service_account_name = google_service_account.audit_anchor.email

  params = {
    query = local.audit_anchor_query
  }

  depends_on = [
    google_project_service.enabled,
    google_bigquery_table_iam_member.audit_anchor_reads_events,
    google_bigquery_table_iam_member.audit_anchor_writes_anchors,
    google_project_iam_member.audit_anchor_job_user,
    google_service_account_iam_member.audit_anchor_dts_token,
  ]
}

# The scheduled query is a query job in this project.
resource "google_project_iam_member" "audit_anchor_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.audit_anchor.email}"
}

# It reads the audit table...
resource "google_bigquery_table_iam_member" "audit_anchor_reads_events" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.audit.dataset_id
  table_id   = google_bigquery_table.audit_events.table_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.audit_anchor.email}"
}

# ...and is the only writer of the anchors table (MERGE: getData and
# updateData on it, nothing else).
resource "google_bigquery_table_iam_member" "audit_anchor_writes_anchors" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.audit.dataset_id
  table_id   = google_bigquery_table.audit_anchors.table_id
  role       = google_project_iam_custom_role.audit_appender.id
  member     = "serviceAccount:${google_service_account.audit_anchor.email}"
}

# The Data Transfer Service agent mints the anchor account's tokens to run
# the query as it (the provider's scheduled-query example grants this
# project-wide; here it is on this one account only).
resource "google_service_account_iam_member" "audit_anchor_dts_token" {
  service_account_id = google_service_account.audit_anchor.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com"
}
