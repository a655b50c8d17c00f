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
      reconcile  = "Reconcile"
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
    condition     = jsonencode(sort(keys(google_firestore_field.expire_at))) == jsonencode(["approval_marks", "approval_requests", "events", "limit_charges", "limit_counters", "pages", "sessions", "versions"])
    error_message = "TTL policies must cover sessions, events, pages, versions, approval_requests, approval_marks, limit_counters and limit_charges."
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
    condition     = jsonencode([for t in google_data_loss_prevention_inspect_template.cells[0].inspect_config[0].info_types : t.name]) == jsonencode(["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD_NUMBER", "US_SOCIAL_SECURITY_NUMBER", "IP_ADDRESS", "IBAN_CODE"])
    error_message = "The inspect template must inspect the masking file's six infoTypes (examples/masking.yaml)."
  }

  assert {
    condition     = length(google_data_loss_prevention_deidentify_template.cells[0].deidentify_config[0].info_type_transformations[0].transformations) == 1 && google_data_loss_prevention_deidentify_template.cells[0].deidentify_config[0].info_type_transformations[0].transformations[0].primitive_transformation[0].replace_with_info_type_config == true
    error_message = "examples/masking.yaml replaces every finding with its infoType: so must the de-identify template."
  }

  assert {
    condition = jsonencode({ for k, s in google_cloud_run_v2_service.fn : k => sort([for e in s.template[0].containers[0].env : e.name if startswith(e.name, "QUERYGATE_DLP_")]) if length([for e in s.template[0].containers[0].env : e if startswith(e.name, "QUERYGATE_DLP_")]) > 0 }) == jsonencode({
      deidentify = ["QUERYGATE_DLP_DEIDENTIFY_TEMPLATE", "QUERYGATE_DLP_INSPECT_TEMPLATE"]
      intake     = ["QUERYGATE_DLP_DEIDENTIFY_TEMPLATE", "QUERYGATE_DLP_INSPECT_TEMPLATE"]
      policy     = ["QUERYGATE_DLP_DEIDENTIFY_TEMPLATE", "QUERYGATE_DLP_INSPECT_TEMPLATE"]
    })
    error_message = "Exactly the functions that call DLP (policy, deidentify, intake) get the DLP template names."
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
        "dataset:allowed custom:querygateTableReader",
        "project custom:querygateDlpTemplateReader",
        "project roles/bigquery.jobUser",
        "project roles/datastore.user",
        "project roles/dlp.user",
        "secret:masking roles/secretmanager.secretAccessor",
        "secret:policy roles/secretmanager.secretAccessor",
      ]
      reconcile = [
        "dataset:results custom:querygateResultsCleaner",
        "project custom:querygateExecutionReader",
        "project roles/bigquery.jobUser",
        "project roles/datastore.user",
        "table:events custom:querygateAuditAppender",
      ]
      "reconcile-scheduler" = [
        "service:reconcile roles/run.invoker",
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

# The reconciler (reconcile.tf): Cloud Scheduler POSTs hourly to the
# Reconcile service's URL with an OIDC token whose audience is that URL; the
# service is internal, runs one instance, knows its only caller, and its
# execution role reads executions and nothing else.
run "reconcile_is_scheduled" {
  command = plan

  assert {
    condition = (
      google_cloud_scheduler_job.reconcile.http_target[0].http_method == "POST" &&
      google_cloud_scheduler_job.reconcile.http_target[0].uri == "https://querygate-reconcile-123456789012.us-central1.run.app" &&
      google_cloud_scheduler_job.reconcile.http_target[0].oidc_token[0].audience == "https://querygate-reconcile-123456789012.us-central1.run.app"
    )
    error_message = "The scheduler job must POST to the Reconcile service's run.app URL with an OIDC token for that URL."
  }

  assert {
    condition = (
      google_cloud_run_v2_service.fn["reconcile"].ingress == "INGRESS_TRAFFIC_INTERNAL_ONLY" &&
      google_cloud_run_v2_service.fn["reconcile"].template[0].scaling[0].max_instance_count == 1 &&
      google_cloud_run_v2_service.fn["reconcile"].template[0].max_instance_request_concurrency == 1 &&
      contains([for e in google_cloud_run_v2_service.fn["reconcile"].template[0].containers[0].env : e.name], "QUERYGATE_SCHEDULER_SA")
    )
    error_message = "The Reconcile service must be internal, one instance of one request, and know its caller (QUERYGATE_SCHEDULER_SA)."
  }

  assert {
    condition     = jsonencode(google_project_iam_custom_role.execution_reader.permissions) == jsonencode(["workflows.executions.get"])
    error_message = "The reconciler's execution role must hold workflows.executions.get only."
  }

  assert {
    condition     = google_cloud_run_v2_service_iam_member.scheduler_invokes_reconcile["reconcile"].role == "roles/run.invoker" && contains(local.apis, "cloudscheduler.googleapis.com")
    error_message = "The scheduler's account needs run.invoker on Reconcile, and the Cloud Scheduler API must be enabled."
  }
}

# The DLP templates are built from the masking file (dlp.tf). The first
# assert's literal is also what testing/terraform
# TestDLPTemplatesMatchMaskingConfig gets from the Go loader
# (deid.LoadConfig) for the same file, so the templates and the inline
# config the functions use are one config.
run "dlp_templates_follow_the_masking_file" {
  command = plan
  variables {
    masking_file = "tests/testdata/masking-tokens.yaml"
  }

  assert {
    condition = jsonencode({
      info_types     = [for t in google_data_loss_prevention_inspect_template.cells[0].inspect_config[0].info_types : t.name]
      min_likelihood = google_data_loss_prevention_inspect_template.cells[0].inspect_config[0].min_likelihood
      transformations = [for t in google_data_loss_prevention_deidentify_template.cells[0].deidentify_config[0].info_type_transformations[0].transformations : {
        info_types = [for i in t.info_types : i.name]
        primitive = (
          t.primitive_transformation[0].replace_with_info_type_config == true ? "replace_with_info_type" :
          length(t.primitive_transformation[0].redact_config) > 0 ? "redact" :
          length(t.primitive_transformation[0].replace_config) > 0 ? "replace ${t.primitive_transformation[0].replace_config[0].new_value[0].string_value}" :
          length(t.primitive_transformation[0].character_mask_config) > 0 ? "character_mask ${t.primitive_transformation[0].character_mask_config[0].masking_character} ${t.primitive_transformation[0].character_mask_config[0].number_to_mask}" :
          length(t.primitive_transformation[0].crypto_deterministic_config) > 0 ? "crypto_deterministic ${t.primitive_transformation[0].crypto_deterministic_config[0].surrogate_info_type[0].name} ${t.primitive_transformation[0].crypto_deterministic_config[0].crypto_key[0].kms_wrapped[0].crypto_key_name}" :
          "unknown"
        )
      }]
      }) == jsonencode({
      info_types     = ["EMAIL_ADDRESS", "PHONE_NUMBER", "US_SOCIAL_SECURITY_NUMBER", "IP_ADDRESS"]
      min_likelihood = "LIKELY"
      transformations = [
        { info_types = ["EMAIL_ADDRESS"], primitive = "crypto_deterministic EMAIL_TOKEN projects/qg-test/locations/us-central1/keyRings/querygate/cryptoKeys/masking-key-wrap" },
        { info_types = ["PHONE_NUMBER"], primitive = "character_mask # 4" },
        { info_types = ["IP_ADDRESS"], primitive = "redact" },
        { info_types = ["US_SOCIAL_SECURITY_NUMBER"], primitive = "replace [SSN]" },
        { info_types = [], primitive = "replace_with_info_type" },
      ]
    })
    error_message = "The DLP templates differ from tests/testdata/masking-tokens.yaml."
  }

  assert {
    condition     = google_data_loss_prevention_deidentify_template.cells[0].deidentify_config[0].info_type_transformations[0].transformations[0].primitive_transformation[0].crypto_deterministic_config[0].crypto_key[0].kms_wrapped[0].wrapped_key == "cGxhY2Vob2xkZXIgd3JhcHBlZCBrZXk="
    error_message = "The template's wrapped key is the masking file's."
  }
}

# A masking file a template cannot hold fails the plan, naming what does
# not fit...
run "masking_file_a_template_cannot_hold_is_refused" {
  command = plan
  variables {
    masking_file = "tests/testdata/masking-record.yaml"
  }
  expect_failures = [google_data_loss_prevention_inspect_template.cells, google_data_loss_prevention_deidentify_template.cells]
}

# ...unless the templates are off: then no template, no template env, no
# template reader, and the functions send the masking file inline.
run "dlp_templates_off" {
  command = plan
  variables {
    masking_file  = "tests/testdata/masking-record.yaml"
    dlp_templates = false
  }

  assert {
    condition     = length(google_data_loss_prevention_inspect_template.cells) == 0 && length(google_data_loss_prevention_deidentify_template.cells) == 0 && length(google_project_iam_member.dlp_template_reader) == 0
    error_message = "dlp_templates = false creates no template and grants no template reader."
  }

  assert {
    condition     = alltrue([for k, s in google_cloud_run_v2_service.fn : length([for e in s.template[0].containers[0].env : e if startswith(e.name, "QUERYGATE_DLP_")]) == 0])
    error_message = "dlp_templates = false sets no QUERYGATE_DLP_* variable."
  }
}

# The variables the masking file replaced are refused, not ignored.
run "removed_dlp_variables_are_refused" {
  command = plan
  variables {
    masking_wrapped_key      = "Zm9v"
    deterministic_info_types = ["EMAIL_ADDRESS"]
    dlp_info_types           = ["EMAIL_ADDRESS"]
  }
  expect_failures = [var.masking_wrapped_key, var.deterministic_info_types, var.dlp_info_types]
}

# Issue 12 item 7 and issue 11: policy can dry-run and sample the allowed
# datasets through a custom role that holds exactly that, created in the
# data project; intake, an audit writer that runs no query, has no jobUser.
run "policy_reads_what_it_classifies" {
  command = plan
  variables {
    allowed_datasets = ["sales", "crm"]
    data_project_id  = "qg-warehouse"
  }

  assert {
    condition     = jsonencode(sort(google_project_iam_custom_role.table_reader.permissions)) == jsonencode(["bigquery.routines.get", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.list"]) && google_project_iam_custom_role.table_reader.project == "qg-warehouse"
    error_message = "querygateTableReader holds tables.get, getData, list and routines.get, in the data project."
  }

  assert {
    condition     = jsonencode(sort(keys(google_bigquery_dataset_iam_member.policy_read))) == jsonencode(["crm", "sales"]) && alltrue([for k, m in google_bigquery_dataset_iam_member.policy_read : m.project == "qg-warehouse"])
    error_message = "policy reads each allowed dataset, in the data project, and nothing else."
  }

  assert {
    condition     = !contains(keys(google_project_iam_member.sa), "intake roles/bigquery.jobUser") && contains(keys(google_project_iam_member.sa), "policy roles/dlp.user")
    error_message = "intake must not hold bigquery.jobUser; policy needs dlp.user for the profiler."
  }
}

# The decisions API is routed to approval, which serves it; the agent paths
# to intake (routes.tf; TestPathRoutesMatchCode checks the Go side).
run "paths_route_to_their_services" {
  command = plan

  assert {
    condition     = output.path_routes["/v1/approvals"] == "https://querygate-approval-123456789012.us-central1.run.app" && output.path_routes["/approval"] == output.path_routes["/v1/approvals"]
    error_message = "/v1/approvals and /approval must route to the approval service."
  }

  assert {
    condition     = alltrue([for p in ["/v1/queries", "/v1/sessions", "/bigquery/v2", "/mcp"] : output.path_routes[p] == "https://querygate-intake-123456789012.us-central1.run.app"])
    error_message = "The agent paths must route to intake."
  }
}
