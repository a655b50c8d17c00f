package auth

import (
	"encoding/json"
	"net/http"
	"slices"
)

// RequireCaller admits only requests whose bearer token v verifies and whose
// email is in allowed: the functions that only the workflow's service
// account may call, and the callbacks only the approval function may call.
func RequireCaller(v Verifier, allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := BearerToken(r)
		if err != nil {
			deny(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		p, err := v.Verify(r.Context(), tok)
		if err != nil {
			deny(w, http.StatusUnauthorized, "invalid token")
			return
		}
		if p.Email == "" || !slices.Contains(allowed, p.Email) {
			deny(w, http.StatusForbidden, "caller may not call this function")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func deny(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
