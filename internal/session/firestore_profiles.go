package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/codes"
)

// profilesCollection holds one document per profiled table:
//
//	table_profiles/{sha256(table)[:32]}   table, doc (the TableProfile as JSON)
//
// The id is a hash because table names may hold characters Firestore ids
// refuse (and names of 1,500 bytes); the table is stored in the document and
// checked on read. Profiles carry no expire_at: a profile is replaced when
// its table changes, and one of a deleted table is a few hundred bytes.
const profilesCollection = "table_profiles"

func profileID(table string) string {
	sum := sha256.Sum256([]byte(table))
	return hex.EncodeToString(sum[:16])
}

// GetProfile implements ProfileStore.
func (f *Firestore) GetProfile(ctx context.Context, table string) (*TableProfile, error) {
	ds, err := f.client.Collection(profilesCollection).Doc(profileID(table)).Get(ctx)
	if grpcCode(err) == codes.NotFound {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get profile: %w", err)
	}
	var stored struct {
		Table string `firestore:"table"`
		Doc   []byte `firestore:"doc"`
	}
	if err := ds.DataTo(&stored); err != nil {
		return nil, fmt.Errorf("decode profile of %s: %w", table, err)
	}
	if stored.Table != table {
		// A hash collision, or a document written by something else.
		return nil, ErrNotFound
	}
	var p TableProfile
	if err := json.Unmarshal(stored.Doc, &p); err != nil {
		return nil, fmt.Errorf("decode profile of %s: %w", table, err)
	}
	return &p, nil
}

// PutProfile implements ProfileStore.
func (f *Firestore) PutProfile(ctx context.Context, p *TableProfile) error {
	if err := checkProfile(p); err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	if len(b) > MaxProfileBytes {
		return fmt.Errorf("put profile of %s: %w: %d bytes", p.Table, ErrDocumentTooLarge, len(b))
	}
	_, err = f.client.Collection(profilesCollection).Doc(profileID(p.Table)).Set(ctx, map[string]any{"table": p.Table, "doc": b})
	if err != nil {
		return fmt.Errorf("put profile: %w", err)
	}
	return nil
}
