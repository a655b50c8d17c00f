# Terraform and provider versions. The google provider is pinned to one
# minor series so that a plan made on a laptop and one made by Cloud Build
# use the same resource schemas; bump it deliberately.
terraform {
  required_version = ">= 1.5.7"

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
