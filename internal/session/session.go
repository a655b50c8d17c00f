// Package session defines the session record that querygate keeps for every
// query an agent submits, and the Store port that persists it.
//
// A session is the unit of audit: who asked (verified principal), why (the
// prompt), what (the exact SQL and its SHA-256), what policy decided, who
// approved, how the job ran, and the masked result. Raw result cells never
// enter a Session or a Page.
package session

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Status is the lifecycle state of a session. The string values are part of
// the public HTTP contract.
type Status string

// Session statuses. Terminal ones are succeeded, denied, rejected, expired
// and failed.
const (
	StatusPendingApproval Status = "pending_approval"
	StatusRunning         Status = "running"
	StatusSucceeded       Status = "succeeded"
	StatusDenied          Status = "denied"
	StatusRejected        Status = "rejected"
	StatusExpired         Status = "expired"
	StatusFailed          Status = "failed"
)

// Terminal reports whether no further transition can happen from s.
func (s Status) Terminal() bool {
	switch s {
	case StatusSucceeded, StatusDenied, StatusRejected, StatusExpired, StatusFailed:
		return true
	}
	return false
}

// Valid reports whether s is one of the documented statuses.
func (s Status) Valid() bool {
	return s.Terminal() || s == StatusPendingApproval || s == StatusRunning
}

// Principal is the identity taken from a verified token. Nothing in it comes
// from request headers or bodies.
type Principal struct {
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Email   string   `json:"email,omitempty"`
	Groups  []string `json:"groups,omitempty"`
}

// Agent names the AI agent that sent the query, as the agent declared it.
// It is informational and untrusted.
type Agent struct {
	Name  string `json:"name,omitempty"`
	Model string `json:"model,omitempty"`
}

// Parameter is a BigQuery query parameter as the agent sent it.
type Parameter struct {
	Name  string          `json:"name"`
	Type  string          `json:"type,omitempty"`
	Value json.RawMessage `json:"value"`
}

// Event is one typed, timestamped entry of a session's timeline. Seq starts
// at 1 and increases by one. PrevHash and Hash chain the events of a session
// so that a changed or removed event is detectable (see EventHash). Data is
// the canonical encoding of the event type's payload struct (see Payload
// and EncodePayload); build events with Session.AddEvent and read their
// data with Event.Payload.
type Event struct {
	Seq      int64           `json:"seq"`
	Type     EventType       `json:"type"`
	Time     time.Time       `json:"time"`
	Actor    string          `json:"actor,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
	// HashVersion says how Hash was computed (HashVersionTyped for every
	// new event; absent, HashVersionLegacy, for events written before).
	HashVersion int `json:"hash_version,omitempty"`
}

// EventType is the stable code of a timeline event. Audit consumers key on
// these values; never rename one.
type EventType string

// Timeline event types.
const (
	EventReceived          EventType = "session.received"
	EventPolicyDecided     EventType = "policy.decided"
	EventApprovalRequested EventType = "approval.requested"
	EventApprovalDecided   EventType = "approval.decided"
	EventApprovalExpired   EventType = "approval.expired"
	EventQueryStarted      EventType = "query.started"
	EventQueryFinished     EventType = "query.finished"
	EventResultMasked      EventType = "result.masked"
	EventReidentified      EventType = "result.reidentified"
	EventFailed            EventType = "session.failed"
	EventCompleted         EventType = "session.completed"
	// EventBreakGlass: the query runs without waiting for approval,
	// under break-glass (BreakGlassData).
	EventBreakGlass EventType = "policy.break_glass"
)

// Decision is what policy decided about the SQL.
type Decision struct {
	Action        string   `json:"action"` // allow, deny, require_approval
	RuleIDs       []string `json:"rule_ids,omitempty"`
	Reasons       []string `json:"reasons,omitempty"`
	ApproverGroup string   `json:"approver_group,omitempty"`
	ApprovalTTL   Duration `json:"approval_ttl,omitempty"`
	// MinApprovals, ApproverGroups and AllGroupsMustApprove are the quorum
	// policy asked for; zero, empty and false mean one approval from
	// ApproverGroup.
	MinApprovals         int       `json:"min_approvals,omitempty"`
	ApproverGroups       []string  `json:"approver_groups,omitempty"`
	AllGroupsMustApprove bool      `json:"all_groups_must_approve,omitempty"`
	AnalysisPath         string    `json:"analysis_path,omitempty"` // analyzer, parser_fallback, failed
	EstimatedBytes       int64     `json:"estimated_bytes,omitempty"`
	MaxBytesBilled       int64     `json:"max_bytes_billed,omitempty"`
	JobTimeout           Duration  `json:"job_timeout,omitempty"`
	MaskedColumns        []string  `json:"masked_columns,omitempty"`
	DecidedAt            time.Time `json:"decided_at"`
	// Justify: what require_justification and break_glass_group decided
	// (justify.go).
	Justify
	// ColumnInfoTypes maps an output column to the infoTypes its lineage
	// reaches; the de-identifier applies the matching transformations.
	ColumnInfoTypes map[string][]string `json:"column_info_types,omitempty"`
	// Columns are the per-column facts behind ColumnInfoTypes, bounded by
	// FitDecisionColumns; ColumnsOmitted counts the columns left out.
	Columns        []DecisionColumn `json:"columns,omitempty"`
	ColumnsOmitted int64            `json:"columns_omitted,omitempty"`
}

// Approval is the human approval of a session that policy held.
type Approval struct {
	Group       string    `json:"group,omitempty"`
	Approvers   []string  `json:"approvers,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Decision    string    `json:"decision,omitempty"` // approved, rejected, expired
	DecidedBy   string    `json:"decided_by,omitempty"`
	DecidedAt   time.Time `json:"decided_at,omitempty"`
	Comment     string    `json:"comment,omitempty"`
	// UsedTokens holds the ids of approval links already used, so a link
	// works once.
	UsedTokens []string `json:"used_tokens,omitempty"`
	// MinApprovals is the number of distinct approvers needed (zero means
	// one). Members maps each group of the quorum to its eligible
	// approvers, when AllGroupsMustApprove asks one approval per group.
	MinApprovals         int            `json:"min_approvals,omitempty"`
	Groups               []string       `json:"groups,omitempty"`
	AllGroupsMustApprove bool           `json:"all_groups_must_approve,omitempty"`
	Members              []GroupMembers `json:"members,omitempty"`
	// Approvals are the approvals counted so far, one per approver, in
	// the order they arrived.
	Approvals []Vote `json:"approvals,omitempty"`
}

