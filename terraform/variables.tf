# Inputs of the querygate deployment. Only project_id, image, smtp_host,
# smtp_from, policy_file and masking_file have no default; examples/ holds a
# dev and a prod tfvars (both planned by tests/plan.tftest.hcl).

variable "project_id" {
  description = "Project that runs querygate: Cloud Run, Workflows, Firestore, the audit dataset and the BigQuery jobs."
  type        = string
}

variable "region" {
  description = "Region of Cloud Run, Workflows, Firestore, Artifact Registry and the audit dataset."
  type        = string
  default     = "us-central1"
}

variable "name_prefix" {
  description = "Prefix of Cloud Run service names (PREFIX-intake, ...). Keep it short: the deterministic run.app URL needs the service name and project number to fit one DNS label."
  type        = string
  default     = "querygate"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name_prefix))
    error_message = "name_prefix must be 1-20 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "image" {
  description = "Container image of the functions (one image, FUNCTION_TARGET selects the function), e.g. REGION-docker.pkg.dev/PROJECT/querygate/functions:TAG. cloudbuild.yaml passes the image it just pushed."
  type        = string
}

variable "data_project_id" {
  description = "Project holding the datasets agents may query; empty means project_id. Jobs always run (and are billed) in project_id."
  type        = string
  default     = ""
}

variable "allowed_datasets" {
  description = "Dataset ids in data_project_id that the execute step may read (bigquery.dataViewer) and the policy step may describe, dry-run and sample (custom querygateTableReader). Policy rules still decide per query."
  type        = list(string)
  default     = []
}

variable "data_location" {
  description = "BigQuery location of the allowed datasets (US, EU or a region); query results land there, so the results dataset is created there. Empty means region."
  type        = string
  default     = ""
}

variable "workflow_name" {
  description = "Name of the Cloud Workflows workflow running workflows/query_session.yaml."
  type        = string
  default     = "query-session"
}

variable "public_url" {
  description = "External base URL of the gateway (a load balancer or domain in front of intake), used in session links. Empty means intake's run.app URL."
  type        = string
  default     = ""
}

variable "agent_audience" {
  description = "Audience that agents' Google ID tokens must carry. Empty means the public URL (which defaults to intake's run.app URL)."
  type        = string
  default     = ""
}

variable "extra_oidc_issuers" {
  description = "Extra trusted OIDC issuers as \"https-issuer|audience\" (GitHub Actions, Okta). Google's issuers are always trusted."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.extra_oidc_issuers : can(regex("^https://[^|]+\\|.+$", p))])
    error_message = "Each extra_oidc_issuers entry must be https-issuer|audience."
  }
}

variable "issuer_rules" {
  description = "Per-issuer trust rules, \"issuer|claim=NAME|map=value:group;...|privileged=group;...|principals=email;...\" (every key optional). Only issuers listed here get groups from their tokens' claims; approvers, auditors and reidentifiers only where privileged= names them; principals= is an allow-list. Google's issuer takes principals= only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.issuer_rules : can(regex("^https://[^|]+(\\|[a-z]+=[^|]+)*$", p))])
    error_message = "Each issuer_rules entry must be https-issuer followed by |key=value parts (claim, map, privileged, principals)."
  }
}

variable "groups_claim" {
  description = "Token claim holding the caller's groups, for issuers in issuer_rules that name no claim."
  type        = string
  default     = "groups"
}

variable "groups_source" {
  description = "Where intake and sessions take the caller's groups from: \"claims\" (the verified token only; works with no Admin console set-up, but Google ID tokens carry no groups) or \"cloudidentity\" (transitive Cloud Identity memberships plus claims; qg-intake and qg-sessions must be allowed to read groups in the Admin console, docs/deploy.md). Notify always uses Cloud Identity, whatever this says: only it can list a group's members (approvers)."
  type        = string
  default     = "claims"

  validation {
    condition     = contains(["claims", "cloudidentity"], var.groups_source)
    error_message = "groups_source must be claims or cloudidentity."
  }
}

variable "group_aliases" {
  description = "Policy group names mapped to group emails for Cloud Identity lookups, e.g. { approvers = \"querygate-approvers@example.com\" }."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for n, e in var.group_aliases : n != "" && can(regex("@", e)) && !can(regex("[,=]", n))])
    error_message = "group_aliases must map names (without , or =) to group emails."
  }
}

