# The masking config as Cloud DLP templates (finding 12, item 4): an
# inspect template (which infoTypes every string cell is inspected for) and
# a de-identify template (what each finding becomes), both generated from
# the masking file (var.masking_file), so the templates and the inline
# config the functions load from the same file cannot drift. The functions
# that call DLP get their full names in QUERYGATE_DLP_INSPECT_TEMPLATE and
# QUERYGATE_DLP_DEIDENTIFY_TEMPLATE (services.tf) and send them by name
# (internal/deid/dlp_templates.go says when: a table with lineage columns
# still needs the inline recordTransformations). They are in the same
# location as the functions' DLP requests (projects/P/locations/REGION).
#
# A template holds only what it can hold faithfully: inspectConfig with
# infoTypes and minLikelihood, and deidentifyConfig.infoTypeTransformations
# whose primitives are replaceWithInfoTypeConfig, redactConfig,
# replaceConfig (a string), characterMaskConfig, or
# cryptoDeterministicConfig with a kmsWrapped key under the masking KMS key
# (kms.tf). Any other masking file fails the plan with the list of what does
# not fit; set dlp_templates = false to send the masking file inline instead.

locals {
  dlp_parent = "projects/${var.project_id}/locations/${var.region}"

  # deid.DefaultConfig().Inspect: what the functions inspect for when the
  # masking file has no inspectConfig (testing/terraform compares the two).
  dlp_default_info_types = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD_NUMBER", "US_SOCIAL_SECURITY_NUMBER", "IP_ADDRESS", "IBAN_CODE"]

  masking_parses  = can(yamldecode(file(var.masking_file)))
  masking_doc     = try(yamldecode(file(var.masking_file)), {})
  masking_inspect = try(local.masking_doc.inspectConfig, null)
  masking_itts    = try(local.masking_doc.deidentifyConfig.infoTypeTransformations.transformations, [])

  dlp_info_types     = local.masking_inspect == null ? local.dlp_default_info_types : [for t in try(local.masking_inspect.infoTypes, []) : try(t.name, "")]
  dlp_min_likelihood = try(local.masking_inspect.minLikelihood, "POSSIBLE")

  dlp_primitives = ["replaceWithInfoTypeConfig", "redactConfig", "replaceConfig", "characterMaskConfig", "cryptoDeterministicConfig"]

  # What in the masking file a template cannot hold; empty when it fits.
  dlp_template_problems = !local.masking_parses ? ["the masking file is not YAML"] : concat(
    [for k in setsubtract(keys(local.masking_doc), ["inspectConfig", "deidentifyConfig"]) : "top-level ${k}"],
    local.masking_inspect == null ? [] : [for k in setsubtract(keys(local.masking_inspect), ["infoTypes", "minLikelihood"]) : "inspectConfig.${k}"],
    length(local.dlp_info_types) > 0 && alltrue([for n in local.dlp_info_types : can(regex("^[A-Z0-9_]+$", n))]) ? [] : ["inspectConfig.infoTypes must list infoType names"],
    can(local.masking_doc.deidentifyConfig.infoTypeTransformations.transformations) && length(setsubtract(keys(try(local.masking_doc.deidentifyConfig, {})), ["infoTypeTransformations"])) == 0 ? [] : ["deidentifyConfig must be infoTypeTransformations"],
    flatten([for i, t in local.masking_itts : concat(
      [for k in setsubtract(keys(t), ["infoTypes", "primitiveTransformation"]) : "transformation ${i}: ${k}"],
      length(keys(try(t.primitiveTransformation, {}))) == 1 && contains(local.dlp_primitives, try(keys(t.primitiveTransformation)[0], "")) ? [] : ["transformation ${i}: the primitive must be one of ${join(", ", local.dlp_primitives)}"],
      can(t.primitiveTransformation.replaceConfig) && length(setsubtract(keys(try(t.primitiveTransformation.replaceConfig.newValue, {})), ["stringValue"])) + (can(t.primitiveTransformation.replaceConfig.newValue.stringValue) ? 0 : 1) > 0 ? ["transformation ${i}: replaceConfig.newValue must be a stringValue"] : [],
      can(t.primitiveTransformation.characterMaskConfig) ? [for k in setsubtract(keys(t.primitiveTransformation.characterMaskConfig), ["maskingCharacter", "numberToMask", "reverseOrder"]) : "transformation ${i}: characterMaskConfig.${k}"] : [],
      can(t.primitiveTransformation.cryptoDeterministicConfig) && !(
        length(setsubtract(keys(t.primitiveTransformation.cryptoDeterministicConfig), ["cryptoKey", "surrogateInfoType"])) == 0 &&
        try(t.primitiveTransformation.cryptoDeterministicConfig.cryptoKey.kmsWrapped.cryptoKeyName, "") == local.masking_kms_key_name &&
        can(base64decode(t.primitiveTransformation.cryptoDeterministicConfig.cryptoKey.kmsWrapped.wrappedKey)) &&
        length(keys(t.primitiveTransformation.cryptoDeterministicConfig.cryptoKey)) == 1 &&
        can(regex("^[A-Z0-9_]+$", t.primitiveTransformation.cryptoDeterministicConfig.surrogateInfoType.name))
      ) ? ["transformation ${i}: cryptoDeterministicConfig needs cryptoKey.kmsWrapped (wrappedKey, cryptoKeyName ${local.masking_kms_key_name}) and a surrogateInfoType"] : [],
    )]),
  )
}

