package functions

import (
	"context"
	"fmt"
	"testing"

	"github.com/goccy/bigquery-emulator/types"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/deid/dlpfake"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/testing/firestoreemu"
)

// TestCloudEngineProfiles builds the cloud policy engine as the policy
// function does (cloud.engine, from steps), on the BigQuery emulator, the
// Firestore emulator as session store and the DLP adapter over the
// in-process DLP fake, and checks that profiling is wired: a table no
// policy lists is classified through DLP inspection, its profile lands in
// Firestore, and the decision masks what profiling found.
func TestCloudEngineProfiles(t *testing.T) {
	ctx := context.Background()
	emu := firestoreemu.ForTest(t)
	fsOpts, err := emu.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	const project = "querygate-local"
	store, err := session.OpenFirestore(ctx, "cloud-engine-test", "(default)", fsOpts...)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	tbl := &types.Table{ID: "people", Columns: []*types.Column{
		{Name: "contact", Type: types.STRING, Mode: types.NullableMode},
		{Name: "region", Type: types.STRING, Mode: types.NullableMode},
	}}
	for i := 0; i < 12; i++ {
		tbl.Data = append(tbl.Data, map[string]any{"contact": fmt.Sprintf("person%02d@example.org", i), "region": "north"})
	}
	bqSrv, err := bqlocal.Start(ctx, bqlocal.Options{Project: project, Projects: []*types.Project{{ID: project, Datasets: []*types.Dataset{{ID: "crm", Tables: []*types.Table{tbl}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer bqSrv.Close()
	bq, err := bqlocal.Client(ctx, bqSrv.Endpoint(), project)
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()

	fake, conn, stop, err := dlpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	dlp, err := deid.NewDLPWithOptions(ctx, deid.DefaultConfig(), "projects/"+project+"/locations/global",
		deid.DLPOptions{RequestsPerMinute: 600_000}, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}

	c := &cloud{store: store, bq: bq}
	c.cfg.Project = project
	e, err := c.engine(policy.Default(), dlp)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Evaluate(ctx, policy.Input{SQL: "SELECT contact, region FROM crm.people", Groups: []string{"analysts"}, Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// The emulator's dry run may disagree with the analysis (it runs the
	// query); the classification is made before it either way.
	if diff := cmp.Diff(map[string][]string{"contact": {"EMAIL_ADDRESS"}}, d.ColumnInfoTypes); diff != "" {
		t.Errorf("masked columns (-want, +got):\n%s\ndecision %s %v", diff, d.Action, d.Reasons)
	}
	prof, err := store.GetProfile(ctx, project+".crm.people")
	if err != nil {
		t.Fatalf("no profile in Firestore: %v", err)
	}
	if prof.SampledRows != 12 || len(prof.Columns) != 2 || prof.Columns[0].Matches["EMAIL_ADDRESS"] != 12 {
		t.Errorf("stored profile = %+v", prof)
	}
	inspected := 0
	for _, call := range fake.Calls() {
		if call.Rows > 0 {
			inspected += call.Rows
		}
	}
	if inspected != 24 {
		t.Errorf("DLP fake saw %d cells, want 24 (two columns of 12)", inspected)
	}
}
