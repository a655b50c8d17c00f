# The masking config as Cloud DLP templates (finding 12, item 4): an
# inspect template (which infoTypes every string cell is inspected for) and
# a de-identify template (what each finding becomes). The functions that
# call DLP get their full names in QUERYGATE_DLP_INSPECT_TEMPLATE and
# QUERYGATE_DLP_DEIDENTIFY_TEMPLATE (services.tf). They are in the same
# location as the functions' DLP requests (projects/P/locations/REGION).
#
# The masking file (masking_file) stays required: the local engine, and
# the lineage columns' whole-cell transformations, are configured there.

locals {
  dlp_parent = "projects/${var.project_id}/locations/${var.region}"
}

resource "google_data_loss_prevention_inspect_template" "cells" {
  parent       = local.dlp_parent
  template_id  = "querygate-cells"
  display_name = "querygate result cells"
  description  = "infoTypes querygate inspects every string cell of a query result for (terraform/dlp.tf)."

  inspect_config {
    min_likelihood = "POSSIBLE"

    dynamic "info_types" {
      for_each = var.dlp_info_types
      content {
        name = info_types.value
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_data_loss_prevention_deidentify_template" "cells" {
  parent       = local.dlp_parent
  template_id  = "querygate-cells"
  display_name = "querygate result cells"
  description  = "What querygate replaces each finding in a query result with (terraform/dlp.tf)."

  deidentify_config {
    info_type_transformations {
      # Deterministic tokens, reversible by the reidentify group through
      # intake, only when a wrapped data key is given.
      dynamic "transformations" {
        for_each = var.masking_wrapped_key == "" ? [] : var.deterministic_info_types
        content {
          info_types {
            name = transformations.value
          }
          primitive_transformation {
            crypto_deterministic_config {
              crypto_key {
                kms_wrapped {
                  wrapped_key     = var.masking_wrapped_key
                  crypto_key_name = local.masking_kms_key
                }
              }
              surrogate_info_type {
                name = "${transformations.value}_TOKEN"
              }
            }
          }
        }
      }
      # Every other finding becomes [INFO_TYPE].
      transformations {
        primitive_transformation {
          replace_with_info_type_config = true
        }
      }
    }
  }

  depends_on = [google_project_service.enabled]
}
