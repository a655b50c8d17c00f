# The Cloud Run services: one per function, all running the same image;
# FUNCTION_TARGET selects the function (cmd/functions). Their environment is
# functions.Config (functions/config.go) plus, for notify and approval, the
# mail and approval settings (internal/mail.SMTPConfig,
# internal/approval.Config). testing/terraform checks these names against
# the Go sources.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  data_project = var.data_project_id != "" ? var.data_project_id : var.project_id

  function_names = ["intake", "sessions", "policy", "notify", "execute", "deidentify", "record", "approval",
    "reconcile", # reconcile.tf
  ]

  # Called only by the workflow: internal ingress, and only the workflow's
  # service account holds roles/run.invoker on them.
  step_functions = ["policy", "notify", "execute", "deidentify", "record"]

  # Reached from outside Google Cloud: agents (with ID tokens from any
  # trusted issuer, which Cloud Run IAM could not verify) and approvers'
  # browsers. Both verify every request themselves.
  public_functions = ["intake", "sessions", "approval"]

  # Cloud Run's deterministic URL, https://SERVICE-PROJECT_NUMBER.REGION.run.app.
  # A service cannot reference its own uri attribute, yet it needs its URL
  # as QUERYGATE_SELF_URL (the audience it accepts from the workflow). The
  # workflow calls exactly this URL, and Workflows uses the URL as the
  # audience of its OIDC token, so both sides agree by construction.
  urls = { for f in local.function_names : f => "https://${var.name_prefix}-${f}-${data.google_project.this.number}.${var.region}.run.app" }

  public_url          = var.public_url != "" ? var.public_url : local.urls["intake"]
  agent_audience      = var.agent_audience != "" ? var.agent_audience : local.public_url
  approval_public_url = var.approval_public_url != "" ? var.approval_public_url : local.urls["approval"]

  # Callback URLs that events.create_callback_endpoint hands out for this
  # workflow. Approval sends the decision (with its own token) only to URLs
  # under these prefixes. Both the project id and number forms are listed:
  # which one the callback URL carries was not verified (docs/deploy.md).
  callback_prefixes = join(",", [
    for p in [var.project_id, data.google_project.this.number] :
    "https://workflowexecutions.googleapis.com/v1/projects/${p}/locations/${var.region}/workflows/${var.workflow_name}/executions/"
  ])

  # functions.Config, the same for every function: each one validates the
  # whole struct at start (QUERYGATE_PROJECT, QUERYGATE_PUBLIC_URL,
  # QUERYGATE_AUDIENCE, QUERYGATE_SELF_URL, QUERYGATE_WORKFLOW_SA and
  # QUERYGATE_APPROVAL_SA are required). QUERYGATE_SELF_URL and
  # FUNCTION_TARGET are per service, set on the resource below.
  common_env = {
    QUERYGATE_PROJECT            = var.project_id
    QUERYGATE_LOCATION           = var.region
    QUERYGATE_PUBLIC_URL         = local.public_url
    QUERYGATE_AUDIENCE           = local.agent_audience
    QUERYGATE_WORKFLOW_SA        = google_service_account.sa["workflow"].email
    QUERYGATE_APPROVAL_SA        = google_service_account.sa["approval"].email
    QUERYGATE_FIRESTORE_DATABASE = google_firestore_database.sessions.name
    QUERYGATE_AUDIT_DATASET      = google_bigquery_dataset.audit.dataset_id
    QUERYGATE_AUDIT_TABLE        = google_bigquery_table.audit_events.table_id
    QUERYGATE_WORKFLOW           = google_workflows_workflow.query_session.name
    QUERYGATE_MAX_ROWS           = tostring(var.max_rows)
    QUERYGATE_MAX_BYTES          = tostring(var.max_bytes)
    QUERYGATE_JOB_TIMEOUT        = var.job_timeout
    QUERYGATE_RETENTION          = "${var.retention_days * 24}h"
    QUERYGATE_RESULTS_DATASET    = google_bigquery_dataset.results.dataset_id
    # The project holding the datasets agents query (jobs still run in
    # QUERYGATE_PROJECT): functions.Config.DataProject.
    QUERYGATE_DATA_PROJECT = local.data_project
  }

  # The DLP templates (dlp.tf), by full name, for the functions whose DLP
  # requests name them (functions.Config, deid.WithTemplates): deidentify
  # (DeidentifyContent), and policy and intake, whose profiler inspects
  # table samples (InspectContent). Empty with dlp_templates = false.
  dlp_functions = var.dlp_templates ? ["policy", "deidentify", "intake"] : []
  dlp_env = var.dlp_templates ? {
    QUERYGATE_DLP_INSPECT_TEMPLATE    = google_data_loss_prevention_inspect_template.cells[0].id
    QUERYGATE_DLP_DEIDENTIFY_TEMPLATE = google_data_loss_prevention_deidentify_template.cells[0].id
  } : {}

  # Approval links: signed by notify, verified by approval.
  approval_env = {
    PUBLIC_BASE_URL                = local.approval_public_url
    APPROVAL_DEFAULT_TTL           = var.approval_default_ttl
    APPROVAL_MAX_TTL               = var.approval_max_ttl
    APPROVAL_CALLBACK_URL_PREFIXES = local.callback_prefixes
    # The Secret Manager secret whose versions are the link HMAC keys (the
    # version number is the key id, internal/secrets).
    APPROVAL_KEY_SECRET = google_secret_manager_secret.approval_link_key.id
  }

  # Where the mounted policy and masking config appear (secrets.tf). Both
  # files are required variables, so these are never empty.
  config_env = {
    QUERYGATE_POLICY_FILE  = "/etc/querygate/policy/policy.yaml"
    QUERYGATE_MASKING_FILE = "/etc/querygate/masking/masking.yaml"
  }

  functions = {
    intake = {
      target      = "Intake"
      ingress     = "INGRESS_TRAFFIC_ALL"
      memory      = "512Mi"
      concurrency = 80
      env = merge(local.config_env, local.dlp_env, {
        QUERYGATE_OIDC_ISSUERS     = join(",", var.extra_oidc_issuers)
        QUERYGATE_GROUPS_CLAIM     = var.groups_claim
        QUERYGATE_ISSUER_RULES     = join(",", var.issuer_rules)
        QUERYGATE_GROUPS_SOURCE    = var.groups_source
        QUERYGATE_GROUP_ALIASES    = join(",", [for n, e in var.group_aliases : "${n}=${e}"])
        QUERYGATE_AUDITORS_GROUP   = var.auditors_group
        QUERYGATE_REIDENTIFY_GROUP = var.reidentify_group
      })
    }
    # Reading sessions and the replay page: the requester, the session's
    # approvers and auditors, each verified from their own ID token.
    sessions = {
      target      = "Sessions"
      ingress     = "INGRESS_TRAFFIC_ALL"
      memory      = "512Mi"
      concurrency = 80
      env = {
        QUERYGATE_OIDC_ISSUERS   = join(",", var.extra_oidc_issuers)
        QUERYGATE_GROUPS_CLAIM   = var.groups_claim
        QUERYGATE_ISSUER_RULES   = join(",", var.issuer_rules)
        QUERYGATE_GROUPS_SOURCE  = var.groups_source
        QUERYGATE_GROUP_ALIASES  = join(",", [for n, e in var.group_aliases : "${n}=${e}"])
        QUERYGATE_AUDITORS_GROUP = var.auditors_group
      }
    }
    policy = {
      target  = "Policy"
      ingress = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      # go-zetasql never frees analyzer outputs, about 30 KB per request
      # (docs/policy.md): 2Gi leaves room for tens of thousands of requests
      # before an instance runs out and Cloud Run replaces it. Few concurrent
      # requests bound the analyzer's peak.
      memory      = "2Gi"
      concurrency = 8
      env         = merge(local.config_env, local.dlp_env)
    }
    notify = {
      target      = "Notify"
      ingress     = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      memory      = "512Mi"
      concurrency = 20
      env = merge(local.approval_env, {
        # Approvers are the members of the rule's approver group, which
        # only Cloud Identity can list: a token's groups claim says which
        # groups its bearer is in, not who else is. With "claims" notify
        # refuses to start (functions/deps.go approverGroups), so it is
        # cloudidentity whatever var.groups_source says (finding 6).
        QUERYGATE_GROUPS_SOURCE = "cloudidentity"
        QUERYGATE_GROUP_ALIASES = join(",", [for n, e in var.group_aliases : "${n}=${e}"])
        SMTP_HOST               = var.smtp_host
        SMTP_PORT               = tostring(var.smtp_port)
        SMTP_TLS                = var.smtp_tls
        SMTP_USERNAME           = var.smtp_username
        SMTP_FROM               = var.smtp_from
        SMTP_PASSWORD_SECRET    = var.smtp_username == "" ? "" : "${google_secret_manager_secret.smtp_password.id}/versions/latest"
      })
    }
    execute = {
      target      = "Execute"
      ingress     = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      memory      = "512Mi"
      concurrency = 40
      env         = local.config_env
    }
    deidentify = {
      target  = "Deidentify"
      ingress = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      # Raw rows live only here, in memory, up to max_rows per session.
      memory      = "1Gi"
      concurrency = 8
      env         = merge(local.config_env, local.dlp_env)
    }
    record = {
      target      = "Record"
      ingress     = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      memory      = "512Mi"
      concurrency = 40
      env         = local.config_env
    }
    # reconcile.tf: called by Cloud Scheduler only. No policy or masking
    # file: the record step reads neither.
    reconcile = {
      target      = "Reconcile"
      ingress     = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      memory      = "512Mi"
      concurrency = 1
      env = {
        QUERYGATE_SCHEDULER_SA = google_service_account.reconcile_scheduler.email
      }
    }
    approval = {
      target      = "Approval"
      ingress     = var.approval_ingress
      memory      = "512Mi"
      concurrency = 40
      env = merge(local.approval_env, {
        APPROVAL_REQUIRE_IAP  = var.approval_iap_audience != "" ? "true" : "false"
        APPROVAL_IAP_AUDIENCE = var.approval_iap_audience
      })
    }
  }
}

