# A production deployment: agents' data in its own project, Cloud Identity
# groups, IAP in front of the approval pages, deterministic tokens with a
# KMS-wrapped key, a locked audit log bucket. Paths are relative to
# terraform/:
#   terraform plan -var-file=examples/prod.tfvars
project_id       = "acme-querygate"
region           = "us-central1"
image            = "us-central1-docker.pkg.dev/acme-querygate/querygate/functions@sha256:1111111111111111111111111111111111111111111111111111111111111111"
smtp_host        = "smtp.example.com"
smtp_username    = "querygate"
smtp_from        = "querygate <querygate@example.com>"
policy_file      = "examples/policy.yaml"
masking_file     = "examples/masking-prod.yaml"
data_project_id  = "acme-warehouse"
data_location    = "US"
allowed_datasets = ["sales", "marketing"]

extra_oidc_issuers = ["https://token.actions.githubusercontent.com|querygate"]
groups_source      = "cloudidentity"
group_aliases      = { approvers = "querygate-approvers@example.com", dpo = "dpo@example.com" }
auditors_group     = "auditors"
reidentify_group   = "reidentifiers"

approvers_group       = "querygate-approvers@example.com"
approval_public_url   = "https://approvals.example.com"
approval_ingress      = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
approval_iap_audience = "/projects/123456789012/global/backendServices/1234567890123456789"

# Deterministic e-mail tokens: examples/masking-prod.yaml holds the wrapped
# key (base64 of `gcloud kms encrypt` over 32 random bytes, docs/deploy.md);
# dlp.tf builds the DLP templates from that file.

retention_days           = 400
audit_log_retention_days = 2555

scaling = {
  intake     = { min = 1, max = 20 }
  sessions   = { min = 0, max = 10 }
  policy     = { min = 1, max = 10 }
  notify     = { min = 0, max = 5 }
  execute    = { min = 0, max = 10 }
  deidentify = { min = 0, max = 10 }
  record     = { min = 0, max = 10 }
  approval   = { min = 0, max = 5 }
  reconcile  = { min = 0, max = 1 } # one pass at a time (reconcile.tf)
}
