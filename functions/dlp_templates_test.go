package functions

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/config"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/deid/dlpfake"
)

// The DLP template names terraform/services.tf sets reach the cloud DLP
// adapter: its requests name the templates, and a malformed name stops the
// function at start.
func TestCloudDLPUsesTemplates(t *testing.T) {
	t.Parallel()
	const (
		inspect    = "projects/qg-billing/locations/global/inspectTemplates/querygate-cells"
		deidentify = "projects/qg-billing/locations/global/deidentifyTemplates/querygate-cells"
	)
	fake, conn, stop, err := dlpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	def := deid.DefaultConfig()
	fake.SetInspectTemplate(inspect, def.Inspect)
	fake.SetDeidentifyTemplate(deidentify, def.Deidentify)

	newCloud := func(env map[string]string) *cloud {
		c := &cloud{dlpOptions: []option.ClientOption{option.WithGRPCConn(conn)}}
		env["QUERYGATE_PROJECT"], env["QUERYGATE_LOCATION"] = "qg-billing", "global"
		if err := config.Process(config.MapLookuper(env), &c.cfg); err != nil {
			t.Fatal(err)
		}
		return c
	}
	d, err := newCloud(map[string]string{"QUERYGATE_DLP_INSPECT_TEMPLATE": inspect, "QUERYGATE_DLP_DEIDENTIFY_TEMPLATE": deidentify}).dlp(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := d.Deidentify(context.Background(), &deid.Request{Table: &deid.Table{Headers: []string{"note"}, Rows: [][]deid.Value{{"a@b.io"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Rows[0][0] != "[EMAIL_ADDRESS]" {
		t.Errorf("masked cell = %v, want [EMAIL_ADDRESS]", out.Rows[0][0])
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].InspectTemplate != inspect || calls[0].DeidentifyTemplate != deidentify || calls[0].InlineDeidentify || calls[0].InlineInspect {
		t.Errorf("DLP calls = %+v, want one naming both templates with no inline config", calls)
	}

	if _, err := newCloud(map[string]string{"QUERYGATE_DLP_INSPECT_TEMPLATE": "querygate-cells"}).dlp(context.Background()); !errors.Is(err, deid.ErrConfig) {
		t.Errorf("a malformed template name: err = %v, want deid.ErrConfig", err)
	}
}
