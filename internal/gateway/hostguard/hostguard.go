// Package hostguard refuses HTTP requests whose Host header names a host
// other than the loopback names and the gateway's own public host. A web
// page that rebinds its DNS name to 127.0.0.1 reaches a local listener with
// its own name in Host; this check is what stops it (DNS rebinding). Every
// listener of the local gateway is wrapped with it.
package hostguard

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Allow decides whether a Host header value is one of ours.
type Allow func(host string) bool

// Loopback allows localhost, 127.0.0.1 and [::1] with any port or none, and
// the host of each of publicURLs (with any port), all compared without
// regard to case. An empty or unparsable public URL adds nothing.
func Loopback(publicURLs ...string) Allow {
	names := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	for _, u := range publicURLs {
		if p, err := url.Parse(u); err == nil && p.Hostname() != "" {
			names[strings.ToLower(p.Hostname())] = true
		}
	}
	return func(host string) bool {
		h, ok := hostname(host)
		return ok && names[strings.ToLower(h)]
	}
}

// hostname strips an optional port from a Host header value: "name",
// "name:port", "[v6]" or "[v6]:port". It refuses anything else, such as an
// unbracketed IPv6 address, an empty name or a non-numeric port.
func hostname(host string) (string, bool) {
	if host == "" {
		return "", false
	}
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", false
		}
		rest := host[end+1:]
		if rest != "" && !validPort(strings.TrimPrefix(rest, ":"), strings.HasPrefix(rest, ":")) {
			return "", false
		}
		return host[1:end], end > 1
	}
	if strings.Count(host, ":") > 1 {
		return "", false
	}
	if h, p, err := net.SplitHostPort(host); err == nil {
		return h, h != "" && validPort(p, true)
	}
	return host, true
}

func validPort(p string, hadColon bool) bool {
	if !hadColon || p == "" || len(p) > 5 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Handler serves h only to requests whose Host allow accepts, and answers
// 421 Misdirected Request to the rest without reading their body.
func Handler(allow Allow, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow == nil || !allow(r.Host) {
			http.Error(w, "this listener answers only to localhost, 127.0.0.1, [::1] and the gateway's own URL", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}
