package deid_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	dlp "cloud.google.com/go/dlp/apiv2"
	"cloud.google.com/go/dlp/apiv2/dlppb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/deid/dlpfake"
)

const (
	inspectTmpl    = "projects/test/locations/global/inspectTemplates/querygate-cells"
	deidentifyTmpl = "projects/test/locations/global/deidentifyTemplates/querygate-cells"
)

// newTemplateDLP is a fake holding the default masking config as templates
// (what terraform/dlp.tf builds from the masking file) and an adapter whose
// config names them.
func newTemplateDLP(t *testing.T, inspect, deidentify string) (*deid.DLP, *dlpfake.Server) {
	t.Helper()
	srv, conn, stop, err := dlpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	def := deid.DefaultConfig()
	srv.SetInspectTemplate(inspectTmpl, def.Inspect)
	srv.SetDeidentifyTemplate(deidentifyTmpl, def.Deidentify)
	cfg, err := deid.WithTemplates(def, inspect, deidentify)
	if err != nil {
		t.Fatal(err)
	}
	d, err := deid.NewDLPWithOptions(context.Background(), cfg, parent,
		deid.DLPOptions{InitialBackoff: time.Millisecond, RequestsPerMinute: 600_000}, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	return d, srv
}

// A table masked by the masking file's infoTypeTransformations alone goes
// to DLP as the two template names with no inline config; a table with a
// lineage column needs record transformations, so its config goes inline
// (without the de-identify template's name, which DLP would merge under it)
// while the inspect template is still used by name.
func TestDLPUsesTemplatesByName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		req      *deid.Request
		wantRows [][]deid.Value
		want     dlpfake.Call
	}{
		{
			name:     "infoType transformations only",
			req:      &deid.Request{Table: &deid.Table{Headers: []string{"id", "note"}, Rows: [][]deid.Value{{int64(1), "mail a@b.io now"}}}},
			wantRows: [][]deid.Value{{int64(1), "mail [EMAIL_ADDRESS] now"}},
			want:     dlpfake.Call{InspectTemplate: inspectTmpl, DeidentifyTemplate: deidentifyTmpl},
		},
		{
			name: "lineage column",
			req: &deid.Request{
				Table:           &deid.Table{Headers: []string{"name", "note"}, Rows: [][]deid.Value{{"Jane Doe", "a@b.io"}}},
				ColumnInfoTypes: map[string][]string{"name": {"PERSON_NAME"}},
			},
			wantRows: [][]deid.Value{{"[PERSON_NAME]", "[EMAIL_ADDRESS]"}},
			want:     dlpfake.Call{InspectTemplate: inspectTmpl, InlineDeidentify: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, srv := newTemplateDLP(t, inspectTmpl, deidentifyTmpl)
			out, _, err := d.Deidentify(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantRows, out.Rows); diff != "" {
				t.Errorf("rows (-want, +got):\n%s", diff)
			}
			calls := srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("got %d calls, want 1: %v", len(calls), calls)
			}
			got := dlpfake.Call{InspectTemplate: calls[0].InspectTemplate, DeidentifyTemplate: calls[0].DeidentifyTemplate,
				InlineInspect: calls[0].InlineInspect, InlineDeidentify: calls[0].InlineDeidentify}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("what the request carried (-want, +got):\n%s", diff)
			}
		})
	}
}

// The profiler's inspector sends the inspect template and no inline
// infoTypes (DLP would append them to the template's).
func TestDLPInspectUsesTemplate(t *testing.T) {
	t.Parallel()
	d, srv := newTemplateDLP(t, inspectTmpl, "")
	got, err := d.Inspect(context.Background(), []string{"a@b.io", "nothing here"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"EMAIL_ADDRESS"}, nil}, got); diff != "" {
		t.Errorf("findings (-want, +got):\n%s", diff)
	}
	c := srv.Calls()
	if len(c) != 1 || c[0].InspectTemplate != inspectTmpl || c[0].InlineInspect {
		t.Errorf("calls = %+v, want one naming %s with no inline inspectConfig", c, inspectTmpl)
	}
}

