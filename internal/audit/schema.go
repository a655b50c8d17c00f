// Package audit writes querygate's audit dataset: one BigQuery row per
// session event, chained so that a changed, removed or inserted row is
// detectable, and verifies those chains.
//
// The table is tamper evident through:
//   - The session chain: each event's hash covers the previous event of its
//     session (session.EventHash). prev_hash and hash are copied from the
//     session store, so the table and the store can be checked against each
//     other. The store serializes a session's events, so any number of
//     writers can append them without reading the table.
//   - The day anchor: once a day one scheduled query (terraform/
//     audit_anchor.tf) writes into the anchors table a hash over the
//     distinct (session_id, seq, event_hash) of the previous UTC day, which
//     shows a removed, altered or added event, a removed whole session
//     included. VerifyDays recomputes it (AnchorHash).
//   - row_hash, on every row, over every other column.
//   - The day chain, on rows written before the anchor (chain_seq >= 1):
//     rows numbered per UTC day in write order, each row_hash covering the
//     previous row's (chain_prev). It needed one writer per day, which Cloud
//     Run cannot promise, so rows are no longer written with it (chain_seq
//     0, chain_prev empty); old rows still verify by it.
//
// The schema is defined once, by Schema; terraform/audit.tf declares the
// same columns and a test holds the two equal.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/querygate/querygate/internal/session"
)

// Column names. Schema, Row.Save and the queries of Writer and Verify use
// these constants, so a rename happens in one place.
const (
	colEventTime        = "event_time"
	colEventTimeText    = "event_time_text"
	colSessionID        = "session_id"
	colSeq              = "seq"
	colEventType        = "event_type"
	colActor            = "actor"
	colData             = "data"
	colPrevHash         = "prev_hash"
	colHash             = "event_hash"
	colPrincipal        = "principal"
	colPrincipalIssuer  = "principal_issuer"
	colPrincipalSubject = "principal_subject"
	colConversationID   = "conversation_id"
	colAgentName        = "agent_name"
	colAgentModel       = "agent_model"
	colSQLSHA256        = "sql_sha256"
	colChainDay         = "chain_day"
	colChainSeq         = "chain_seq"
	colChainPrev        = "chain_prev"
	colRecordedAt       = "recorded_at"
	colRowHash          = "row_hash"
	colHashVersion      = "hash_version"
)

// PartitionField is the column the table is partitioned on, by day.
const PartitionField = colEventTime

// ClusteringFields are the table's clustering columns.
var ClusteringFields = []string{colPrincipal}

// Schema returns the audit table's schema. It is the single definition:
// EnsureTable creates the table from it and terraform/audit.tf must match it.
func Schema() bigquery.Schema {
	req := func(name string, t bigquery.FieldType, desc string) *bigquery.FieldSchema {
		return &bigquery.FieldSchema{Name: name, Type: t, Required: true, Description: desc}
	}
	opt := func(name string, t bigquery.FieldType, desc string) *bigquery.FieldSchema {
		return &bigquery.FieldSchema{Name: name, Type: t, Description: desc}
	}
	return bigquery.Schema{
		req(colEventTime, bigquery.TimestampFieldType, "When the event happened (microseconds); the partitioning column."),
		req(colEventTimeText, bigquery.StringFieldType, "The event time exactly as hashed, RFC 3339 with nanoseconds."),
		req(colSessionID, bigquery.StringFieldType, "The session the event belongs to."),
		req(colSeq, bigquery.IntegerFieldType, "The event's position in its session, from 1."),
		req(colEventType, bigquery.StringFieldType, "Stable event type code, e.g. policy.decided."),
		opt(colActor, bigquery.StringFieldType, "Who or what caused the event."),
		opt(colData, bigquery.StringFieldType, "The event's data as canonical JSON. Never holds result cell values."),
		req(colPrevHash, bigquery.StringFieldType, "Hash of the previous event of the session (64 zeros for the first)."),
		req(colHash, bigquery.StringFieldType, "SHA-256 of the event chained to prev_hash (session.EventHash)."),
		req(colPrincipal, bigquery.StringFieldType, "The verified requester: email, else issuer|subject. Clustering column."),
		opt(colPrincipalIssuer, bigquery.StringFieldType, "Token issuer of the requester."),
		opt(colPrincipalSubject, bigquery.StringFieldType, "Token subject of the requester."),
		opt(colConversationID, bigquery.StringFieldType, "The agent's conversation id, as the agent declared it."),
		opt(colAgentName, bigquery.StringFieldType, "Agent name, as the agent declared it."),
		opt(colAgentModel, bigquery.StringFieldType, "Agent model, as the agent declared it."),
		opt(colSQLSHA256, bigquery.StringFieldType, "SHA-256 of the session's SQL exactly as received."),
		req(colChainDay, bigquery.DateFieldType, "UTC date of event_time (the day its anchor covers)."),
		req(colChainSeq, bigquery.IntegerFieldType, "Rows written before the day anchor: position in the day chain, from 1. 0 on rows written since (no day chain)."),
		req(colChainPrev, bigquery.StringFieldType, "Rows written before the day anchor: row_hash of the previous row of the day chain (64 zeros for the first). Empty on rows written since."),
		req(colRecordedAt, bigquery.TimestampFieldType, "When the row was written. Informational: not covered by row_hash, because BigQuery may keep either attempt of a retried insert."),
		req(colRowHash, bigquery.StringFieldType, "SHA-256 over every other column of the row (see audit.RowHash)."),
		opt(colHashVersion, bigquery.IntegerFieldType, "How event_hash and row_hash were computed: 2 for typed event data; NULL for rows written before (docs/audit.md)."),
	}
}

