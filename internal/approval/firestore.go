package approval

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FirestoreCollection is the collection that holds one document per
// session's approval request, keyed by session id.
const FirestoreCollection = "approval_requests"

// ExpireGrace is how long after a request's ExpiresAt its document's
// expire_at field lies. A Firestore TTL policy on
// approval_requests.expire_at deletes requests after that; the grace keeps
// a request readable while a decision made just before expiry is still
// being delivered to the workflow.
const ExpireGrace = 7 * 24 * time.Hour

// Firestore is the StateStore used in the cloud. Each request is one
// document approval_requests/{session_id}:
//
//	callback_url     string
//	expires_at       string, RFC 3339 with nanoseconds, UTC
//	created_at       string, the same form
//	delivered_at     string, the same form; "" while not delivered
//	notified         array of approver emails, in the order they were mailed
//	expire_at        timestamp, ExpiresAt + ExpireGrace, for a TTL policy
//
// The three times are strings, not Firestore timestamps, because timestamps
// hold only microseconds and the store must give back the instants it was
// given, like the SQLite store does (Unix nanoseconds as integers would
// also do on Firestore, but the emulator keeps integers as JavaScript
// numbers and rejects those above 2^53).
//
// Begin, Get, MarkNotified and MarkDelivered use only the RPCs the npm
// emulator has (testing/firestoreemu): BatchGetDocuments (DocumentRef.Get,
// Transaction.Get), BeginTransaction and Commit with exists preconditions.
// MarkNotified is a single Commit with an array-union transform, so
// concurrent calls never lose an approver, on the emulator too. Begin
// creates with an exists=false precondition, so of two concurrent first
// calls one creates and the other retries as an update. MarkDelivered reads
// and writes in a transaction: Firestore serializes it, so the first
// delivery time wins; the emulator does not isolate transactions, so there
// two concurrent deliveries could both write.
type Firestore struct {
	client *firestore.Client
	coll   *firestore.CollectionRef
}

var _ StateStore = (*Firestore)(nil)

// OpenFirestore connects to the Firestore database (empty or "(default)"
// for the default one) of project. Pass option.WithGRPCConn to reach an
// emulator.
func OpenFirestore(ctx context.Context, project, database string, opts ...option.ClientOption) (*Firestore, error) {
	if database == "" {
		database = firestore.DefaultDatabaseID
	}
	c, err := firestore.NewClientWithDatabase(ctx, project, database, opts...)
	if err != nil {
		return nil, fmt.Errorf("open approval firestore: %w", err)
	}
	return &Firestore{client: c, coll: c.Collection(FirestoreCollection)}, nil
}

// Close implements StateStore.
func (f *Firestore) Close() error { return f.client.Close() }

// errBadID means the session id cannot be a Firestore document id, so no
// request can be stored under it.
var errBadID = errors.New("session id is not a valid document id")

// ref returns the document of session id. Firestore document ids may not
// contain a slash, be "." or "..", match __.*__ or exceed 1500 bytes;
// the client returns a nil reference for a slash, which would panic later.
func (f *Firestore) ref(id string) (*firestore.DocumentRef, error) {
	if id == "" || id == "." || id == ".." || strings.Contains(id, "/") || len(id) > 1500 ||
		(len(id) >= 4 && strings.HasPrefix(id, "__") && strings.HasSuffix(id, "__")) {
		return nil, fmt.Errorf("session %q: %w", id, errBadID)
	}
	return f.coll.Doc(id), nil
}

// Begin implements StateStore.
func (f *Firestore) Begin(ctx context.Context, r Request) (Request, error) {
	ref, err := f.ref(r.SessionID)
	if err != nil {
		return Request{}, fmt.Errorf("begin approval request: %w", err)
	}
	// A lost creation race shows as AlreadyExists (the emulator) or as a
	// retried transaction (Firestore); either way the next attempt updates.
	for attempt := 0; ; attempt++ {
		var out Request
		err = f.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			ds, err := tx.Get(ref)
			switch {
			case status.Code(err) == codes.NotFound:
				out = r
				out.Notified, out.DeliveredAt = nil, time.Time{}
				out.ExpiresAt, out.CreatedAt = r.ExpiresAt.UTC(), r.CreatedAt.UTC()
				return tx.Create(ref, map[string]any{
					"callback_url": r.CallbackURL,
					"expires_at":   fmtTime(r.ExpiresAt),
					"created_at":   fmtTime(r.CreatedAt),
					"delivered_at": "",
					// An empty array, not a missing field: the emulator
					// applies array-union only to an existing array.
					"notified":  []string{},
					"expire_at": r.ExpiresAt.Add(ExpireGrace).UTC(),
				})
			case err != nil:
				return err
			}
			if out, err = decodeRequest(ds); err != nil {
				return err
			}
			out.CallbackURL = r.CallbackURL
			return tx.Update(ref, []firestore.Update{{Path: "callback_url", Value: r.CallbackURL}})
		})
		if status.Code(err) == codes.AlreadyExists && attempt < 3 {
			continue
		}
		if err != nil {
			return Request{}, fmt.Errorf("begin approval request: %w", err)
		}
		return out, nil
	}
}

