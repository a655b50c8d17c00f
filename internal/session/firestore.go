package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/internal/logging"
)

// Firestore is the Store used in the cloud. Layout, per session id:
//
//	sessions/{id}                  the session without its timeline, plus
//	                               indexed fields (sort_key, readers,
//	                               conversation_id, version, expire_at)
//	sessions/{id}/events/{seq}     one timeline event each (seq zero padded)
//	sessions/{id}/pages/{index}    one page of masked rows each
//	sessions/{id}/versions/{n}     one empty marker per stored version, only
//	                               with UseVersionMarkers (see below)
//
// Every document carries expire_at when the session has ExpireAt, and a TTL
// policy on each of the four collection groups deletes them (terraform/
// firestore.tf). Every write is checked by CheckWrite or CheckPage, the
// document rule both stores share, before anything is sent, so an
// oversized write fails with ErrDocumentTooLarge instead of half way
// through a commit.
//
// Update reads the session (and the events this process has not seen, see
// eventCache) in a transaction and commits. Firestore's transactions are
// serializable: a transaction fails if a document it read was changed
// before it commits, and the client retries it (firestore docs,
// "Data contention in transactions"), so two writers that read the same
// version cannot both commit.
//
// The npm emulator's transactions do not isolate, and it ignores
// update_time preconditions: without help, two concurrent Updates there
// both commit and one is lost (the conformance suite's
// ConcurrentUpdatesAreSerialized failed in 2 of 4 runs). UseVersionMarkers
// makes the same guarantee hold there: each Update then commits, as its
// first write, the creation of versions/{version+1}, which only one of two
// writers that read the same version can create. Production does not set
// it; it would cost one write and one TTL delete per Update.
type Firestore struct {
	client *firestore.Client
	now    func() time.Time
	poll   time.Duration

	waiters waiters
	events  eventCache
	markers bool
}

var _ Store = (*Firestore)(nil)

const (
	sessionsCollection = "sessions"
	eventsCollection   = "events"
	pagesCollection    = "pages"
	versionsCollection = "versions"

	updateAttempts = 20
)

// OpenFirestore connects to the Firestore database (use "(default)" for the
// default one) of project. Pass option.WithGRPCConn to reach an emulator.
func OpenFirestore(ctx context.Context, project, database string, opts ...option.ClientOption) (*Firestore, error) {
	if database == "" {
		database = firestore.DefaultDatabaseID
	}
	c, err := firestore.NewClientWithDatabase(ctx, project, database, opts...)
	if err != nil {
		return nil, fmt.Errorf("open firestore: %w", err)
	}
	return &Firestore{client: c, now: time.Now, poll: 250 * time.Millisecond}, nil
}

// UseVersionMarkers makes every write of a session create a version marker
// document, which serializes concurrent Updates on the npm Firestore
// emulator (see the type's comment). Call it before the store is used, and
// only for the emulator: Firestore's own transactions do not need it.
func (f *Firestore) UseVersionMarkers() { f.markers = true }

// Close implements Store.
func (f *Firestore) Close() error { return f.client.Close() }

func (f *Firestore) sessionRef(id string) *firestore.DocumentRef {
	return f.client.Collection(sessionsCollection).Doc(id)
}

func eventID(seq int64) string      { return fmt.Sprintf("%010d", seq) }
func pageID(index int) string       { return fmt.Sprintf("%06d", index) }
func versionID(v int64) string      { return fmt.Sprintf("%010d", v) }
func sortKey(s *Session) string     { return fmt.Sprintf("%020d/%s", s.CreatedAt.UnixNano(), s.ID) }
func grpcCode(err error) codes.Code { return status.Code(err) }

