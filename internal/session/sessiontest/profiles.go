package sessiontest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

// profiles checks the ProfileStore half of a Store: a missing profile is
// ErrNotFound, a stored one round-trips exactly, a second Put of the same
// table replaces it, tables do not see each other's profiles, and a profile
// without a table is refused.
func profiles(t *testing.T, f Factory) {
	ctx := context.Background()
	st := f(t)
	const table = "proj.ds.people"
	if _, err := st.GetProfile(ctx, table); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("GetProfile of an unprofiled table err = %v, want ErrNotFound", err)
	}
	mod := time.Date(2026, 11, 30, 8, 0, 0, 123_000_000, time.UTC)
	p := &session.TableProfile{Table: table, LastModified: mod, ProfiledAt: mod.Add(time.Hour), SampledRows: 40, SampledBytes: 4096,
		Columns: []session.ColumnProfile{
			{Name: "contact", InfoTypes: []string{"EMAIL_ADDRESS"}, NonNull: 40, Matches: map[string]int64{"EMAIL_ADDRESS": 38}},
			{Name: "region", NonNull: 40},
			{Name: "ssn_hint", InfoTypes: []string{"US_SOCIAL_SECURITY_NUMBER"}, NonNull: 3, Matches: map[string]int64{"US_SOCIAL_SECURITY_NUMBER": 1}, NameHint: "US_SOCIAL_SECURITY_NUMBER"},
		}}
	if err := st.PutProfile(ctx, p); err != nil {
		t.Fatalf("PutProfile: %v", err)
	}
	got, err := st.GetProfile(ctx, table)
	if err != nil {
		t.Fatalf("GetProfile: %v", err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("profile round trip (-want, +got):\n%s", diff)
	}
	if _, err := st.GetProfile(ctx, "proj.ds.people2"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("GetProfile of another table err = %v, want ErrNotFound", err)
	}
	p2 := &session.TableProfile{Table: table, LastModified: mod.Add(24 * time.Hour), ProfiledAt: mod.Add(25 * time.Hour), SampledRows: 1,
		Columns: []session.ColumnProfile{{Name: "contact", NonNull: 1}}}
	if err := st.PutProfile(ctx, p2); err != nil {
		t.Fatalf("second PutProfile: %v", err)
	}
	got, err = st.GetProfile(ctx, table)
	if err != nil {
		t.Fatalf("GetProfile after replace: %v", err)
	}
	if diff := cmp.Diff(p2, got); diff != "" {
		t.Errorf("replaced profile (-want, +got):\n%s", diff)
	}
	if err := st.PutProfile(ctx, &session.TableProfile{}); err == nil {
		t.Error("PutProfile without a table succeeded")
	}
}