// legacyColumns is how many columns the table had before hash_version;
// EnsureTable adds the column to such a table.
const legacyColumns = 21

// Row is one audit row: one session event plus who, what and the chains.
type Row struct {
	EventTime        time.Time
	EventTimeText    string
	SessionID        string
	Seq              int64
	EventType        string
	Actor            string
	Data             string
	PrevHash         string
	Hash             string
	Principal        string
	PrincipalIssuer  string
	PrincipalSubject string
	ConversationID   string
	AgentName        string
	AgentModel       string
	SQLSHA256        string
	ChainDay         civil.Date
	ChainSeq         int64
	ChainPrev        string
	RecordedAt       time.Time
	RowHash          string
	// HashVersion is the event's session.Event HashVersion; 0 (NULL) for
	// rows written before typed event data.
	HashVersion int64
}

// InsertID is the insertAll insertId of the row: session id, ":", seq. A
// retried insert of the same event carries the same id, so BigQuery drops
// the duplicate (best effort, for about a minute); a duplicate kept after
// that is an identical row, which Verify and the day anchor count once.
func (r *Row) InsertID() string { return fmt.Sprintf("%s:%d", r.SessionID, r.Seq) }

var _ bigquery.ValueSaver = (*Row)(nil)

// Save implements bigquery.ValueSaver.
func (r *Row) Save() (map[string]bigquery.Value, string, error) {
	return map[string]bigquery.Value{
		colEventTime:        r.EventTime,
		colEventTimeText:    r.EventTimeText,
		colSessionID:        r.SessionID,
		colSeq:              r.Seq,
		colEventType:        r.EventType,
		colActor:            r.Actor,
		colData:             r.Data,
		colPrevHash:         r.PrevHash,
		colHash:             r.Hash,
		colPrincipal:        r.Principal,
		colPrincipalIssuer:  r.PrincipalIssuer,
		colPrincipalSubject: r.PrincipalSubject,
		colConversationID:   r.ConversationID,
		colAgentName:        r.AgentName,
		colAgentModel:       r.AgentModel,
		colSQLSHA256:        r.SQLSHA256,
		colChainDay:         r.ChainDay,
		colChainSeq:         r.ChainSeq,
		colChainPrev:        r.ChainPrev,
		colRecordedAt:       r.RecordedAt,
		colRowHash:          r.RowHash,
		colHashVersion:      hashVersionValue(r.HashVersion),
	}, r.InsertID(), nil
}

// hashVersionValue is the hash_version column's value: NULL for legacy
// rows, so that they read back exactly as they were written.
func hashVersionValue(v int64) bigquery.Value {
	if v == session.HashVersionLegacy {
		return nil
	}
	return v
}

// tsText is the text a TIMESTAMP column is hashed as: UTC, microseconds,
// which is what BigQuery keeps.
func tsText(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z")
}

