# Plan-time checks of the module with only its required variables, against
# the real google provider's schema (a mocked provider: no credentials, no
# network). Run from terraform/ (scripts/test.sh does):
#   terraform test -filter=tests/plan.tftest.hcl
# examples.tftest.hcl plans examples/dev.tfvars and examples/prod.tfvars.

mock_provider "google" {
  # data.google_project.this: the deterministic run.app URLs need a number.
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
}

# Only the variables without a default.
variables {
  project_id   = "qg-test"
  image        = "us-central1-docker.pkg.dev/qg-test/querygate/functions@sha256:2222222222222222222222222222222222222222222222222222222222222222"
  smtp_host    = "smtp.example.com"
  smtp_from    = "querygate <querygate@example.com>"
  policy_file  = "examples/policy.yaml"
  masking_file = "examples/masking.yaml"
}

# Every function registered in functions/ (functions.Targets(); the Go test
# testing/terraform TestPlanTestsKnowEveryTarget keeps this map equal to the
# registrations) has a service running its FUNCTION_TARGET, the env every
# function validates at start, and its scaling.
run "every_function_has_a_service" {
  command = plan

  assert {
    condition = jsonencode({ for k, s in google_cloud_run_v2_service.fn : k => one([for e in s.template[0].containers[0].env : e.value if e.name == "FUNCTION_TARGET"]) }) == jsonencode({
      approval   = "Approval"
      deidentify = "Deidentify"
      execute    = "Execute"
      intake     = "Intake"
      notify     = "Notify"
      policy     = "Policy"
      record     = "Record"
      sessions   = "Sessions"
    })
    error_message = "The services and their FUNCTION_TARGETs differ from the functions functions/ registers."
  }

  assert {
    condition = alltrue(flatten([for k, s in google_cloud_run_v2_service.fn : [
      for name in ["QUERYGATE_PROJECT", "QUERYGATE_PUBLIC_URL", "QUERYGATE_AUDIENCE", "QUERYGATE_SELF_URL", "QUERYGATE_WORKFLOW_SA", "QUERYGATE_APPROVAL_SA", "QUERYGATE_DATA_PROJECT", "QUERYGATE_RESULTS_DATASET"] :
      contains([for e in s.template[0].containers[0].env : e.name], name)
    ]]))
    error_message = "A service lacks one of the variables functions.Config requires (or QUERYGATE_DATA_PROJECT / QUERYGATE_RESULTS_DATASET)."
  }

  assert {
    condition     = alltrue([for k, s in google_cloud_run_v2_service.fn : one([for e in s.template[0].containers[0].env : e.value if e.name == "QUERYGATE_SELF_URL"]) == "https://querygate-${k}-123456789012.us-central1.run.app"])
    error_message = "QUERYGATE_SELF_URL must be the service's deterministic run.app URL (the audience the workflow's token carries)."
  }

  assert {
    condition     = alltrue([for k, s in google_cloud_run_v2_service.fn : one([for e in s.template[0].containers[0].env : e.value if e.name == "QUERYGATE_DATA_PROJECT"]) == "qg-test"])
    error_message = "With data_project_id empty, QUERYGATE_DATA_PROJECT must be project_id."
  }

  assert {
    condition     = alltrue([for k, s in google_cloud_run_v2_service.fn : s.template[0].scaling[0].min_instance_count == var.scaling[k].min && s.template[0].scaling[0].max_instance_count == var.scaling[k].max])
    error_message = "A service's scaling differs from var.scaling."
  }

  assert {
    condition     = alltrue([for k, s in google_cloud_run_v2_service.fn : s.template[0].containers[0].image == var.image])
    error_message = "Every service runs var.image."
  }

  assert {
    condition     = jsonencode(sort(keys(google_workflows_workflow.query_session.user_env_vars))) == jsonencode(["QUERYGATE_DEIDENTIFY_URL", "QUERYGATE_EXECUTE_URL", "QUERYGATE_NOTIFY_URL", "QUERYGATE_POLICY_URL", "QUERYGATE_RECORD_URL"])
    error_message = "The workflow must get the URL of every step it calls."
  }
}

# The policy and masking config are always mounted where the functions read
# them, so no function falls back to a built-in default.
run "config_is_mounted" {
  command = plan

  assert {
    condition     = jsonencode(sort(keys(google_secret_manager_secret.config))) == jsonencode(["masking", "policy"])
    error_message = "Both config secrets must exist."
  }

  assert {
    condition = alltrue(flatten([for k in ["intake", "policy", "execute", "deidentify", "record"] : [
      one([for e in google_cloud_run_v2_service.fn[k].template[0].containers[0].env : e.value if e.name == "QUERYGATE_POLICY_FILE"]) == "/etc/querygate/policy/policy.yaml",
      one([for e in google_cloud_run_v2_service.fn[k].template[0].containers[0].env : e.value if e.name == "QUERYGATE_MASKING_FILE"]) == "/etc/querygate/masking/masking.yaml",
      jsonencode(sort([for m in google_cloud_run_v2_service.fn[k].template[0].containers[0].volume_mounts : m.mount_path])) == jsonencode(["/etc/querygate/masking", "/etc/querygate/policy"]),
    ]]))
    error_message = "intake and the data steps must mount and point at both config files."
  }
}

