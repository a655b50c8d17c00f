package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/session"
)

// Reidentifier reverses deterministic (crypto_deterministic_config)
// surrogates. deid.Local and deid.DLP implement it.
type Reidentifier interface {
	Reidentify(ctx context.Context, t *deid.Table) (*deid.Table, error)
}

// Auditor makes the session's events durable in the audit dataset.
type Auditor interface {
	WriteSession(ctx context.Context, s *session.Session) error
}

// ReidentifyConfig enables POST /v1/sessions/{id}/reidentify.
type ReidentifyConfig struct {
	Reidentifier Reidentifier
	Audit        Auditor
	// Group lists who may re-identify; they must also be able to read the
	// session.
	Group string
}

// RegisterReidentify adds the re-identification route.
func (s *Server) RegisterReidentify(mux *http.ServeMux, cfg ReidentifyConfig) {
	mux.Handle("POST /v1/sessions/{id}/reidentify", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.reidentify(w, r, cfg)
	}))
}

// reidentify returns one page of a session's rows with deterministic tokens
// reversed. Every call is recorded as a result.reidentified event, made
// durable in the audit dataset before any value is returned (fail closed).
func (s *Server) reidentify(w http.ResponseWriter, r *http.Request, cfg ReidentifyConfig) {
	c, sess, ok := s.readable(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id := sess.ID
	var err error
	if cfg.Reidentifier == nil || cfg.Audit == nil {
		// Without an audit sink a re-identification could not be
		// recorded: refuse rather than release unaudited values.
		writeError(w, http.StatusServiceUnavailable, "re-identification is not configured")
		return
	}
	if cfg.Group == "" || !slices.Contains(c.groups, cfg.Group) {
		writeError(w, http.StatusForbidden, "re-identification needs membership of group "+strconv.Quote(cfg.Group))
		return
	}
	if sess.Status != session.StatusSucceeded || sess.Result == nil {
		writeError(w, http.StatusConflict, "only a succeeded session's result can be re-identified")
		return
	}
	page := 0
	if pt := r.URL.Query().Get("page_token"); pt != "" {
		if page, err = strconv.Atoi(pt); err != nil || page < 0 || page >= sess.Result.Pages {
			writeError(w, http.StatusBadRequest, "page_token is not one this API issued")
			return
		}
	}
	if sess.Result.Pages == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"session_id": id, "rows": []any{}})
		return
	}
	p, err := s.Store.GetPage(ctx, id, page)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the result could not be read")
		return
	}
	headers := make([]string, len(sess.Result.Schema))
	for i, f := range sess.Result.Schema {
		headers[i] = f.Name
	}
	tbl, err := decodeRows(p.Rows, headers)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the stored result could not be decoded")
		return
	}
	out, err := cfg.Reidentifier.Reidentify(ctx, tbl)
	if err != nil {
		s.log().ErrorContext(ctx, "reidentify failed", "session_id", id, "error", err.Error())
		writeError(w, http.StatusInternalServerError, "re-identification failed; nothing was released")
		return
	}
	// Record first, release after: no re-identified value leaves without
	// a durable audit event.
	updated, err := s.Store.Update(ctx, id, func(x *session.Session) error {
		x.AddEvent(s.now(), ReaderKey(c.p), session.ReidentifiedData{Page: int64(page), Rows: int64(len(out.Rows))})
		return nil
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the re-identification could not be recorded; nothing was released")
		return
	}
	if err := cfg.Audit.WriteSession(ctx, updated); err != nil {
		s.log().ErrorContext(ctx, "audit of reidentify failed", "session_id", id, "error", err.Error())
		writeError(w, http.StatusInternalServerError, "the re-identification could not be audited; nothing was released")
		return
	}
	rows, err := encodeRows(out)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the result could not be encoded")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session_id": id, "rows": json.RawMessage(rows)})
}

func decodeRows(raw json.RawMessage, headers []string) (*deid.Table, error) {
	var objs []map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&objs); err != nil {
		return nil, err
	}
	t := &deid.Table{Headers: headers}
	for _, o := range objs {
		row := make([]deid.Value, len(headers))
		for i, h := range headers {
			v := o[h]
			if n, ok := v.(json.Number); ok {
				if iv, err := n.Int64(); err == nil {
					v = iv
				} else if fv, err := n.Float64(); err == nil {
					v = fv
				}
			}
			row[i] = v
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

func encodeRows(t *deid.Table) ([]byte, error) {
	enc := session.NewRowEncoder(t.Headers)
	b := []byte{'['}
	for i, r := range t.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		row, err := enc.Encode(r)
		if err != nil {
			return nil, err
		}
		b = append(b, row...)
	}
	return append(b, ']'), nil
}
