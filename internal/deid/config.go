package deid

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"
)

// Config is the masking configuration: Cloud DLP's own messages, so a DLP
// template's body can be pasted in.
//
// The file (YAML, or JSON, which is YAML) has this top-level shape; field names
// inside the DLP messages are protojson names (lowerCamelCase) or proto names
// (snake_case):
//
//	inspectConfig:          # google.privacy.dlp.v2.InspectConfig
//	  infoTypes: [{name: EMAIL_ADDRESS}, {name: PHONE_NUMBER}]
//	  customInfoTypes: [...]
//	deidentifyConfig:       # google.privacy.dlp.v2.DeidentifyConfig
//	  infoTypeTransformations: {transformations: [...]}
//	  # or recordTransformations: {fieldTransformations: [...]}
//	inspectTemplateName: projects/p/locations/l/inspectTemplates/t      # cloud only
//	deidentifyTemplateName: projects/p/locations/l/deidentifyTemplates/t # cloud only
//
// Unknown fields are an error that names the line.
type Config struct {
	Inspect    *dlppb.InspectConfig
	Deidentify *dlppb.DeidentifyConfig
	// InspectTemplateName and DeidentifyTemplateName, when set, make the DLP
	// adapter send the template instead of the inline message. The local
	// engine cannot read templates and rejects them.
	InspectTemplateName    string
	DeidentifyTemplateName string
}

var topLevel = map[string]string{
	"inspectConfig": "inspectConfig", "inspect_config": "inspectConfig",
	"deidentifyConfig": "deidentifyConfig", "deidentify_config": "deidentifyConfig",
	"inspectTemplateName": "inspectTemplateName", "inspect_template_name": "inspectTemplateName",
	"deidentifyTemplateName": "deidentifyTemplateName", "deidentify_template_name": "deidentifyTemplateName",
}

// LoadConfig parses a masking configuration (see Config for the shape). It is
// strict: an unknown field, at any depth, is an error naming its line.
func LoadConfig(src []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	cfg := &Config{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrConfig)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: line %d: top level must be a mapping", ErrConfig, root.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name, ok := topLevel[k.Value]
		if !ok {
			return nil, fmt.Errorf("%w: line %d: unknown field %q (want inspectConfig, deidentifyConfig, inspectTemplateName or deidentifyTemplateName)", ErrConfig, k.Line, k.Value)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: line %d: %s given twice", ErrConfig, k.Line, name)
		}
		seen[name] = true
		var err error
		switch name {
		case "inspectConfig":
			cfg.Inspect = &dlppb.InspectConfig{}
			err = decodeMessage(v, cfg.Inspect, name)
		case "deidentifyConfig":
			cfg.Deidentify = &dlppb.DeidentifyConfig{}
			err = decodeMessage(v, cfg.Deidentify, name)
		case "inspectTemplateName":
			err = v.Decode(&cfg.InspectTemplateName)
		case "deidentifyTemplateName":
			err = v.Decode(&cfg.DeidentifyTemplateName)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %s: %v", ErrConfig, v.Line, name, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate checks what both implementations need. The local engine checks its
// own subset in NewLocal.
func (c *Config) Validate() error {
	var errs []error
	if c.Deidentify == nil && c.DeidentifyTemplateName == "" {
		errs = append(errs, errors.New("deidentifyConfig or deidentifyTemplateName is required"))
	}
	if c.Deidentify != nil && c.Deidentify.GetTransformation() == nil {
		errs = append(errs, errors.New("deidentifyConfig needs infoTypeTransformations or recordTransformations"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}

// decodeMessage checks every key of n against m's descriptor (for line-exact
// errors), then decodes through protojson.
func decodeMessage(n *yaml.Node, m proto.Message, path string) error {
	if err := checkNode(n, m.ProtoReflect().Descriptor(), path); err != nil {
		return err
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	js, err := json.Marshal(jsonable(v))
	if err != nil {
		return err
	}
	if err := protojson.Unmarshal(js, m); err != nil {
		// protojson names the field, not the value.
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	return nil
}

// jsonable turns yaml.v3's decoded maps into ones encoding/json accepts.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = jsonable(e)
		}
		return t
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		for i, e := range t {
			t[i] = jsonable(e)
		}
	}
	return v
}

func checkNode(n *yaml.Node, md protoreflect.MessageDescriptor, path string) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		return fmt.Errorf("line %d: %s: aliases are not supported", n.Line, path)
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: want a mapping for %s", n.Line, path, md.FullName())
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fd := md.Fields().ByJSONName(k.Value)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(k.Value))
		}
		if fd == nil {
			return fmt.Errorf("line %d: unknown field %q in %s (%s)", k.Line, k.Value, path, md.Name())
		}
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			continue
		}
		sub := fd.Message()
		if fd.IsMap() || isWellKnown(sub) {
			continue
		}
		p := path + "." + k.Value
		if fd.IsList() {
			if v.Kind != yaml.SequenceNode {
				return fmt.Errorf("line %d: %s: want a list", v.Line, p)
			}
			for j, item := range v.Content {
				if err := checkNode(item, sub, fmt.Sprintf("%s[%d]", p, j)); err != nil {
					return err
				}
			}
			continue
		}
		if err := checkNode(v, sub, p); err != nil {
			return err
		}
	}
	return nil
}

func isWellKnown(md protoreflect.MessageDescriptor) bool {
	n := string(md.FullName())
	return strings.HasPrefix(n, "google.protobuf.") || strings.HasPrefix(n, "google.type.")
}

// DefaultConfig inspects every built-in infoType and replaces each finding with
// [INFO_TYPE]; columns whose lineage reaches an infoType become [INFO_TYPE].
func DefaultConfig() *Config {
	ic := &dlppb.InspectConfig{}
	for _, n := range builtinNames {
		ic.InfoTypes = append(ic.InfoTypes, &dlppb.InfoType{Name: n})
	}
	return &Config{
		Inspect: ic,
		Deidentify: &dlppb.DeidentifyConfig{
			Transformation: &dlppb.DeidentifyConfig_InfoTypeTransformations{
				InfoTypeTransformations: &dlppb.InfoTypeTransformations{
					Transformations: []*dlppb.InfoTypeTransformations_InfoTypeTransformation{{
						PrimitiveTransformation: &dlppb.PrimitiveTransformation{
							Transformation: &dlppb.PrimitiveTransformation_ReplaceWithInfoTypeConfig{
								ReplaceWithInfoTypeConfig: &dlppb.ReplaceWithInfoTypeConfig{},
							},
						},
					}},
				},
			},
		},
	}
}