# Finding 11: an apply without the policy or the masking config is refused.
run "empty_policy_is_refused" {
  command = plan
  variables {
    policy_file = ""
  }
  expect_failures = [var.policy_file]
}

run "empty_masking_is_refused" {
  command = plan
  variables {
    masking_file = ""
  }
  expect_failures = [var.masking_file]
}

run "missing_policy_file_is_refused" {
  command = plan
  variables {
    policy_file = "examples/no-such-policy.yaml"
  }
  expect_failures = [var.policy_file]
}

# Finding 6: with default variables notify can list approvers.
run "notify_uses_cloud_identity" {
  command = plan

  assert {
    condition     = one([for e in google_cloud_run_v2_service.fn["notify"].template[0].containers[0].env : e.value if e.name == "QUERYGATE_GROUPS_SOURCE"]) == "cloudidentity"
    error_message = "notify must resolve approver groups through Cloud Identity: with claims it refuses to start."
  }

  assert {
    condition     = one([for e in google_cloud_run_v2_service.fn["intake"].template[0].containers[0].env : e.value if e.name == "QUERYGATE_GROUPS_SOURCE"]) == "claims"
    error_message = "intake's groups source is var.groups_source (default claims)."
  }
}

run "bad_groups_source_is_refused" {
  command = plan
  variables {
    groups_source = "ldap"
  }
  expect_failures = [var.groups_source]
}

# Every Firestore collection group whose documents carry expire_at
# (internal/session/firestore.go, internal/approval/firestore.go) has a TTL
# policy on it.
run "ttl_on_every_expiring_collection" {
  command = plan

  assert {
    condition     = jsonencode(sort(keys(google_firestore_field.expire_at))) == jsonencode(["approval_requests", "events", "limit_charges", "limit_counters", "pages", "sessions", "versions"])
    error_message = "TTL policies must cover sessions, events, pages, versions, approval_requests, limit_counters and limit_charges."
  }

  assert {
    condition     = alltrue([for k, f in google_firestore_field.expire_at : f.field == "expire_at" && f.collection == k && length(f.ttl_config) == 1])
    error_message = "Each expire_at field needs a ttl_config."
  }
}

# The APIs every resource here calls are enabled (the depends_on that
# orders them is checked by testing/terraform TestAPIsEnabledBeforeUse).
run "apis_enabled" {
  command = plan

  assert {
    condition = alltrue([for a in [
      "artifactregistry", "bigquery", "bigquerydatatransfer", "cloudidentity", "cloudkms", "cloudresourcemanager", "dlp",
      "firestore", "iam", "iap", "logging", "run", "secretmanager", "workflowexecutions", "workflows",
    ] : contains(keys(google_project_service.enabled), "${a}.googleapis.com")])
    error_message = "An API querygate calls is not enabled."
  }

  assert {
    condition     = alltrue([for k, s in google_project_service.enabled : s.disable_on_destroy == false])
    error_message = "No API may be disabled on destroy."
  }
}

