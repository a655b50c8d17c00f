package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCloudLoggingFields(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	h := Middleware("p1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.WarnContext(r.Context(), "hello", "session_id", "s1")
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/1;o=1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"severity": "WARNING", "message": "hello", "session_id": "s1",
		"logging.googleapis.com/trace": "projects/p1/traces/105445aa7843bc8bf206b12000100000"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["level"]; ok {
		t.Error("level key present; Cloud Logging reads severity")
	}
}
