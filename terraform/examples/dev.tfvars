# A trial deployment: one project, claims-only groups, the approval pages on
# their run.app URL, an unlocked audit log bucket (throw-away project only).
# Paths are relative to terraform/, where terraform runs:
#   terraform plan -var-file=examples/dev.tfvars
project_id       = "acme-querygate-dev"
region           = "us-central1"
image            = "us-central1-docker.pkg.dev/acme-querygate-dev/querygate/functions@sha256:0000000000000000000000000000000000000000000000000000000000000000"
smtp_host        = "smtp.example.com"
smtp_from        = "querygate dev <querygate-dev@example.com>"
policy_file      = "examples/policy.yaml"
masking_file     = "examples/masking.yaml"
allowed_datasets = ["sales"]

group_aliases            = { approvers = "querygate-approvers@example.com" }
retention_days           = 30
audit_log_bucket_locked  = false
audit_log_retention_days = 30

scaling = {
  intake     = { min = 0, max = 2 }
  sessions   = { min = 0, max = 2 }
  policy     = { min = 0, max = 2 }
  notify     = { min = 0, max = 1 }
  execute    = { min = 0, max = 2 }
  deidentify = { min = 0, max = 2 }
  record     = { min = 0, max = 1 }
  approval   = { min = 0, max = 1 }
  reconcile  = { min = 0, max = 1 } # one pass at a time (reconcile.tf)
}