// Get implements StateStore.
func (f *Firestore) Get(ctx context.Context, id string) (Request, error) {
	ref, err := f.ref(id)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	ds, err := ref.Get(ctx)
	if status.Code(err) == codes.NotFound {
		return Request{}, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("get approval request: %w", err)
	}
	return decodeRequest(ds)
}

// MarkNotified implements StateStore.
func (f *Firestore) MarkNotified(ctx context.Context, id, approver string) error {
	ref, err := f.ref(id)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	// Update carries an exists=true precondition: a missing request is
	// NotFound instead of a new document.
	_, err = ref.Update(ctx, []firestore.Update{{Path: "notified", Value: firestore.ArrayUnion(approver)}})
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mark notified: %w", err)
	}
	return nil
}

// MarkDelivered implements StateStore.
func (f *Firestore) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	ref, err := f.ref(id)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	err = f.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		ds, err := tx.Get(ref)
		if err != nil {
			return err
		}
		r, err := decodeRequest(ds)
		if err != nil {
			return err
		}
		if !r.DeliveredAt.IsZero() {
			return nil
		}
		return tx.Update(ref, []firestore.Update{{Path: "delivered_at", Value: fmtTime(at)}})
	})
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	return nil
}

// storedRequest is the document's shape; firestore.DocumentSnapshot.DataTo
// fills it.
type storedRequest struct {
	CallbackURL string   `firestore:"callback_url"`
	ExpiresAt   string   `firestore:"expires_at"`
	CreatedAt   string   `firestore:"created_at"`
	DeliveredAt string   `firestore:"delivered_at"`
	Notified    []string `firestore:"notified"`
}

// Open implements StateStore. It queries the expire_at timestamp, a
// single-field range that needs no composite index (expire_at is
// ExpiresAt + ExpireGrace, and expiries are whole seconds, so the
// timestamp's microseconds lose nothing), and filters delivered requests
// here.
func (f *Firestore) Open(ctx context.Context, now time.Time, limit int) ([]Request, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []Request
	iter := f.coll.Where("expire_at", ">", now.Add(ExpireGrace).UTC()).OrderBy("expire_at", firestore.Asc).Documents(ctx)
	defer iter.Stop()
	for len(out) < limit {
		ds, err := iter.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list open approval requests: %w", err)
		}
		r, err := decodeRequest(ds)
		if err != nil {
			return nil, err
		}
		if r.DeliveredAt.IsZero() && r.ExpiresAt.After(now) {
			out = append(out, r)
		}
	}
	return out, nil
}

func decodeRequest(ds *firestore.DocumentSnapshot) (Request, error) {
	var s storedRequest
	if err := ds.DataTo(&s); err != nil {
		return Request{}, fmt.Errorf("decode approval request %s: %w", ds.Ref.ID, err)
	}
	r := Request{SessionID: ds.Ref.ID, CallbackURL: s.CallbackURL}
	var errs []error
	for _, f := range []struct {
		dst *time.Time
		src string
	}{{&r.ExpiresAt, s.ExpiresAt}, {&r.CreatedAt, s.CreatedAt}, {&r.DeliveredAt, s.DeliveredAt}} {
		var err error
		*f.dst, err = parseTime(f.src)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Request{}, fmt.Errorf("decode approval request %s: %w", ds.Ref.ID, err)
	}
	if len(s.Notified) > 0 {
		r.Notified = slices.Clone(s.Notified)
		slices.Sort(r.Notified)
		r.Notified = slices.Compact(r.Notified)
	}
	return r, nil
}

// fmtTime is the stored form of a time: "" for the zero time, else RFC 3339
// in UTC with nanoseconds.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// MarksCollection is the subcollection of a request document that holds
// Claim's marks, one document per mark.
const MarksCollection = "approval_marks"

// Claim implements StateStore. Each mark is a document of the request's
// MarksCollection, and creating it is the compare-and-set: Create fails
// with AlreadyExists for every caller but the first, across instances
// (and on the emulator, which does not isolate transactions). The mark
// carries the request's expire_at, so the TTL policy deletes it with it.
func (f *Firestore) Claim(ctx context.Context, id, mark string, at time.Time) (bool, error) {
	ref, err := f.ref(id)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	r, err := f.Get(ctx, id)
	if err != nil {
		return false, err
	}
	_, err = ref.Collection(MarksCollection).Doc(mark).Create(ctx, map[string]any{
		"at":        fmtTime(at),
		"expire_at": r.ExpiresAt.Add(ExpireGrace).UTC(),
	})
	switch status.Code(err) {
	case codes.OK:
		return true, nil
	case codes.AlreadyExists:
		return false, nil
	}
	return false, fmt.Errorf("claim %s: %w", mark, err)
}
