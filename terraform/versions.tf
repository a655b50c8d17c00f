# Terraform and provider versions. The google provider is pinned to one
# minor series so that a plan made on a laptop and one made by Cloud Build
# use the same resource schemas; bump it deliberately.
terraform {
  # 1.7 for terraform test with mock providers (tests/); Cloud Build runs
  # the hashicorp/terraform image cloudbuild.yaml pins.
  required_version = ">= 1.7.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.14"
    }
  }

  # State lives in a GCS bucket created once by hand (docs/deploy.md):
  # terraform init -backend-config="bucket=BUCKET" -backend-config="prefix=querygate"
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}
