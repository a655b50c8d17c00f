package deid

import (
	"fmt"
	"regexp"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"google.golang.org/protobuf/proto"
)

// How the adapter uses DLP templates (terraform/dlp.tf builds both from the
// masking file, so they hold the same infoTypes and transformations as the
// inline config the functions load).
//
// DLP merges a request's inline config over the template it names: "Singular
// fields that are set in this request will replace their corresponding
// fields in the template. Repeated fields are appended. Singular sub-messages
// and groups are recursively merged." (DeidentifyContentRequest,
// inspect_template_name and deidentify_template_name). Two consequences:
//   - inline infoTypes next to an inspect template would be appended to the
//     template's, so with an inspect template no inline inspectConfig is
//     sent at all: the template alone says what DLP looks for;
//   - DeidentifyConfig.transformation is a oneof, so inline
//     recordTransformations (lineage columns, whole-cell transformations)
//     would replace the template's infoTypeTransformations rather than add
//     to them. The adapter therefore sends the de-identify template only for
//     a table it would mask with the template's infoTypeTransformations over
//     every column, and the inline config, without the template's name, for
//     any other table. DLP never applies a merge of the two.

var (
	inspectTemplateName    = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/inspectTemplates/[^/]+$`)
	deidentifyTemplateName = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/deidentifyTemplates/[^/]+$`)
)

// WithTemplates returns a copy of cfg that names the DLP inspect and
// de-identify templates (either may be empty: that one stays inline). A
// malformed name, or a masking file that already names a different
// template, is an ErrConfig error.
func WithTemplates(cfg *Config, inspect, deidentify string) (*Config, error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	out := *cfg
	for _, t := range []struct {
		kind, name string
		re         *regexp.Regexp
		field      *string
	}{
		{"inspect", inspect, inspectTemplateName, &out.InspectTemplateName},
		{"de-identify", deidentify, deidentifyTemplateName, &out.DeidentifyTemplateName},
	} {
		switch {
		case t.name == "":
		case !t.re.MatchString(t.name):
			return nil, fmt.Errorf("%w: DLP %s template %q is not of the form %s", ErrConfig, t.kind, t.name, t.re)
		case *t.field != "" && *t.field != t.name:
			return nil, fmt.Errorf("%w: the masking file names %s template %q, the environment %q", ErrConfig, t.kind, *t.field, t.name)
		default:
			*t.field = t.name
		}
	}
	return &out, nil
}

// inlineInspect is the inspectConfig sent with a request: none with an
// inspect template (inline infoTypes would be appended to the template's),
// else the masking file's, else the default.
func (d *DLP) inlineInspect() *dlppb.InspectConfig {
	switch {
	case d.cfg.InspectTemplateName != "":
		return nil
	case d.cfg.Inspect != nil:
		return d.cfg.Inspect
	}
	return DefaultConfig().Inspect
}

// templateCovers reports whether dc, built by RequestConfig, is exactly the
// masking file's infoTypeTransformations applied to every column, which is
// what a de-identify template holding those infoTypeTransformations does to
// a table. Then the template can be sent in its place.
func templateCovers(cfg *Config, dc *dlppb.DeidentifyConfig, masked []string) bool {
	itt := cfg.Deidentify.GetInfoTypeTransformations()
	fts := dc.GetRecordTransformations().GetFieldTransformations()
	if itt == nil || len(masked) > 0 || len(fts) != 1 {
		return false
	}
	return proto.Equal(fts[0].GetInfoTypeTransformations(), itt) && fts[0].GetCondition() == nil
}
