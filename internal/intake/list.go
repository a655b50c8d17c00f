package intake

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/querygate/querygate/internal/session"
)

// DefaultListByteBudget bounds one page of GET /v1/sessions. Sessions
// carry their full SQL and prompt (up to 256 KiB each), so a page of 1,000
// could otherwise take half a gigabyte to build.
const DefaultListByteBudget = 4 << 20

// listChunk is how many sessions are read from the store at a time: the
// most that is held in memory while a page streams.
const listChunk = 10

// tailReserve keeps room in the budget for the page's closing bytes and
// its next_page_token.
const tailReserve = 256

// listSessions streams one page of the caller's sessions (every session
// for auditors), newest first: {"sessions": [...], "next_page_token": ""}.
// The page ends at page_size sessions or at the byte budget, whichever
// comes first, and at least one session is always sent so a client
// following next_page_token always progresses. The store is read a chunk
// at a time; only the chunk in hand is in memory.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	q := session.ListQuery{ConversationID: r.URL.Query().Get("conversation_id"), PageToken: r.URL.Query().Get("page_token")}
	size := 50
	if ps := r.URL.Query().Get("page_size"); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "page_size must be an integer between 1 and 1000")
			return
		}
		size = n
	}
	if !(s.AuditorsGroup != "" && slices.Contains(c.groups, s.AuditorsGroup)) {
		q.Reader = ReaderKey(c.p)
	}
	budget := s.ListByteBudget
	if budget <= 0 {
		budget = DefaultListByteBudget
	}
	// The first chunk is read before the status is sent, so a bad token
	// or a store that is down gets a proper answer.
	chunkToken := q.PageToken
	q.PageSize = min(listChunk, size)
	res, err := s.Store.List(ctx, q)
	if errors.Is(err, session.ErrBadPageToken) {
		writeError(w, http.StatusBadRequest, "page_token is not one this API issued")
		return
	}
	if err != nil {
		s.log().ErrorContext(ctx, "list sessions failed", "error", err.Error())
		writeError(w, http.StatusInternalServerError, "sessions could not be listed")
		return
	}
	// The caller's limits and their use close the page (limits.go); read
	// now, so the budget keeps room for them.
	tail := s.usageTail(ctx, c.p)
	budget -= len(tail)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	// abort ends a response that already started: the client sees a cut
	// connection, never a well-formed page that silently lacks sessions.
	abort := func(what string, err error) {
		s.log().ErrorContext(ctx, "list sessions failed mid-page", "step", what, "error", err.Error())
		panic(http.ErrAbortHandler)
	}
	const head = `{"sessions":[`
	_, _ = bw.WriteString(head)
	written, sent := len(head), 0
	next := ""
page:
	for {
		for i, x := range res.Sessions {
			item, err := json.Marshal(s.listItem(x))
			if err != nil {
				abort("encode", err)
			}
			if sent > 0 && written+1+len(item)+tailReserve > budget {
				// Stop before x: the next page starts with it.
				if next, err = s.tokenBefore(ctx, q, chunkToken, res.Sessions[:i]); err != nil {
					abort("page token", err)
				}
				break page
			}
			if sent > 0 {
				_ = bw.WriteByte(',')
				written++
			}
			_, _ = bw.Write(item)
			written += len(item)
			sent++
		}
		next = res.NextPageToken
		if next == "" || sent >= size {
			break
		}
		chunkToken = next
		q.PageToken, q.PageSize = next, min(listChunk, size-sent)
		if res, err = s.Store.List(ctx, q); err != nil {
			abort("read", err)
		}
	}
	tok, _ := json.Marshal(next)
	_, _ = bw.WriteString(`],"next_page_token":`)
	_, _ = bw.Write(tok)
	_, _ = bw.Write(tail)
	_, _ = bw.WriteString("}\n")
	if err := bw.Flush(); err != nil {
		s.log().InfoContext(ctx, "list sessions: client went away", "error", err.Error())
	}
}

// listItem is one session as the list shows it.
func (s *Server) listItem(x *session.Session) map[string]any {
	item := map[string]any{"session_id": x.ID, "status": x.Status, "created_at": x.CreatedAt, "principal": x.Principal,
		"sql": x.SQL, "prompt": x.Prompt, "conversation_id": x.ConversationID, "agent": x.Agent, "session_url": s.sessionURL(x.ID)}
	if x.Decision != nil {
		item["decision"] = x.Decision.Action
	}
	return item
}

// tokenBefore returns the page token that resumes right after sent, the
// sessions of the chunk that began at chunkToken and were written. Store
// tokens are opaque, so it asks the store for a page that ends exactly
// there, and checks that it does: a session removed meanwhile (retention)
// would otherwise shift the cursor past one that was never sent.
func (s *Server) tokenBefore(ctx context.Context, q session.ListQuery, chunkToken string, sent []*session.Session) (string, error) {
	if len(sent) == 0 {
		return chunkToken, nil
	}
	q.PageToken, q.PageSize = chunkToken, len(sent)
	res, err := s.Store.List(ctx, q)
	if err != nil {
		return "", err
	}
	if n := len(res.Sessions); n == len(sent) && res.Sessions[n-1].ID == sent[n-1].ID {
		return res.NextPageToken, nil
	}
	// The chunk changed under us: step one session at a time and stop
	// after the last one that was sent.
	tok := chunkToken
	q.PageSize = 1
	for range sent {
		q.PageToken = tok
		res, err := s.Store.List(ctx, q)
		if err != nil {
			return "", err
		}
		if len(res.Sessions) == 0 || !slices.ContainsFunc(sent, func(x *session.Session) bool { return x.ID == res.Sessions[0].ID }) {
			break
		}
		if tok = res.NextPageToken; tok == "" {
			// Nothing follows: the listing ends here.
			break
		}
	}
	return tok, nil
}
