# The key-encryption key of the masking config's deterministic-encryption
# key (finding 12). DLP's cryptoDeterministicConfig takes the data key
# kmsWrapped: DLP decrypts it with this key, as the calling function's
# identity, on each request, so the plain data key is never in Terraform,
# the image or a secret. docs/deploy.md shows how to make the wrapped key
# once and put it in the masking file (cryptoDeterministicConfig.cryptoKey.
# kmsWrapped), from which dlp.tf builds the de-identify template.
#
# A key ring cannot be deleted, and destroying this key makes every token
# already handed out irreversible, so the key is protected from destroy.
# Setting masking_kms_key later (count 1 -> 0) therefore fails the plan on
# purpose: move the wrapped key to the new key first, then
# `terraform state rm google_kms_crypto_key.masking google_kms_key_ring.querygate`.

resource "google_kms_key_ring" "querygate" {
  count = var.masking_kms_key == "" ? 1 : 0

  project  = var.project_id
  name     = "querygate"
  location = var.region

  depends_on = [google_project_service.enabled]
}

resource "google_kms_crypto_key" "masking" {
  count = var.masking_kms_key == "" ? 1 : 0

  name     = "masking-key-wrap"
  key_ring = google_kms_key_ring.querygate[0].id
  purpose  = "ENCRYPT_DECRYPT"
  # New versions encrypt newly wrapped keys; old versions stay enabled, so
  # a key wrapped earlier still unwraps.
  rotation_period = "7776000s" # 90 days

  lifecycle {
    prevent_destroy = true
  }
}

locals {
  masking_kms_key = var.masking_kms_key != "" ? var.masking_kms_key : google_kms_crypto_key.masking[0].id
  # The same name, known at plan time: the masking file's kmsWrapped
  # cryptoKeyName must be this (dlp.tf checks it).
  masking_kms_key_name = var.masking_kms_key != "" ? var.masking_kms_key : "projects/${var.project_id}/locations/${var.region}/keyRings/querygate/cryptoKeys/masking-key-wrap"
}