// GroupMembers lists the eligible approvers of one approver group.
type GroupMembers struct {
	Group     string   `json:"group"`
	Approvers []string `json:"approvers"`
}

// Vote is one approver's counted approval.
type Vote struct {
	Approver string    `json:"approver"`
	At       time.Time `json:"at"`
	Comment  string    `json:"comment,omitempty"`
	// Via is "link" (the mailed link) or "api" (the decisions API).
	Via string `json:"via"`
}

// Execution holds the statistics of the BigQuery job.
type Execution struct {
	JobID          string    `json:"job_id,omitempty"`
	Location       string    `json:"location,omitempty"`
	StartedAt      time.Time `json:"started_at,omitempty"`
	FinishedAt     time.Time `json:"finished_at,omitempty"`
	BytesProcessed int64     `json:"bytes_processed"`
	TotalRows      int64     `json:"total_rows"`
	// BytesBilled is the job's totalBytesBilled, charged to the
	// principal's bytes_per_day (package limits).
	BytesBilled int64 `json:"bytes_billed,omitempty"`
}

// Field is a column of the result schema.
type Field struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Mode string `json:"mode,omitempty"`
	// Fields are the sub-fields of a RECORD column, in order.
	Fields []Field `json:"fields,omitempty"`
}

// Result describes the masked result kept for the session. The rows
// themselves live in Pages.
type Result struct {
	Schema        []Field        `json:"schema"`
	MaskedColumns []string       `json:"masked_columns"`
	TotalRows     int64          `json:"total_rows"`
	StoredRows    int64          `json:"stored_rows"`
	Pages         int            `json:"pages"`
	Truncated     bool           `json:"truncated,omitempty"`
	Findings      map[string]int `json:"findings,omitempty"` // infoType -> count
}

// ErrorEntry is an error recorded against a session. Message must never hold
// result cell values.
type ErrorEntry struct {
	Step    string    `json:"step"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// Session is the full record of one query.
type Session struct {
	ID             string      `json:"session_id"`
	ConversationID string      `json:"conversation_id,omitempty"`
	Principal      Principal   `json:"principal"`
	Agent          Agent       `json:"agent"`
	Prompt         string      `json:"prompt,omitempty"`
	SQL            string      `json:"sql"`
	SQLSHA256      string      `json:"sql_sha256"`
	DefaultDataset string      `json:"default_dataset,omitempty"`
	Parameters     []Parameter `json:"parameters,omitempty"`
	// Justification and BreakGlass are what the agent sent (justify.go).
	Justification string    `json:"justification,omitempty"`
	BreakGlass    bool      `json:"break_glass,omitempty"`
	Status        Status    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Version increases by one on every stored change; watchers wait on it.
	Version       int64        `json:"version"`
	ExecutionName string       `json:"execution_name,omitempty"`
	Readers       []string     `json:"readers,omitempty"` // emails allowed to read besides auditors
	Decision      *Decision    `json:"decision,omitempty"`
	Approval      *Approval    `json:"approval,omitempty"`
	Execution     *Execution   `json:"execution,omitempty"`
	Result        *Result      `json:"result,omitempty"`
	Timeline      []Event      `json:"timeline"`
	Errors        []ErrorEntry `json:"errors,omitempty"`
	ExpireAt      time.Time    `json:"expire_at,omitempty"` // retention TTL
}

// Page is one page of masked result rows. Rows is a JSON array of objects,
// kept as the exact bytes served to the agent so that replay is byte for
// byte identical.
type Page struct {
	Index int             `json:"index"`
	Rows  json.RawMessage `json:"rows"`
	Count int             `json:"count"`
}

// SQLHash returns the lowercase hex SHA-256 of sql exactly as received.
func SQLHash(sql string) string {
	sum := sha256.Sum256([]byte(sql))
	return hex.EncodeToString(sum[:])
}

// Duration is a time.Duration that encodes as a Go duration string.
type Duration time.Duration

// Seconds returns d in seconds.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
