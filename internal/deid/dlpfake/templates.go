package dlpfake

import (
	"regexp"
	"sync"

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
	s.mu.Lock()
	store := s.inspectTemplates
	s.mu.Unlock()
	return effective(name, inline, "inspect", inspectTemplateRE, store, &s.mu)
}

// effectiveDeidentify is effectiveInspect for deidentify_template_name. A
// oneof set inline (recordTransformations over a template's
// infoTypeTransformations, say) replaces the template's, as proto.Merge does.
func (s *Server) effectiveDeidentify(name string, inline *dlppb.DeidentifyConfig) (*dlppb.DeidentifyConfig, error) {
	s.mu.Lock()
	store := s.deidentifyTemplates
	s.mu.Unlock()
	return effective(name, inline, "deidentify", deidentifyTemplateRE, store, &s.mu)
}

func effective[T proto.Message](name string, inline T, kind string, re *regexp.Regexp, store map[string]T, mu *sync.Mutex) (T, error) {
	var zero T
	if name == "" {
		return inline, nil
	}
	if !re.MatchString(name) {
		return zero, status.Errorf(codes.InvalidArgument, "Invalid %s template name", kind)
	}
	mu.Lock()
	tmpl, ok := store[name]
	mu.Unlock()
	if !ok {
		return zero, status.Errorf(codes.NotFound, "%s template not found", kind)
	}
	out := proto.Clone(tmpl).(T)
	if inline.ProtoReflect().IsValid() {
		proto.Merge(out, inline)
	}
	return out, nil
}
