package reconcile

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Handler runs one pass per POST and answers its Result as JSON: 200 when
// every open session was decided, 500 (details in the logs, never in the
// answer) when some could not be, so that Cloud Scheduler retries. A POST
// that finds a pass running answers 200 with "busy_pass": true; that pass
// does the work.
func (r *Reconciler) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, `{"error":"POST only"}`, http.StatusMethodNotAllowed)
			return
		}
		res, err := r.Run(req.Context())
		body := struct {
			Result
			BusyPass bool   `json:"busy_pass,omitempty"`
			Error    string `json:"error,omitempty"`
		}{Result: res}
		code := http.StatusOK
		switch {
		case errors.Is(err, ErrBusy):
			body.BusyPass = true
		case err != nil:
			r.cfg.Logger.ErrorContext(req.Context(), "reconcile pass incomplete", "error", err.Error(), "ended", res.Ended)
			code, body.Error = http.StatusInternalServerError, "some sessions could not be reconciled; see the logs"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	})
}
