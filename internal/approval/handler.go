package approval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// NewPageHandler serves the approval page: GET {base}/approval?token=...
// shows it and never changes state; POST {base}/approval/decide decides.
// Mount it at both paths.
func NewPageHandler(s *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/approval/decide"):
			if r.Method != http.MethodPost {
				w.Header().Set("Allow", http.MethodPost)
				writeRefusal(w, refuseMethod)
				return
			}
			s.serveDecide(w, r)
		case strings.HasSuffix(r.URL.Path, "/approval"):
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				writeRefusal(w, refuseMethod)
				return
			}
			s.servePage(w, r)
		default:
			writeRefusal(w, refuseNotFound)
		}
	})
}

func (s *Service) servePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tok := r.URL.Query().Get("token")
	c, key, err := s.verifyLink(ctx, tok)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.now().Before(c.Expiry()) {
		writeRefusal(w, refuseExpired)
		return
	}
	if s.iap != nil {
		if email, err := s.iap.VerifyIAP(ctx, r.Header.Get(IAPHeader)); err != nil || email != c.Approver {
			writeRefusal(w, refuseIAP)
			return
		}
	}
	ss, err := s.deps.Store.Get(ctx, c.SessionID)
	if errors.Is(err, session.ErrNotFound) {
		writeRefusal(w, refuseNotFound)
		return
	}
	if err != nil {
		s.writeError(w, r, fmt.Errorf("get session: %w", err))
		return
	}
	if ref := viewRefusal(ss, c, s.now()); ref != nil {
		writeRefusal(w, ref)
		return
	}
	if slices.Contains(ss.Approval.UsedTokens, c.ID) {
		// Decided with this link: show the form again only while the
		// delivery is outstanding, so the approver can retry it.
		req, err := s.deps.State.Get(ctx, ss.ID)
		if err != nil || !req.DeliveredAt.IsZero() {
			writeRefusal(w, refuseUsed)
			return
		}
	}
	nonce := browserNonce(r, c.ID)
	if nonce == "" {
		nonce = newNonce()
	}
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName(c.ID),
		Value:    nonce,
		Path:     s.cookiePath(),
		HttpOnly: true,
		Secure:   s.secureCookies(),
		SameSite: http.SameSiteStrictMode,
		// Relative, so the browser's clock does not matter; the link's
		// own expiry is enforced server-side.
		MaxAge: max(1, int(c.Expiry().Sub(s.now())/time.Second)),
	})
	pageHeaders(w)
	v := pageView{
		details:    newDetails(ss, ss.Approval.ExpiresAt),
		Approver:   c.Approver,
		Decision:   c.Decision,
		Action:     s.decidePath(),
		Token:      tok,
		CSRF:       csrfValue(key, c.ID, nonce),
		MaxComment: maxComment,
	}
	if err := pageTmpl.Execute(w, v); err != nil {
		slog.ErrorContext(ctx, "render approval page", "error", err)
	}
}

// viewRefusal tells the approver early, on GET, what the POST would refuse.
// The POST checks again inside the atomic update.
func viewRefusal(ss *session.Session, c Claims, now time.Time) *Refusal {
	ap := ss.Approval
	switch {
	case ap == nil || ap.RequestedAt.IsZero():
		return refuseNotPending
	case slices.Contains(ap.UsedTokens, c.ID):
		if ap.DecidedBy == c.Approver && ap.Decision != "" {
			// Decided with this link but maybe not delivered: the page
			// lets the approver post again, which only redelivers.
			return nil
		}
		return refuseUsed
	case ss.Status != session.StatusPendingApproval || ap.Decision != "":
		return refuseNotPending
	case !now.Before(ap.ExpiresAt):
		return refuseExpired
	case c.Approver == requester(ss):
		return refuseSelf
	case !slices.Contains(ap.Approvers, c.Approver):
		return refuseNotApprover
	case c.Decision == DecisionApprove && slices.ContainsFunc(ap.Approvals, func(v session.Vote) bool { return v.Approver == c.Approver }):
		return refuseAlreadyApproved
	}
	return queryChanged(c, ss)
}

// maxFormBytes bounds the decide POST body: a token, a CSRF value and a
// 2000-character comment fit easily.
const maxFormBytes = 32 << 10