// RowHash returns the SHA-256 (hex) over the canonical JSON of every column
// of r except row_hash and recorded_at, in schema order, with timestamps at
// microsecond precision and dates as YYYY-MM-DD. hash_version is the last
// element when it is set; a legacy row (hash_version NULL) is hashed
// without it, as it was when it was written, so it still verifies. Setting
// or clearing hash_version changes the row's hash.
//
// recorded_at is left out so that every attempt to insert an event yields
// the same row: when a timed-out insert lands after all and BigQuery drops
// the retry as a duplicate of its insertId, the row it keeps still carries
// the row_hash the Writer chained the next row to.
func RowHash(r *Row) string {
	canon := []any{
		tsText(r.EventTime), r.EventTimeText, r.SessionID, r.Seq, r.EventType, r.Actor, r.Data,
		r.PrevHash, r.Hash, r.Principal, r.PrincipalIssuer, r.PrincipalSubject, r.ConversationID,
		r.AgentName, r.AgentModel, r.SQLSHA256, r.ChainDay.String(), r.ChainSeq, r.ChainPrev,
	}
	if r.HashVersion != session.HashVersionLegacy {
		canon = append(canon, r.HashVersion)
	}
	b, err := json.Marshal(canon)
	if err != nil {
		panic(fmt.Sprintf("audit: row not encodable: %v", err)) // strings and ints only
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// principalKey is the clustering value for p.
func principalKey(p session.Principal) string {
	if p.Email != "" {
		return p.Email
	}
	return p.Issuer + "|" + p.Subject
}

// eventRow builds the row of event e of s, without the day chain columns.
// The data column of a typed event holds its data exactly as stored and
// hashed, which must be its type's canonical payload (unknown keys are
// refused here too, with session.ErrInvalidEvent). A legacy event (stored
// before typed payloads, audited after) gets the data column the old
// Writer wrote: its map re-encoded by encoding/json.
func eventRow(s *session.Session, e session.Event) (*Row, error) {
	data := string(e.Data)
	switch {
	case e.HashVersion != session.HashVersionLegacy:
		if _, err := session.DecodePayload(e.Type, e.Data); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.Seq, err)
		}
	case len(e.Data) > 0:
		var m map[string]any
		if err := json.Unmarshal(e.Data, &m); err != nil {
			return nil, fmt.Errorf("event %d: legacy data: %w", e.Seq, session.ErrInvalidEvent)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("event %d: legacy data: %w", e.Seq, session.ErrInvalidEvent)
		}
		data = string(b)
	}
	t := e.Time.UTC()
	return &Row{
		EventTime:        t.Truncate(time.Microsecond),
		EventTimeText:    t.Format(time.RFC3339Nano),
		SessionID:        s.ID,
		Seq:              e.Seq,
		EventType:        string(e.Type),
		Actor:            e.Actor,
		Data:             data,
		PrevHash:         e.PrevHash,
		Hash:             e.Hash,
		Principal:        principalKey(s.Principal),
		PrincipalIssuer:  s.Principal.Issuer,
		PrincipalSubject: s.Principal.Subject,
		ConversationID:   s.ConversationID,
		AgentName:        s.Agent.Name,
		AgentModel:       s.Agent.Model,
		SQLSHA256:        s.SQLSHA256,
		ChainDay:         civil.DateOf(t),
		HashVersion:      int64(e.HashVersion),
	}, nil
}

// event reconstructs the session event a row records, for rehashing.
func (r *Row) event() (session.Event, error) {
	t, err := time.Parse(time.RFC3339Nano, r.EventTimeText)
	if err != nil {
		return session.Event{}, fmt.Errorf("event_time_text %q: %w", r.EventTimeText, err)
	}
	var data json.RawMessage
	if r.Data != "" {
		data = json.RawMessage(r.Data)
	}
	if r.HashVersion != session.HashVersionLegacy {
		if _, err := session.DecodePayload(session.EventType(r.EventType), data); err != nil {
			return session.Event{}, err
		}
	}
	return session.Event{
		Seq: r.Seq, Type: session.EventType(r.EventType), Time: t, Actor: r.Actor,
		Data: data, PrevHash: r.PrevHash, Hash: r.Hash, HashVersion: int(r.HashVersion),
	}, nil
}
