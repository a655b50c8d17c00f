// Package logging sets up log/slog for Cloud Logging: JSON with "severity",
// "message" and "logging.googleapis.com/trace", snake_case keys, carried in
// the context. Callers must never log tokens, secrets, result rows or cell
// values.
package logging

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

type ctxKey struct{}

// New returns a JSON logger writing to w. project, when set, qualifies trace
// ids as Cloud Logging expects.
func New(w io.Writer, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				return slog.String("severity", severity(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				return slog.String("message", a.Value.String())
			case slog.TimeKey:
				return slog.Attr{Key: "time", Value: a.Value}
			}
			return a
		},
	})
	return slog.New(&traceHandler{Handler: h})
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

type traceKey struct{}

// traceHandler adds the request's trace id to every record logged with its
// context.
type traceHandler struct{ slog.Handler }

func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if t, ok := ctx.Value(traceKey{}).(string); ok && t != "" {
		r.AddAttrs(slog.String("logging.googleapis.com/trace", t))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &traceHandler{h.Handler.WithAttrs(as)}
}

func (h *traceHandler) WithGroup(n string) slog.Handler { return &traceHandler{h.Handler.WithGroup(n)} }

// WithLogger returns ctx carrying l.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the context's logger, or slog.Default().
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// Middleware puts the Cloud trace id of each request (from
// X-Cloud-Trace-Context or traceparent) into its context, qualified with
// project when set.
func Middleware(project string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := traceID(r); t != "" {
			if project != "" {
				t = "projects/" + project + "/traces/" + t
			}
			r = r.WithContext(context.WithValue(r.Context(), traceKey{}, t))
		}
		next.ServeHTTP(w, r)
	})
}

func traceID(r *http.Request) string {
	if h := r.Header.Get("X-Cloud-Trace-Context"); h != "" {
		id, _, _ := strings.Cut(h, "/")
		if isHex(id) {
			return id
		}
	}
	if h := r.Header.Get("traceparent"); h != "" {
		parts := strings.Split(h, "-")
		if len(parts) == 4 && isHex(parts[1]) {
			return parts[1]
		}
	}
	return ""
}

func isHex(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
