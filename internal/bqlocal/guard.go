package bqlocal

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/querygate/querygate/internal/gateway/hostguard"
)

// ServeGuarded serves h on addr behind the same Host and bearer-token checks
// as Start's own listener: for a front that proxies to an emulator running
// elsewhere (a supervised child process). It returns the endpoint and a
// function that stops serving.
func ServeGuarded(addr, token string, allow hostguard.Allow, h http.Handler, log *slog.Logger) (string, func() error, error) {
	if token == "" {
		return "", nil, errors.New("bqlocal: a guarded endpoint needs a token")
	}
	if allow == nil {
		allow = hostguard.Loopback()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: hostguard.Handler(allow, requireToken(token, h)),
		ReadTimeout: 15 * time.Second, WriteTimeout: 5 * time.Minute, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("embedded BigQuery front stopped", "error", err.Error())
		}
	}()
	return "http://" + ln.Addr().String(), srv.Close, nil
}