func (s *Service) serveDecide(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		writeRefusal(w, refuseBadForm)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		writeRefusal(w, refuseBadForm)
		return
	}
	form, err := ParseDecideForm(body)
	if err != nil {
		writeRefusal(w, refuseBadForm)
		return
	}
	in := request{Form: form, HTTP: r, IAPAssertion: r.Header.Get(IAPHeader)}
	out, err := s.decide(ctx, in)
	if err != nil {
		var de *DeliveryError
		if errors.As(err, &de) {
			slog.ErrorContext(ctx, "approval callback failed", "session_id", de.Outcome.SessionID, "error", de.Err)
			retry := &pageView{
				details:  details{SessionID: form.SessionID},
				Action:   s.decidePath(),
				Token:    form.Token,
				CSRF:     form.CSRF,
				Decision: form.Decision,
			}
			writeMessage(w, messageView{
				Code:   "delivery_failed",
				Title:  "Your decision was recorded but the workflow could not be reached",
				Detail: "The query will not proceed until the workflow receives the decision. Try again in a moment; if it keeps failing, tell the querygate operators.",
				Status: http.StatusBadGateway,
				Retry:  retry,
			})
			return
		}
		s.writeError(w, r, err)
		return
	}
	title := "Approved"
	detail := "The query will run now. The agent receives the masked result."
	switch out.Decision {
	case "rejected":
		title = "Denied"
		detail = "The query will not run. The agent is told it was rejected."
	case DecisionPending:
		title = "Approval recorded"
		detail = "Your approval counts towards the quorum. The query runs once enough approvers have approved: " + out.Progress + "."
	}
	writeMessage(w, messageView{Code: out.Decision, Title: title, Detail: detail, Status: http.StatusOK, Outcome: &out})
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ref *Refusal
	if errors.As(err, &ref) {
		writeRefusal(w, ref)
		return
	}
	slog.ErrorContext(r.Context(), "approval page failed", "error", err)
	writeMessage(w, messageView{Code: "internal", Title: "Something went wrong", Detail: "Nothing was decided. Try again later.", Status: statusOf(err)})
}

var formFields = []string{"token", "session_id", "decision", "comment", "csrf"}

// ParseDecideForm decodes the urlencoded body of the decide POST. Unknown
// and repeated fields are an error, so no two parts of the stack can read
// different values from one request.
func ParseDecideForm(body []byte) (DecideForm, error) {
	if len(body) > maxFormBytes {
		return DecideForm{}, errors.New("form too large")
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return DecideForm{}, fmt.Errorf("decode form: %w", err)
	}
	for k, v := range vals {
		if !slices.Contains(formFields, k) {
			return DecideForm{}, fmt.Errorf("unknown form field %q", k)
		}
		if len(v) != 1 {
			return DecideForm{}, fmt.Errorf("form field %q given %d times", k, len(v))
		}
	}
	f := DecideForm{
		Token:     vals.Get("token"),
		SessionID: vals.Get("session_id"),
		Decision:  vals.Get("decision"),
		Comment:   strings.ReplaceAll(vals.Get("comment"), "\r\n", "\n"),
		CSRF:      vals.Get("csrf"),
	}
	if f.Token == "" || f.SessionID == "" || f.Decision == "" {
		return DecideForm{}, errors.New("token, session_id and decision are required")
	}
	return f, nil
}

// NewNotifyHandler serves the notify function: POST JSON
// {"session_id", "callback_url"} answers 200 {"notified", "expires_at"};
// POST {"session_id", "read_decision": true} answers 200 with the
// RecordedDecision, which the workflow acts on instead of the callback's
// body. POST {"sweep": true} runs Sweep (reminders, break-glass reviews)
// and answers 200 with the SweepResult.
// Caller mistakes are 4xx with {"error": code, "message": text}; faults
// are 5xx and safe to retry. Only the workflow's identity may call it; the
// caller's authentication is the mounting code's job.
func NewNotifyHandler(s *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method", "message": "use POST"})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "too_large", "message": "body over 64 KiB"})
			return
		}
		var in struct {
			SessionID    string `json:"session_id"`
			CallbackURL  string `json:"callback_url"`
			ReadDecision bool   `json:"read_decision"`
			Sweep        bool   `json:"sweep"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(&in)
		if err == nil && in.Sweep && in.SessionID == "" && in.CallbackURL == "" && !in.ReadDecision {
			// Issue 15: the reminder and break-glass review sweep (remind.go).
			res, err := s.Sweep(r.Context())
			if err != nil {
				slog.ErrorContext(r.Context(), "sweep failed", "reminded", res.Reminded, "reviews", res.Reviews, "error", err)
				writeJSON(w, http.StatusBadGateway, map[string]string{"error": "sweep_failed", "message": "the sweep did not finish; retry"})
				return
			}
			writeJSON(w, http.StatusOK, res)
			return
		}
		if err != nil || in.Sweep || in.SessionID == "" || (in.ReadDecision && in.CallbackURL != "") {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request",
				"message": "want JSON {session_id, callback_url} , {session_id, read_decision: true} or {sweep: true}"})
			return
		}
		var res any
		if in.ReadDecision {
			res, err = s.ReadDecision(r.Context(), in.SessionID)
		} else {
			res, err = s.Notify(r.Context(), in.SessionID, in.CallbackURL)
		}
		if err != nil {
			var ref *Refusal
			if errors.As(err, &ref) {
				writeJSON(w, ref.Status, map[string]string{"error": ref.Code, "message": ref.Title + ": " + ref.Detail})
				return
			}
			slog.ErrorContext(r.Context(), "notify failed", "session_id", in.SessionID, "read_decision", in.ReadDecision, "error", err)
			msg := "could not notify every approver; retry"
			if in.ReadDecision {
				msg = "could not read the decision; retry"
			}
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "notify_failed", "message": msg})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