# Finding 9 and 12: the audit writers append through the custom role, on
# the table only; the chain heads go to a locked bucket; DLP templates and
# the KMS key exist and reach the functions by name.
run "audit_and_masking_resources" {
  command = plan

  assert {
    condition     = jsonencode(sort(google_project_iam_custom_role.audit_appender.permissions)) == jsonencode(["bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.updateData"])
    error_message = "The audit appender role may hold only tables.get, getData and updateData."
  }

  assert {
    condition     = google_logging_project_bucket_config.audit.locked == true && google_logging_project_bucket_config.audit.retention_days == 400
    error_message = "The audit log bucket must be locked with 400 days' retention by default."
  }

  assert {
    condition     = strcontains(google_logging_project_sink.audit_chain_heads.filter, "jsonPayload.message=\"audit chain head\"")
    error_message = "The sink must route the audit chain heads."
  }

  assert {
    condition     = length(google_kms_crypto_key.masking) == 1 && google_kms_crypto_key.masking[0].purpose == "ENCRYPT_DECRYPT"
    error_message = "Terraform must create the masking key-encryption key when masking_kms_key is empty."
  }

  assert {
    condition     = jsonencode([for t in google_data_loss_prevention_inspect_template.cells.inspect_config[0].info_types : t.name]) == jsonencode(["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD_NUMBER", "US_SOCIAL_SECURITY_NUMBER", "IP_ADDRESS", "IBAN_CODE"])
    error_message = "The inspect template must inspect the six built-in infoTypes by default."
  }

  assert {
    condition     = length(google_data_loss_prevention_deidentify_template.cells.deidentify_config[0].info_type_transformations[0].transformations) == 1
    error_message = "Without a wrapped key the de-identify template only replaces findings with their infoType."
  }

  assert {
    condition = alltrue(flatten([for k in ["deidentify", "intake"] : [
      contains([for e in google_cloud_run_v2_service.fn[k].template[0].containers[0].env : e.name], "QUERYGATE_DLP_INSPECT_TEMPLATE"),
      contains([for e in google_cloud_run_v2_service.fn[k].template[0].containers[0].env : e.name], "QUERYGATE_DLP_DEIDENTIFY_TEMPLATE"),
    ]]))
    error_message = "deidentify and intake must get the DLP template names."
  }

  assert {
    condition     = google_bigquery_data_transfer_config.audit_anchor.data_source_id == "scheduled_query" && strcontains(google_bigquery_data_transfer_config.audit_anchor.params.query, "MERGE")
    error_message = "The daily audit anchor is one scheduled MERGE query."
  }
}

# Each service account holds exactly the grants docs/deploy.md lists
# ("Roles"); testing/terraform TestDocumentedRolesMatchPlanTest keeps the
# expected map below equal to that table. Grants are read from resource
# instance keys, which are known at plan time (emails are not).
run "service_accounts_have_their_documented_roles" {
  command = plan
  variables {
    allowed_datasets = ["sales"]
  }

  assert {
    condition = jsonencode(output.service_account_grants) == jsonencode({
      approval = [
        "project custom:querygateCallbackSender",
        "project roles/datastore.user",
        "secret:approval_link_key roles/secretmanager.secretAccessor",
      ]
      "audit-anchor" = [
        "project roles/bigquery.jobUser",
        "table:anchors custom:querygateAuditAppender",
        "table:events roles/bigquery.dataViewer",
      ]
      deidentify = [
        "dataset:results roles/bigquery.dataViewer",
        "key:masking roles/cloudkms.cryptoKeyDecrypter",
        "project custom:querygateDlpTemplateReader",
        "project custom:querygateJobReader",
        "project roles/datastore.user",
        "project roles/dlp.user",
        "secret:masking roles/secretmanager.secretAccessor",
        "secret:policy roles/secretmanager.secretAccessor",
      ]
      execute = [
        "dataset:allowed roles/bigquery.dataViewer",
        "dataset:results roles/bigquery.dataEditor",
        "project roles/bigquery.jobUser",
        "project roles/datastore.user",
        "secret:masking roles/secretmanager.secretAccessor",
        "secret:policy roles/secretmanager.secretAccessor",
      ]
      intake = [
        "key:masking roles/cloudkms.cryptoKeyDecrypter",
        "project custom:querygateDlpTemplateReader",
        "project custom:querygateExecutionStarter",
        "project roles/bigquery.jobUser",
        "project roles/datastore.user",
        "project roles/dlp.user",
        "secret:masking roles/secretmanager.secretAccessor",
        "secret:policy roles/secretmanager.secretAccessor",
        "table:events custom:querygateAuditAppender",
      ]
      notify = [
        "project roles/datastore.user",
        "secret:approval_link_key roles/secretmanager.secretAccessor",
        "secret:smtp_password roles/secretmanager.secretAccessor",
      ]
      policy = [
        "dataset:allowed roles/bigquery.metadataViewer",
        "project roles/bigquery.jobUser",
        "project roles/datastore.user",
        "secret:masking roles/secretmanager.secretAccessor",
        "secret:policy roles/secretmanager.secretAccessor",
      ]
      record = [
        "dataset:results custom:querygateResultsCleaner",
        "project roles/bigquery.jobUser",
        "project roles/datastore.user",
        "secret:masking roles/secretmanager.secretAccessor",
        "secret:policy roles/secretmanager.secretAccessor",
        "table:events custom:querygateAuditAppender",
      ]
      sessions = [
        "project roles/datastore.user",
      ]
      workflow = [
        "project roles/logging.logWriter",
        "service:deidentify roles/run.invoker",
        "service:execute roles/run.invoker",
        "service:notify roles/run.invoker",
        "service:policy roles/run.invoker",
        "service:record roles/run.invoker",
      ]
    })
    error_message = "A service account's grants differ from docs/deploy.md's Roles table."
  }
}
