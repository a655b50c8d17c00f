package terraform_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"github.com/google/go-cmp/cmp"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/querygate/querygate/internal/deid"
)

// templateView is the part of a masking config a DLP template holds, in the
// shape of the literal in tests/plan.tftest.hcl (run
// dlp_templates_follow_the_masking_file).
type templateView struct {
	InfoTypes       []string         `json:"info_types"`
	MinLikelihood   string           `json:"min_likelihood"`
	Transformations []transformation `json:"transformations"`
}

type transformation struct {
	InfoTypes []string `json:"info_types"`
	Primitive string   `json:"primitive"`
}

// viewOf projects a masking config the Go loader read onto templateView.
func viewOf(t *testing.T, cfg *deid.Config) templateView {
	t.Helper()
	v := templateView{InfoTypes: []string{}, MinLikelihood: "POSSIBLE", Transformations: []transformation{}}
	for _, it := range cfg.Inspect.GetInfoTypes() {
		v.InfoTypes = append(v.InfoTypes, it.GetName())
	}
	if l := cfg.Inspect.GetMinLikelihood(); l != dlppb.Likelihood_LIKELIHOOD_UNSPECIFIED {
		v.MinLikelihood = l.String()
	}
	for _, x := range cfg.Deidentify.GetInfoTypeTransformations().GetTransformations() {
		tr := transformation{InfoTypes: []string{}}
		for _, it := range x.GetInfoTypes() {
			tr.InfoTypes = append(tr.InfoTypes, it.GetName())
		}
		pt := x.GetPrimitiveTransformation()
		switch {
		case pt.GetReplaceWithInfoTypeConfig() != nil:
			tr.Primitive = "replace_with_info_type"
		case pt.GetRedactConfig() != nil:
			tr.Primitive = "redact"
		case pt.GetReplaceConfig() != nil:
			tr.Primitive = "replace " + pt.GetReplaceConfig().GetNewValue().GetStringValue()
		case pt.GetCharacterMaskConfig() != nil:
			tr.Primitive = fmt.Sprintf("character_mask %s %d", pt.GetCharacterMaskConfig().GetMaskingCharacter(), pt.GetCharacterMaskConfig().GetNumberToMask())
		case pt.GetCryptoDeterministicConfig() != nil:
			cd := pt.GetCryptoDeterministicConfig()
			tr.Primitive = "crypto_deterministic " + cd.GetSurrogateInfoType().GetName() + " " + cd.GetCryptoKey().GetKmsWrapped().GetCryptoKeyName()
		default:
			tr.Primitive = "unknown"
		}
		v.Transformations = append(v.Transformations, tr)
	}
	return v
}

// TestDLPTemplatesMatchMaskingConfig: terraform/dlp.tf builds the DLP
// templates from the masking file, and the functions load the same file
// with deid.LoadConfig. The plan test asserts what Terraform makes of
// tests/testdata/masking-tokens.yaml against a literal; this test reads the
// same file with the Go loader and compares it with that same literal. So
// a change to either reading (a primitive dlp.tf drops, a field the loader
// reads differently) fails one side.
func TestDLPTemplatesMatchMaskingConfig(t *testing.T) {
	t.Parallel()
	lit := planTestExpectation(t, "dlp_templates_follow_the_masking_file")
	js, err := ctyjson.Marshal(lit, lit.Type())
	if err != nil {
		t.Fatal(err)
	}
	var want templateView
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	cfg, err := deid.LoadConfig(readFile(t, filepath.Join("terraform", "tests", "testdata", "masking-tokens.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, viewOf(t, cfg)); diff != "" {
		t.Errorf("the plan test's template vs the Go loader's reading of the same masking file (-terraform, +go):\n%s", diff)
	}
}

// TestDLPDefaultInfoTypesMatchCode: with no inspectConfig in the masking
// file the functions inspect for deid.DefaultConfig's infoTypes, and the
// inspect template dlp.tf builds uses local.dlp_default_info_types: the two
// lists must be the same.
func TestDLPDefaultInfoTypesMatchCode(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	got := strings_(t, "local.dlp_default_info_types", m.staticLocal(t, "dlp_default_info_types"))
	var want []string
	for _, it := range deid.DefaultConfig().Inspect.GetInfoTypes() {
		want = append(want, it.GetName())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("local.dlp_default_info_types vs deid.DefaultConfig (-go, +terraform):\n%s", diff)
	}
}