variable "reidentify_group" {
  description = "Group whose members may reverse deterministic tokens of sessions they can read (each use is an audit event)."
  type        = string
  default     = "reidentifiers"
}

variable "masking_kms_key" {
  description = "KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that wraps the masking config's deterministic-encryption key. Empty means the key this module creates (kms.tf). deidentify and intake (re-identification) get decrypt on it."
  type        = string
  default     = ""

  validation {
    condition     = var.masking_kms_key == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.masking_kms_key))
    error_message = "masking_kms_key must be empty or projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "dlp_templates" {
  description = "Build the DLP inspect and de-identify templates from masking_file (dlp.tf) and have the functions send them by name. false sends the masking file's config inline in every DLP request (for a masking file a template cannot hold)."
  type        = bool
  default     = true
}

# Replaced by the masking file, from which dlp.tf now builds both templates:
# kept only so that an old tfvars fails with a pointer instead of planning
# templates that differ from what the functions mask with.
variable "masking_wrapped_key" {
  description = "Removed: put the wrapped key in the masking file's cryptoDeterministicConfig.cryptoKey.kmsWrapped (docs/deploy.md). Must stay unset."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.masking_wrapped_key == null
    error_message = "masking_wrapped_key is no longer read: put the wrapped key in the masking file (cryptoDeterministicConfig.cryptoKey.kmsWrapped.wrappedKey, docs/deploy.md)."
  }
}

variable "dlp_info_types" {
  description = "Removed: the inspect template's infoTypes are the masking file's inspectConfig.infoTypes. Must stay unset."
  type        = list(string)
  default     = null

  validation {
    condition     = var.dlp_info_types == null
    error_message = "dlp_info_types is no longer read: list the infoTypes in the masking file's inspectConfig.infoTypes."
  }
}

variable "deterministic_info_types" {
  description = "Removed: the masking file's infoTypeTransformations say which infoTypes become deterministic tokens. Must stay unset."
  type        = list(string)
  default     = null

  validation {
    condition     = var.deterministic_info_types == null
    error_message = "deterministic_info_types is no longer read: give those infoTypes a cryptoDeterministicConfig in the masking file."
  }
}

variable "auditors_group" {
  description = "Group (as it appears in the groups claim) whose members may read every session."
  type        = string
  default     = "auditors"
}

variable "approvers_group" {
  description = "Google group email of the approvers, granted IAP access to the approval pages (roles/iap.httpsResourceAccessor). Empty grants nothing; policy rules name the approver group that is mailed."
  type        = string
  default     = ""
}

variable "approval_public_url" {
  description = "Base URL approvers open links on (the IAP-protected load balancer in front of approval). Empty means approval's run.app URL."
  type        = string
  default     = ""
}

variable "approval_ingress" {
  description = "Ingress of the approval service: INGRESS_TRAFFIC_ALL, or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER once an IAP-protected load balancer fronts it."
  type        = string
  default     = "INGRESS_TRAFFIC_ALL"

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.approval_ingress)
    error_message = "approval_ingress must be INGRESS_TRAFFIC_ALL or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "approval_iap_audience" {
  description = "Audience of the IAP assertion (/projects/NUMBER/global/backendServices/ID). Non-empty makes the approval decision require a valid IAP assertion for the link's approver."
  type        = string
  default     = ""
}

variable "approval_default_ttl" {
  description = "Life of an approval link when the policy rule names none (Go duration)."
  type        = string
  default     = "1h"
}

variable "approval_max_ttl" {
  description = "Cap on any approval link's life (Go duration)."
  type        = string
  default     = "24h"
}

variable "smtp_host" {
  description = "SMTP relay that sends approval mail."
  type        = string
}

variable "smtp_port" {
  description = "SMTP port; 0 picks 25, 587 or 465 by TLS mode."
  type        = number
  default     = 587
}

variable "smtp_tls" {
  description = "SMTP TLS mode: none, starttls or implicit."
  type        = string
  default     = "starttls"

  validation {
    condition     = contains(["none", "starttls", "implicit"], var.smtp_tls)
    error_message = "smtp_tls must be none, starttls or implicit."
  }
}

variable "smtp_username" {
  description = "SMTP AUTH user; empty sends without AUTH (and the password secret is not read)."
  type        = string
  default     = ""
}

variable "smtp_from" {
  description = "Sender of approval mail, e.g. \"querygate <querygate@example.com>\"."
  type        = string
}

