package dlpfake

import (
	"regexp"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Template names as DLP gives them: projects/P/locations/L/inspectTemplates/T
// or .../deidentifyTemplates/T (organization templates are not modelled).
var (
	inspectTemplateRE    = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/inspectTemplates/[^/]+$`)
	deidentifyTemplateRE = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/deidentifyTemplates/[^/]+$`)
)

// SetInspectTemplate stores an inspect template under its full name, as
// CreateInspectTemplate would (terraform/dlp.tf creates the real one).
func (s *Server) SetInspectTemplate(name string, ic *dlppb.InspectConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inspectTemplates == nil {
		s.inspectTemplates = map[string]*dlppb.InspectConfig{}
	}
	s.inspectTemplates[name] = proto.Clone(ic).(*dlppb.InspectConfig)
}

// SetDeidentifyTemplate stores a de-identify template under its full name.
func (s *Server) SetDeidentifyTemplate(name string, dc *dlppb.DeidentifyConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deidentifyTemplates == nil {
		s.deidentifyTemplates = map[string]*dlppb.DeidentifyConfig{}
	}
	s.deidentifyTemplates[name] = proto.Clone(dc).(*dlppb.DeidentifyConfig)
}

// effectiveInspect merges a request's inline inspectConfig over the template
// it names, the way DLP documents it for inspect_template_name: "Singular
// fields that are set in this request will replace their corresponding fields
// in the template. Repeated fields are appended. Singular sub-messages and
// groups are recursively merged." That is proto.Merge(template, inline). A
// name that is malformed is InvalidArgument; an unknown one NotFound.
func (s *Server) effectiveInspect(name string, inline *dlppb.InspectConfig) (*dlppb.InspectConfig, error) {
	if name == "" {
		return inline, nil
	}
	if !inspectTemplateRE.MatchString(name) {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid inspect template name")
	}
	s.mu.Lock()
	tmpl, ok := s.inspectTemplates[name]
	s.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Inspect template not found")
	}
	out := proto.Clone(tmpl).(*dlppb.InspectConfig)
	if inline != nil {
		proto.Merge(out, inline)
	}
	return out, nil
}

// effectiveDeidentify is effectiveInspect for deidentify_template_name. A
// oneof set inline (recordTransformations over a template's
// infoTypeTransformations, say) replaces the template's, as proto.Merge does.
func (s *Server) effectiveDeidentify(name string, inline *dlppb.DeidentifyConfig) (*dlppb.DeidentifyConfig, error) {
	if name == "" {
		return inline, nil
	}
	if !deidentifyTemplateRE.MatchString(name) {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid deidentify template name")
	}
	s.mu.Lock()
	tmpl, ok := s.deidentifyTemplates[name]
	s.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Deidentify template not found")
	}
	out := proto.Clone(tmpl).(*dlppb.DeidentifyConfig)
	if inline != nil {
		proto.Merge(out, inline)
	}
	return out, nil
}
