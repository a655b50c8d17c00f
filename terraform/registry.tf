# The image repository cloudbuild.yaml pushes to:
# REGION-docker.pkg.dev/PROJECT/querygate/functions:TAG. Cloud Run pulls from
# it with its service agent, which has access within the project.
resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = "querygate"
  format        = "DOCKER"
  description   = "querygate function images"

  depends_on = [google_project_service.enabled]
}
