package functions

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/goccy/bigquery-emulator/types"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/catalog"
	"github.com/querygate/querygate/internal/config"
	"github.com/querygate/querygate/internal/deid/dlpfake"
	"github.com/querygate/querygate/internal/gateway"
	"github.com/querygate/querygate/internal/logging"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/testing/firestoreemu"
)

// TestCloudComposition builds the step functions' components as the cloud
// does (stepComponents: environment -> Config -> setup.Build), on the
// BigQuery emulator, the Firestore emulator as session store and the DLP
// adapter over the in-process DLP fake, and checks the wiring of issue 12
// finding 5:
//   - the profiler: a table no policy lists is classified through DLP
//     inspection, its profile lands in Firestore and the decision masks
//     what profiling found;
//   - the dry run: the decision's byte estimate comes from BigQuery's dry
//     run (with no dry runner it would be a table-size estimate);
//   - the logger and clock from the context and the cloud struct;
//   - QUERYGATE_DATA_PROJECT as the default project of unqualified names,
//     distinct from QUERYGATE_PROJECT.
func TestCloudComposition(t *testing.T) {
	ctx := context.Background()
	emu := firestoreemu.ForTest(t)
	fsOpts, err := emu.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	const dataProject = "querygate-local"
	store, err := session.OpenFirestore(ctx, "cloud-composition-test", "(default)", fsOpts...)
	if err != nil {
		t.Fatal(err)
	}
	// The npm emulator needs version markers to serialize concurrent
	// Updates (session.Firestore's comment); Firestore does not.
	store.UseVersionMarkers()
	defer store.Close()

	tbl := &types.Table{ID: "people", Columns: []*types.Column{
		{Name: "contact", Type: types.STRING, Mode: types.NullableMode},
		{Name: "region", Type: types.STRING, Mode: types.NullableMode},
	}}
	for i := 0; i < 12; i++ {
		tbl.Data = append(tbl.Data, map[string]any{"contact": fmt.Sprintf("person%02d@example.org", i), "region": "north"})
	}
	bqSrv, err := bqlocal.Start(ctx, bqlocal.Options{Project: dataProject, Projects: []*types.Project{{ID: dataProject, Datasets: []*types.Dataset{{ID: "crm", Tables: []*types.Table{tbl}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer bqSrv.Close()
	bq, err := bqlocal.Client(ctx, bqSrv.Endpoint(), dataProject)
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()

	fake, conn, stop, err := dlpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	c := &cloud{store: store, bq: bq, now: func() time.Time { return at }, dlpOptions: []option.ClientOption{option.WithGRPCConn(conn)}}
	env := map[string]string{"QUERYGATE_PROJECT": "qg-billing", "QUERYGATE_DATA_PROJECT": dataProject, "QUERYGATE_LOCATION": "global"}
	if err := config.Process(config.MapLookuper(env), &c.cfg); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	comps, err := c.stepComponents(logging.WithLogger(ctx, logger))
	if err != nil {
		t.Fatal(err)
	}

	if comps.Profiler == nil {
		t.Error("the engine has no profiler")
	}
	if _, ok := comps.DryRunner.(*catalog.DryRunner); !ok {
		t.Errorf("the engine's dry runner is %T, want *catalog.DryRunner", comps.DryRunner)
	}
	st := comps.Steps
	if st.Logger != logger {
		t.Error("the steps do not log to the context's logger")
	}
	if st.Now == nil || !st.Now().Equal(at) {
		t.Error("the steps do not use the injected clock")
	}
	if st.Project != dataProject || st.ResultsDataset != "querygate_results" {
		t.Errorf("steps project %q, results dataset %q; want %q, querygate_results", st.Project, st.ResultsDataset, dataProject)
	}
	if want := (map[string]any{"max_rows": int64(10000), "max_bytes": int64(8388608), "job_timeout": 5 * time.Minute}); st.Limits.MaxRows != want["max_rows"] || st.Limits.MaxBytes != want["max_bytes"] || st.Limits.JobTimeout != want["job_timeout"] {
		t.Errorf("steps limits = %+v, want %v", st.Limits, want)
	}
	ep, ok := st.Policy.(*gateway.EnginePolicy)
	if !ok || ep.Engine != comps.Engine || ep.DefaultProject != dataProject {
		t.Fatalf("steps policy = %#v, want the composition's engine with default project %s", st.Policy, dataProject)
	}

	d, err := ep.Engine.Evaluate(ctx, policy.Input{SQL: "SELECT contact, region FROM crm.people", DefaultProject: ep.DefaultProject,
		Groups: []string{"analysts"}, Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"contact": {"EMAIL_ADDRESS"}}, d.ColumnInfoTypes); diff != "" {
		t.Errorf("masked columns (-want, +got):\n%s\ndecision %s %v", diff, d.Action, d.Reasons)
	}
	if d.Action != policy.ActionAllow || d.EstimateSource != policy.EstimateDryRun {
		t.Errorf("decision = %s %v, estimate from %q; want allow with the estimate from the dry run", d.Action, d.RuleIDs, d.EstimateSource)
	}
	prof, err := store.GetProfile(ctx, dataProject+".crm.people")
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