// validSortKey reports whether tok has sortKey's form: 20 digits, a slash
// and an id.
func validSortKey(tok string) bool {
	if len(tok) < 22 || tok[20] != '/' {
		return false
	}
	for _, c := range tok[:20] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// sessionFields is the stored form of a session document. "doc" holds the
// session as JSON without its timeline, which keeps the stored record
// identical to what the SQLite store keeps; the other fields exist for
// queries and TTL.
func sessionFields(s *Session) (map[string]any, error) {
	c := *s
	c.Timeline = nil
	doc, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	readers := s.Readers
	if readers == nil {
		readers = []string{}
	}
	m := map[string]any{
		"doc":             doc,
		"sort_key":        sortKey(s),
		"created_at":      s.CreatedAt,
		"updated_at":      s.UpdatedAt,
		"conversation_id": s.ConversationID,
		"readers":         readers,
		"version":         s.Version,
		"status":          string(s.Status),
		"principal":       s.Principal.Email,
		"event_count":     int64(len(s.Timeline)),
	}
	if n := len(s.Timeline); n > 0 {
		m["last_event_hash"] = s.Timeline[n-1].Hash
	} else {
		m["last_event_hash"] = GenesisHash
	}
	addExpire(m, s.ExpireAt)
	return m, nil
}

func addExpire(m map[string]any, at time.Time) {
	if !at.IsZero() {
		m["expire_at"] = at
	}
}

func eventFields(s *Session, e Event) (map[string]any, error) {
	doc, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	m := map[string]any{"doc": doc, "seq": e.Seq, "type": string(e.Type), "time": e.Time, "hash": e.Hash}
	addExpire(m, s.ExpireAt)
	return m, nil
}

func versionFields(s *Session) map[string]any {
	m := map[string]any{"version": s.Version, "updated_at": s.UpdatedAt}
	addExpire(m, s.ExpireAt)
	return m
}

func decodeSession(ds *firestore.DocumentSnapshot) (*Session, error) {
	raw, err := ds.DataAt("doc")
	if err != nil {
		return nil, fmt.Errorf("decode session %s: %w", ds.Ref.ID, err)
	}
	b, ok := raw.([]byte)
	if !ok {
		return nil, fmt.Errorf("decode session %s: doc is %T", ds.Ref.ID, raw)
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode session %s: %w", ds.Ref.ID, err)
	}
	return &s, nil
}

// Create implements Store.
func (f *Firestore) Create(ctx context.Context, sess *Session) error {
	if sess.ID == "" {
		return errors.New("create session: empty id")
	}
	sess.Version = 1
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = f.now().UTC()
	}
	sess.UpdatedAt = sess.CreatedAt
	if err := CheckWrite(sess.ID, nil, sess); err != nil {
		return err
	}
	fields, err := sessionFields(sess)
	if err != nil {
		return err
	}
	ref := f.sessionRef(sess.ID)
	err = f.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		// The session document goes first: on the emulator, whose commits
		// are not atomic, a taken id then writes nothing.
		if err := tx.Create(ref, fields); err != nil {
			return err
		}
		if f.markers {
			if err := tx.Create(ref.Collection(versionsCollection).Doc(versionID(1)), versionFields(sess)); err != nil {
				return err
			}
		}
		for _, e := range sess.Timeline {
			ef, err := eventFields(sess, e)
			if err != nil {
				return err
			}
			if err := tx.Create(ref.Collection(eventsCollection).Doc(eventID(e.Seq)), ef); err != nil {
				return err
			}
		}
		return nil
	})
	if grpcCode(err) == codes.AlreadyExists {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	f.events.put(sess.ID, sess.Timeline)
	f.waiters.notify(sess.ID)
	return nil
}