variable "smtp_password_secret_id" {
  description = "Secret Manager secret id holding the SMTP password. Terraform creates the secret, never its value."
  type        = string
  default     = "querygate-smtp-password"
}

variable "approval_key_secret_id" {
  description = "Secret Manager secret id holding the HMAC key that signs approval links (32 random bytes). Terraform creates the secret, never its value."
  type        = string
  default     = "querygate-approval-link-key"
}

variable "policy_file" {
  description = "Path (on the machine running Terraform, relative to terraform/) of the policy YAML (docs/policy.md). Stored as a Secret Manager secret and mounted into the functions that load it. Required: an apply without it would silently fall back to the built-in default policy."
  type        = string

  # Without this, an apply from Cloud Build with no tfvars would empty the
  # config secrets' for_each, destroy the secrets and their mounts, and the
  # functions would start on the built-in defaults (issue 12, finding 11).
  validation {
    condition     = trimspace(var.policy_file) != "" && fileexists(var.policy_file)
    error_message = "policy_file must name an existing policy YAML (docs/policy.md); querygate never deploys the built-in default policy silently."
  }
}

variable "masking_file" {
  description = "Path (on the machine running Terraform, relative to terraform/) of the masking config YAML (docs/masking.md), handled like policy_file. Required, for the same reason."
  type        = string

  validation {
    condition     = trimspace(var.masking_file) != "" && fileexists(var.masking_file)
    error_message = "masking_file must name an existing masking config YAML (docs/masking.md); querygate never deploys the built-in default masking silently."
  }
}

variable "retention_days" {
  description = "Days a session is kept in Firestore (its expire_at; TTL deletes it later). The audit table keeps its rows regardless."
  type        = number
  default     = 400

  validation {
    condition     = var.retention_days > 0
    error_message = "retention_days must be positive."
  }
}

variable "max_rows" {
  description = "Most result rows stored and returned per session."
  type        = number
  default     = 10000
}

variable "max_bytes" {
  description = "Most bytes of masked JSON rows stored per session."
  type        = number
  default     = 8388608
}

variable "job_timeout" {
  description = "Bound on each BigQuery job (Go duration). Keep it under the step services' request timeout (300s) and the workflow's call timeout (300s)."
  type        = string
  default     = "4m"
}

variable "scaling" {
  description = "Instance bounds per function. Policy links ZetaSQL and starts slowly; a min of 1 there removes cold starts at a cost."
  type = map(object({
    min = number
    max = number
  }))
  default = {
    intake     = { min = 0, max = 20 }
    sessions   = { min = 0, max = 10 }
    policy     = { min = 0, max = 10 }
    notify     = { min = 0, max = 5 }
    execute    = { min = 0, max = 10 }
    deidentify = { min = 0, max = 10 }
    record     = { min = 0, max = 10 }
    approval   = { min = 0, max = 5 }

    # One pass at a time (reconcile.tf).
    reconcile = { min = 0, max = 1 }
  }

  # services.tf reads var.scaling[f] for every function, so a map that
  # misses one would fail the plan with an opaque index error.
  validation {
    condition     = length(setsubtract(["intake", "sessions", "policy", "notify", "execute", "deidentify", "record", "approval", "reconcile"], keys(var.scaling))) == 0
    error_message = "scaling needs an entry for every function: intake, sessions, policy, notify, execute, deidentify, record, approval, reconcile."
  }
  validation {
    condition     = alltrue([for f, s in var.scaling : s.min >= 0 && s.max >= 1 && s.min <= s.max])
    error_message = "Each scaling entry needs 0 <= min <= max and max >= 1."
  }
}

variable "audit_log_retention_days" {
  description = "Days the locked log bucket keeps the audit chain heads (logging.tf). A locked bucket's retention can be raised later, never lowered."
  type        = number
  default     = 400

  validation {
    condition     = var.audit_log_retention_days >= 1 && var.audit_log_retention_days <= 3650
    error_message = "audit_log_retention_days must be 1 to 3650."
  }
}

variable "audit_log_bucket_locked" {
  description = "Lock the audit log bucket: nobody, the deployer included, can then delete it or shorten its retention. Locking cannot be undone; set false only in a throw-away project."
  type        = bool
  default     = true
}

variable "audit_anchor_schedule" {
  description = "When the daily audit anchor (audit_anchor.tf) runs, in the BigQuery Data Transfer Service schedule syntax (UTC). It anchors the previous UTC day, so keep it after midnight plus the longest session."
  type        = string
  default     = "every day 02:00"
}
