package bqapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/querygate/querygate/internal/session"
)

// Bounds of one page of rows served.
const (
	// MaxPageRows caps maxResults.
	MaxPageRows = 10000
	// maxPageBytes bounds the encoded rows of one response (BigQuery's own
	// pages stop near 10 MB).
	maxPageBytes = 8 << 20
)

// window selects the rows of one response: from pageToken, else from
// startIndex, at most maxResults (nil: as many as fit).
type window struct {
	maxResults *int64
	startIndex int64
	pageToken  string
	ts         tsFormat
}

type rowPage struct {
	rows []json.RawMessage
	next string
}

func windowOf(q url.Values) (window, *apiError) {
	var w window
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return w, badRequest("maxResults must be a non-negative integer")
		}
		w.maxResults = &n
	}
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return w, badRequest("startIndex must be a non-negative integer")
		}
		w.startIndex = n
	}
	w.pageToken = q.Get("pageToken")
	ts, e := formatOf(q.Get("formatOptions.useInt64Timestamp") == "true", q.Get("formatOptions.timestampOutputFormat"))
	if e != nil {
		return w, e
	}
	w.ts = ts
	return w, nil
}

// position is a row's place in the stored pages.
type position struct{ page, offset int }

// Page tokens name a position; they are opaque to clients and carry no
// data, so a token used on another job only selects a position there.
func (p position) token() string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("qg1:%d:%d", p.page, p.offset)))
}

var errBadToken = errors.New("bad page token")

func parseToken(t string) (position, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return position{}, errBadToken
	}
	var p position
	if n, err := fmt.Sscanf(string(b), "qg1:%d:%d", &p.page, &p.offset); err != nil || n != 2 || p.page < 0 || p.offset < 0 {
		return position{}, errBadToken
	}
	if (position{page: p.page, offset: p.offset}).token() != t {
		return position{}, errBadToken
	}
	return p, nil
}

// window reads the rows w selects from the session's stored pages and
// encodes them for schema.
func (s *Server) window(c *call, sess *session.Session, schema []fieldSchema, w window) (rowPage, *apiError) {
	res := sess.Result
	out := rowPage{rows: []json.RawMessage{}}
	var pos position
	var pageRows []map[string]any
	load := func(i int) *apiError {
		p, err := s.Intake.Store.GetPage(c.ctx(), sess.ID, i)
		if err != nil {
			s.log().ErrorContext(c.ctx(), "get result page failed", "session_id", sess.ID, "page", i, "error", err.Error())
			return internal("the result could not be read")
		}
		rows, err := decodeRows(p.Rows)
		if err != nil {
			s.log().ErrorContext(c.ctx(), "decode result page failed", "session_id", sess.ID, "page", i)
			return internal("the result could not be read")
		}
		pageRows = rows
		return nil
	}
	switch {
	case w.pageToken != "":
		p, err := parseToken(w.pageToken)
		if err != nil || p.page > res.Pages {
			return out, badRequest("pageToken is not one this job's results issued")
		}
		pos = p
	default:
		// Walk the pages to the start index.
		skip := w.startIndex
		for pos.page < res.Pages {
			if e := load(pos.page); e != nil {
				return out, e
			}
			if skip < int64(len(pageRows)) {
				pos.offset = int(skip)
				break
			}
			skip -= int64(len(pageRows))
			pos.page++
			pageRows = nil
		}
	}
	limit := int64(MaxPageRows)
	if w.maxResults != nil && *w.maxResults < limit {
		limit = *w.maxResults
	}
	size := 0
	for int64(len(out.rows)) < limit && pos.page < res.Pages {
		if pageRows == nil {
			if e := load(pos.page); e != nil {
				return out, e
			}
		}
		if pos.offset >= len(pageRows) {
			pos.page++
			pos.offset = 0
			pageRows = nil
			continue
		}
		enc, err := encodeRows(schema, pageRows[pos.offset:pos.offset+1], w.ts)
		if err != nil {
			// The column and type only: never the value.
			s.log().ErrorContext(c.ctx(), "encode result row failed", "session_id", sess.ID, "error", err.Error())
			// 501, not 500: the stored result will not change, and
			// clients retry 5xx answers they may retry.
			return out, &apiError{Code: http.StatusNotImplemented, Reason: reasonNotImplemented,
				Message: "the result cannot be served through the BigQuery API (" + err.Error() + "); read it from /v1/sessions/" + sess.ID}
		}
		if len(out.rows) > 0 && size+len(enc[0]) > maxPageBytes {
			break
		}
		size += len(enc[0])
		out.rows = append(out.rows, enc[0])
		pos.offset++
	}
	if pos.page < res.Pages && pageRows != nil && pos.offset >= len(pageRows) {
		pos.page++
		pos.offset = 0
	}
	if pos.page < res.Pages {
		out.next = pos.token()
	}
	return out, nil
}
