package dlpfake_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"testing"

	dlp "cloud.google.com/go/dlp/apiv2"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/deid/dlpfake"
	"github.com/querygate/querygate/testing/cloudtier"
)

// TestInventedBehaviour sends testing/cloudtier's DLP probes to the fake and
// compares each outcome's code, and whether the adapter would split on it,
// with testing/cloudtier/testdata/dlp.json. That file holds the fake's own
// answers until a cloud-tier run records the real service's
// (QUERYGATE_TEST_RECORD=1, docs/deploy.md); then a difference here is the
// fake inventing something, to fix in the fake. Messages are recorded for
// people and not compared.
func TestInventedBehaviour(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	rec, err := cloudtier.Load(filepath.Join(filepath.Dir(file), "..", "..", "..", "testing", "cloudtier", "testdata", "dlp.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, conn, stop, err := dlpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	c, err := dlp.NewClient(context.Background(), option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cloudtier.Outcome{}
	for _, p := range cloudtier.DLPProbes() {
		o := cloudtier.OutcomeOf(p.Call(context.Background(), c, "projects/test/locations/global"))
		got[p.Name] = cloudtier.Outcome{Code: o.Code, LimitError: o.LimitError}
	}
	want := map[string]cloudtier.Outcome{}
	for k, o := range rec.Outcomes {
		want[k] = cloudtier.Outcome{Code: o.Code, LimitError: o.LimitError}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		all, _ := json.Marshal(got)
		t.Errorf("the fake's outcomes vs testdata/dlp.json (%s) (-recorded, +fake):\n%s\nfake: %s", rec.Source, diff, all)
	}
}
