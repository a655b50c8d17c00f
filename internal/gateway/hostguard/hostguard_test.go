package hostguard

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLoopback(t *testing.T) {
	t.Parallel()
	allow := Loopback("http://qg.internal.example:8443/base", "::not a url")
	cases := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"localhost:8080", true},
		{"LOCALHOST:8080", true},
		{"127.0.0.1", true},
		{"127.0.0.1:9050", true},
		{"[::1]", true},
		{"[::1]:8080", true},
		{"qg.internal.example", true},
		{"qg.internal.example:8080", true},
		{"", false},
		{"evil.example", false},
		{"evil.example:8080", false},
		{"localhost.evil.example", false},
		{"127.0.0.1.nip.io:8080", false},
		{"127.0.0.2:8080", false},
		{"::1", false},
		{"[::1", false},
		{"[::1]x", false},
		{"[]:80", false},
		{"localhost:", false},
		{"localhost:80x", false},
		{":8080", false},
		{"localhost:8080:1", false},
		{"0.0.0.0:8080", false},
	}
	for _, tc := range cases {
		if got := allow(tc.host); got != tc.want {
			t.Errorf("allow(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	h := Handler(Loopback(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("inner")) }))
	for _, tc := range []struct {
		host string
		code int
		body string
	}{
		{"127.0.0.1:8080", http.StatusOK, "inner"},
		{"rebind.attacker.example", http.StatusMisdirectedRequest, ""},
	} {
		req := httptest.NewRequest(http.MethodGet, "/dev/mailbox", nil)
		req.Host = tc.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("Host %q: status %d, want %d", tc.host, rec.Code, tc.code)
		}
		if tc.body != "" && rec.Body.String() != tc.body {
			t.Errorf("Host %q: body %q, want %q", tc.host, rec.Body.String(), tc.body)
		}
		if tc.code != http.StatusOK && rec.Body.String() == "inner" {
			t.Errorf("Host %q reached the inner handler", tc.host)
		}
	}
	nilAllow := Handler(nil, http.NotFoundHandler())
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "localhost"
	rec := httptest.NewRecorder()
	nilAllow.ServeHTTP(rec, req)
	if rec.Code != http.StatusMisdirectedRequest {
		t.Errorf("nil Allow: status %d, want 421", rec.Code)
	}
}

func FuzzHostname(f *testing.F) {
	for _, s := range []string{"localhost:8080", "[::1]:1", "a:b:c", "[", "]"} {
		f.Add(s)
	}
	allow := Loopback()
	f.Fuzz(func(t *testing.T, host string) {
		h, ok := hostname(host)
		if ok && h == "" {
			t.Fatalf("hostname(%q) accepted an empty name", host)
		}
		if allow(host) && h != "localhost" && h != "127.0.0.1" && h != "::1" && !equalFoldASCII(h, "localhost") {
			t.Fatalf("allow(%q) with name %q", host, h)
		}
	})
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