resource "google_data_loss_prevention_inspect_template" "cells" {
  count = var.dlp_templates ? 1 : 0

  parent       = local.dlp_parent
  template_id  = "querygate-cells"
  display_name = "querygate result cells"
  description  = "infoTypes querygate inspects every string cell of a query result for (generated from the masking file by terraform/dlp.tf)."

  inspect_config {
    min_likelihood = local.dlp_min_likelihood

    dynamic "info_types" {
      for_each = local.dlp_info_types
      content {
        name = info_types.value
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.dlp_template_problems) == 0
      error_message = "The masking file does not fit a DLP template: ${join("; ", local.dlp_template_problems)}. Set dlp_templates = false to send it inline (terraform/dlp.tf)."
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_data_loss_prevention_deidentify_template" "cells" {
  count = var.dlp_templates ? 1 : 0

  parent       = local.dlp_parent
  template_id  = "querygate-cells"
  display_name = "querygate result cells"
  description  = "What querygate replaces each finding in a query result with (generated from the masking file by terraform/dlp.tf)."

  deidentify_config {
    info_type_transformations {
      dynamic "transformations" {
        for_each = local.masking_itts
        content {
          dynamic "info_types" {
            for_each = try(transformations.value.infoTypes, [])
            content {
              name = info_types.value.name
            }
          }
          primitive_transformation {
            replace_with_info_type_config = can(transformations.value.primitiveTransformation.replaceWithInfoTypeConfig) ? true : null

            dynamic "redact_config" {
              for_each = can(transformations.value.primitiveTransformation.redactConfig) ? [1] : []
              content {}
            }
            dynamic "replace_config" {
              for_each = can(transformations.value.primitiveTransformation.replaceConfig) ? [transformations.value.primitiveTransformation.replaceConfig] : []
              content {
                new_value {
                  string_value = replace_config.value.newValue.stringValue
                }
              }
            }
            dynamic "character_mask_config" {
              for_each = can(transformations.value.primitiveTransformation.characterMaskConfig) ? [transformations.value.primitiveTransformation.characterMaskConfig] : []
              content {
                masking_character = try(character_mask_config.value.maskingCharacter, null)
                number_to_mask    = try(character_mask_config.value.numberToMask, null)
                reverse_order     = try(character_mask_config.value.reverseOrder, null)
              }
            }
            dynamic "crypto_deterministic_config" {
              for_each = can(transformations.value.primitiveTransformation.cryptoDeterministicConfig) ? [transformations.value.primitiveTransformation.cryptoDeterministicConfig] : []
              content {
                crypto_key {
                  kms_wrapped {
                    wrapped_key     = crypto_deterministic_config.value.cryptoKey.kmsWrapped.wrappedKey
                    crypto_key_name = crypto_deterministic_config.value.cryptoKey.kmsWrapped.cryptoKeyName
                  }
                }
                surrogate_info_type {
                  name = crypto_deterministic_config.value.surrogateInfoType.name
                }
              }
            }
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.dlp_template_problems) == 0
      error_message = "The masking file does not fit a DLP template: ${join("; ", local.dlp_template_problems)}. Set dlp_templates = false to send it inline (terraform/dlp.tf)."
    }
  }

  depends_on = [google_project_service.enabled]
}
