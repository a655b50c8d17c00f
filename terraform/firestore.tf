# The session store: one Firestore (native mode) database. Layout and the
# queries these indexes serve are in internal/session/firestore.go; a Go test
# (internal/session/firestore_terraform_test.go) checks this file against
# them.
#
# Uses var.project_id and var.region, declared with the provider.

variable "firestore_database" {
  description = "Firestore database holding sessions; \"(default)\" or a named database."
  type        = string
  default     = "(default)"
}

resource "google_firestore_database" "sessions" {
  project                           = var.project_id
  name                              = var.firestore_database
  location_id                       = var.region
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.enabled]
}

# List(Reader): readers array-contains, ordered by sort_key descending (the
# page token is a sort_key < filter on the same field).
resource "google_firestore_index" "sessions_by_reader" {
  project    = var.project_id
  database   = google_firestore_database.sessions.name
  collection = "sessions"

  fields {
    field_path   = "readers"
    array_config = "CONTAINS"
  }
  fields {
    field_path = "sort_key"
    order      = "DESCENDING"
  }
}

# List(ConversationID): replay --conversation and the sessions API.
resource "google_firestore_index" "sessions_by_conversation" {
  project    = var.project_id
  database   = google_firestore_database.sessions.name
  collection = "sessions"

  fields {
    field_path = "conversation_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "sort_key"
    order      = "DESCENDING"
  }
}

# List(Reader, ConversationID).
resource "google_firestore_index" "sessions_by_reader_conversation" {
  project    = var.project_id
  database   = google_firestore_database.sessions.name
  collection = "sessions"

  fields {
    field_path   = "readers"
    array_config = "CONTAINS"
  }
  fields {
    field_path = "conversation_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "sort_key"
    order      = "DESCENDING"
  }
}

# Retention: Firestore's TTL deletes each document some time (typically
# within a day) after its expire_at. The record step sets it from
# QUERYGATE_RETENTION on every collection group of a session, so a
# session's events, pages and version markers go with it; the approval
# store sets it on approval_requests to the link's expiry plus a grace
# (internal/approval/firestore.go), and on approval_marks (the reminder and
# break-glass review marks under each request) to the same time; the limit
# counters (internal/session/counters_firestore.go) set it to the end of their
# window plus a grace, and their version markers live in "versions". Every
# collection that writes expire_at is listed here (tests/plan.tftest.hcl and
# internal/session check it; the literal list is what internal/session's test reads).
resource "google_firestore_field" "expire_at" {
  for_each = toset(["sessions", "events", "pages", "versions", "approval_requests", "approval_marks", "limit_counters", "limit_charges"])

  project    = var.project_id
  database   = google_firestore_database.sessions.name
  collection = each.key
  field      = "expire_at"

  ttl_config {}
  # No single-field index on a TTL timestamp: nothing queries it, and a
  # monotonically increasing indexed field limits write throughput.
  index_config {}
}

# The JSON and row blobs are never queried; not indexing them saves storage
# and keeps large values out of index entries.
resource "google_firestore_field" "blob" {
  for_each = {
    sessions_doc = { collection = "sessions", field = "doc" }
    events_doc   = { collection = "events", field = "doc" }
    pages_rows   = { collection = "pages", field = "rows" }
  }

  project    = var.project_id
  database   = google_firestore_database.sessions.name
  collection = each.value.collection
  field      = each.value.field

  index_config {}
}