resource "google_cloud_run_v2_service" "fn" {
  for_each = local.functions

  project  = var.project_id
  name     = "${var.name_prefix}-${each.key}"
  location = var.region
  ingress  = each.value.ingress

  template {
    service_account                  = google_service_account.sa[each.key].email
    timeout                          = "300s"
    max_instance_request_concurrency = each.value.concurrency

    scaling {
      min_instance_count = var.scaling[each.key].min
      max_instance_count = var.scaling[each.key].max
    }

    dynamic "volumes" {
      for_each = contains(local.config_readers, each.key) ? local.config_files : {}
      content {
        name = "config-${volumes.key}"
        secret {
          secret = google_secret_manager_secret.config[volumes.key].secret_id
          items {
            version = "latest"
            path    = "${volumes.key}.yaml"
            mode    = 292 # 0444
          }
        }
      }
    }

    containers {
      image = var.image

      resources {
        limits = {
          cpu    = "1"
          memory = each.value.memory
        }
        cpu_idle = true
      }

      # /etc/querygate/policy/policy.yaml and
      # /etc/querygate/masking/masking.yaml, as local.config_env says.
      dynamic "volume_mounts" {
        for_each = contains(local.config_readers, each.key) ? local.config_files : {}
        content {
          name       = "config-${volume_mounts.key}"
          mount_path = "/etc/querygate/${volume_mounts.key}"
        }
      }

      dynamic "env" {
        for_each = merge(local.common_env, {
          FUNCTION_TARGET    = each.value.target
          QUERYGATE_SELF_URL = local.urls[each.key]
        }, each.value.env)
        content {
          name  = env.key
          value = env.value
        }
      }
    }
  }

  # The mounted config must exist and be readable before a revision starts.
  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_version.config,
    google_secret_manager_secret_iam_member.config,
  ]
}