// Get implements Store. It reads the session and the events stored since
// this process last saw them (see eventCache) in one read-only
// transaction, so the timeline matches the session's version.
func (f *Firestore) Get(ctx context.Context, id string) (*Session, error) {
	for attempt := 0; ; attempt++ {
		var out *Session
		err := f.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			s, err := f.read(tx, id)
			out = s
			return err
		}, firestore.ReadOnly)
		if errors.Is(err, errTimelineBehind) && attempt < updateAttempts {
			if cerr := sleepCtx(ctx, time.Duration(attempt+1)*5*time.Millisecond); cerr != nil {
				return nil, cerr
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// read loads a session and its timeline inside tx.
func (f *Firestore) read(tx *firestore.Transaction, id string) (*Session, error) {
	ref := f.sessionRef(id)
	ds, err := tx.Get(ref)
	if grpcCode(err) == codes.NotFound {
		f.events.drop(id)
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	s, err := decodeSession(ds)
	if err != nil {
		return nil, err
	}
	s.Timeline, err = f.timeline(id, ref, readHead(ds), func(q firestore.Query) ([]*firestore.DocumentSnapshot, error) {
		return tx.Documents(q).GetAll()
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Update implements Store. The timeline is append-only: fn may add events
// (with AddEvent) but an Update that changes or drops a stored event fails.
func (f *Firestore) Update(ctx context.Context, id string, fn func(*Session) error) (*Session, error) {
	ref := f.sessionRef(id)
	var out *Session
	for attempt := 0; attempt < updateAttempts; attempt++ {
		err := f.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			sess, err := f.read(tx, id)
			if err != nil {
				return err
			}
			old := copyEvents(sess.Timeline) // deep: fn may edit an event's data in place
			oldExpire := sess.ExpireAt
			if err := fn(sess); err != nil {
				return err
			}
			// A changed retention is copied onto every document of the
			// session, so TTL deletes them together.
			var retag []*firestore.DocumentRef
			if !sess.ExpireAt.Equal(oldExpire) {
				for _, c := range []string{eventsCollection, pagesCollection, versionsCollection} {
					docs, err := tx.Documents(ref.Collection(c)).GetAll()
					if err != nil {
						return fmt.Errorf("update session %s: read %s: %w", id, c, err)
					}
					for _, d := range docs {
						retag = append(retag, d.Ref)
					}
				}
			}
			sess.ID = id
			sess.Version++
			sess.UpdatedAt = f.now().UTC()
			if err := CheckWrite(id, old, sess); err != nil {
				return err
			}
			fields, err := sessionFields(sess)
			if err != nil {
				return err
			}
			// The version marker goes first; see the type's comment.
			if f.markers {
				if err := tx.Create(ref.Collection(versionsCollection).Doc(versionID(sess.Version)), versionFields(sess)); err != nil {
					return err
				}
			}
			if err := tx.Set(ref, fields); err != nil {
				return err
			}
			for _, e := range sess.Timeline[len(old):] {
				ef, err := eventFields(sess, e)
				if err != nil {
					return err
				}
				if err := tx.Create(ref.Collection(eventsCollection).Doc(eventID(e.Seq)), ef); err != nil {
					return err
				}
			}
			var expire any = firestore.Delete
			if !sess.ExpireAt.IsZero() {
				expire = sess.ExpireAt
			}
			for _, r := range retag {
				if err := tx.Update(r, []firestore.Update{{Path: "expire_at", Value: expire}}); err != nil {
					return err
				}
			}
			out = sess
			return nil
		})
		if grpcCode(err) == codes.AlreadyExists || errors.Is(err, errTimelineBehind) {
			// Another writer stored this version first, or its events
			// are not readable yet: read again.
			if cerr := sleepCtx(ctx, time.Duration(attempt+1)*5*time.Millisecond); cerr != nil {
				return nil, cerr
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		f.events.put(id, out.Timeline)
		f.waiters.notify(id)
		return out, nil
	}
	return nil, ErrConflict
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// List implements Store. The page token is the sort_key of the last session
// returned; the queries need the composite indexes in terraform/firestore.tf
// (readers + sort_key, conversation_id + sort_key, and all three).
func (f *Firestore) List(ctx context.Context, q ListQuery) (*ListResult, error) {
	size := q.PageSize
	if size <= 0 || size > 1000 {
		size = 50
	}
	query := f.client.Collection(sessionsCollection).Query
	if q.Reader != "" {
		query = query.Where("readers", "array-contains", q.Reader)
	}
	if q.ConversationID != "" {
		query = query.Where("conversation_id", "==", q.ConversationID)
	}
	if q.PageToken != "" {
		if !validSortKey(q.PageToken) {
			return nil, ErrBadPageToken
		}
		// A filter rather than StartAfter: the emulator ignores cursors.
		query = query.Where("sort_key", "<", q.PageToken)
	}
	docs, err := query.OrderBy("sort_key", firestore.Desc).Limit(size + 1).Documents(ctx).GetAll()
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	res := &ListResult{}
	for i, d := range docs {
		if i == size {
			res.NextPageToken = sortKey(res.Sessions[size-1])
			break
		}
		s, err := decodeSession(d)
		if err != nil {
			return nil, err
		}
		res.Sessions = append(res.Sessions, s)
	}
	return res, nil
}

// PutPage implements Store.
func (f *Firestore) PutPage(ctx context.Context, id string, p *Page) error {
	if err := CheckPage(id, p); err != nil {
		return err
	}
	ref := f.sessionRef(id)
	err := f.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		ds, err := tx.Get(ref)
		if grpcCode(err) == codes.NotFound {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		s, err := decodeSession(ds)
		if err != nil {
			return err
		}
		// Rows are stored as bytes, not as a string or a map: the stored
		// value is exactly what the agent received.
		m := map[string]any{"index": int64(p.Index), "count": int64(p.Count), "rows": []byte(p.Rows)}
		addExpire(m, s.ExpireAt)
		return tx.Set(ref.Collection(pagesCollection).Doc(pageID(p.Index)), m)
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("put page: %w", err)
	}
	return nil
}

// GetPage implements Store.
func (f *Firestore) GetPage(ctx context.Context, id string, index int) (*Page, error) {
	ds, err := f.sessionRef(id).Collection(pagesCollection).Doc(pageID(index)).Get(ctx)
	if grpcCode(err) == codes.NotFound {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get page: %w", err)
	}
	var stored struct {
		Index int64  `firestore:"index"`
		Count int64  `firestore:"count"`
		Rows  []byte `firestore:"rows"`
	}
	if err := ds.DataTo(&stored); err != nil {
		return nil, fmt.Errorf("decode page: %w", err)
	}
	rows := stored.Rows
	if rows == nil {
		rows = []byte{}
	}
	return &Page{Index: int(stored.Index), Count: int(stored.Count), Rows: json.RawMessage(rows)}, nil
}

// Wait implements Store. It listens to the session document (a Firestore
// snapshot listener), so a change written by any instance wakes it at once.
// If the listener fails, it falls back to polling the version field.
func (f *Firestore) Wait(ctx context.Context, id string, afterVersion int64) (*Session, error) {
	bg := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		return f.Get(bg, id)
	}
	it := f.sessionRef(id).Snapshots(ctx)
	defer it.Stop()
	for {
		ds, err := it.Next()
		if ctx.Err() != nil {
			// Reads ignore ctx's end: when the wait is over, the current
			// state is the answer.
			return f.Get(bg, id)
		}
		if err != nil {
			logging.FromContext(ctx).WarnContext(ctx, "session store: listener failed, polling", "session_id", id, "error", err.Error())
			return f.waitPoll(ctx, id, afterVersion)
		}
		if !ds.Exists() {
			return nil, ErrNotFound
		}
		v, err := ds.DataAt("version")
		if err != nil {
			return nil, fmt.Errorf("read session version: %w", err)
		}
		if n, _ := v.(int64); n > afterVersion {
			return f.fromSnapshot(bg, ds)
		}
	}
}

// waitPoll is Wait by polling the session's version field. Changes made
// through this Firestore value wake it at once.
func (f *Firestore) waitPoll(ctx context.Context, id string, afterVersion int64) (*Session, error) {
	bg := context.WithoutCancel(ctx)
	for {
		ch := f.waiters.add(id)
		v, err := f.version(bg, id)
		if err != nil {
			f.waiters.drop(id, ch)
			return nil, err
		}
		if v > afterVersion || ctx.Err() != nil {
			f.waiters.drop(id, ch)
			return f.Get(bg, id)
		}
		t := time.NewTimer(f.poll)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		f.waiters.drop(id, ch)
	}
}

func (f *Firestore) version(ctx context.Context, id string) (int64, error) {
	ds, err := f.sessionRef(id).Get(ctx)
	if grpcCode(err) == codes.NotFound {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("read session version: %w", err)
	}
	v, err := ds.DataAt("version")
	if err != nil {
		return 0, fmt.Errorf("read session version: %w", err)
	}
	n, _ := v.(int64)
	return n, nil
}
