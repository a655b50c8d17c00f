package functions

import (
	"context"
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/querygate/querygate/internal/gateway"
)

// Sessions serves the read side of sessions to requesters, approvers and
// auditors: GET /v1/sessions, GET /v1/sessions/{id} (JSON, as Intake
// serves them) and GET /sessions/{id}, the server-rendered replay page.
// Every request is authorized from its verified ID token. Anything but
// GET and HEAD is refused, so this function cannot submit queries.
func init() {
	functions.HTTP("Sessions", lazy("Sessions", func(ctx context.Context, c *cloud) (http.Handler, error) {
		comps, err := c.sessionsAPI(ctx)
		if err != nil {
			return nil, err
		}
		return readOnly((&gateway.Routes{Intake: comps.Intake}).Handler()), nil
	}).ServeHTTP)
}

// readOnly passes GET and HEAD requests and answers 405 to the rest.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			w.Write([]byte(`{"error":"method not allowed: this service only reads sessions"}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