// A template DLP does not have fails the request closed: no rows, an
// ErrDLP error naming the code, and no cell value in it.
func TestDLPUnknownTemplateFailsClosed(t *testing.T) {
	t.Parallel()
	missing := "projects/test/locations/global/deidentifyTemplates/gone"
	d, _ := newTemplateDLP(t, inspectTmpl, missing)
	out, _, err := d.Deidentify(context.Background(), &deid.Request{Table: &deid.Table{Headers: []string{"note"}, Rows: [][]deid.Value{{"secret a@b.io"}}}})
	if out != nil || !errors.Is(err, deid.ErrDLP) {
		t.Fatalf("Deidentify = %v, %v; want no table and ErrDLP", out, err)
	}
	if !strings.Contains(err.Error(), "NotFound") || strings.Contains(err.Error(), "a@b.io") {
		t.Errorf("error %q must name NotFound and no cell value", err)
	}
}

func TestWithTemplatesRejects(t *testing.T) {
	t.Parallel()
	named := deid.DefaultConfig()
	named.InspectTemplateName = "projects/p/locations/l/inspectTemplates/other"
	tests := []struct {
		name                string
		cfg                 *deid.Config
		inspect, deidentify string
	}{
		{"inspect name of the wrong form", deid.DefaultConfig(), "inspectTemplates/t", ""},
		{"de-identify name of the wrong form", deid.DefaultConfig(), "", "projects/p/locations/l/inspectTemplates/t"},
		{"masking file names another template", named, inspectTmpl, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := deid.WithTemplates(tc.cfg, tc.inspect, tc.deidentify); !errors.Is(err, deid.ErrConfig) {
				t.Errorf("WithTemplates = %v, want ErrConfig", err)
			}
		})
	}
	cfg, err := deid.WithTemplates(deid.DefaultConfig(), inspectTmpl, "")
	if err != nil || cfg.InspectTemplateName != inspectTmpl || cfg.DeidentifyTemplateName != "" || cfg.Deidentify == nil {
		t.Errorf("WithTemplates(inspect only) = %+v, %v", cfg, err)
	}
}

// The fake merges inline config over a template as DLP documents: repeated
// infoTypes are appended, so an inline PHONE_NUMBER next to an EMAIL_ADDRESS
// template finds both.
func TestFakeMergesInlineOverTemplate(t *testing.T) {
	t.Parallel()
	srv, conn, stop, err := dlpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	srv.SetInspectTemplate(inspectTmpl, &dlppb.InspectConfig{InfoTypes: []*dlppb.InfoType{{Name: "EMAIL_ADDRESS"}}})
	cfg := deid.DefaultConfig()
	cfg.Inspect = &dlppb.InspectConfig{InfoTypes: []*dlppb.InfoType{{Name: "PHONE_NUMBER"}}}
	d, err := deid.NewDLPWithOptions(context.Background(), cfg, parent, deid.DLPOptions{RequestsPerMinute: 600_000}, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	// Without the template, the inline config alone: no e-mail finding.
	got, err := d.Inspect(context.Background(), []string{"a@b.io", "+1 415 555 0100"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{nil, {"PHONE_NUMBER"}}, got); diff != "" {
		t.Errorf("inline only (-want, +got):\n%s", diff)
	}
	// The raw request, template plus inline: both infoTypes.
	client := dlpClient(t, conn)
	resp, err := client.InspectContent(context.Background(), &dlppb.InspectContentRequest{Parent: parent, InspectTemplateName: inspectTmpl, InspectConfig: cfg.Inspect,
		Item: &dlppb.ContentItem{DataItem: &dlppb.ContentItem_Table{Table: &dlppb.Table{Headers: []*dlppb.FieldId{{Name: "v"}},
			Rows: []*dlppb.Table_Row{{Values: []*dlppb.Value{{Type: &dlppb.Value_StringValue{StringValue: "a@b.io +1 415 555 0100"}}}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var its []string
	for _, f := range resp.GetResult().GetFindings() {
		its = append(its, f.GetInfoType().GetName())
	}
	if diff := cmp.Diff([]string{"EMAIL_ADDRESS", "PHONE_NUMBER"}, its); diff != "" {
		t.Errorf("template + inline (-want, +got):\n%s", diff)
	}
}

func dlpClient(t *testing.T, conn *grpc.ClientConn) *dlp.Client {
	t.Helper()
	c, err := dlp.NewClient(context.Background(), option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
