package replay_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/querygate/querygate/internal/replay"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/testing/browser"
)

// TestBrowserSessionPage opens /sessions/{id} in headless Chromium, as an
// auditor would: the page renders with its styles under its CSP, markup in
// the agent's prompt stays text, and another page cannot frame it.
func TestBrowserSessionPage(t *testing.T) {
	ctx := browser.New(t, 90*time.Second)
	st := newStore(t)
	record(t, st, "s1", "c1", t0, `<img src=x onerror="document.title='pwned'">`)
	mux := http.NewServeMux()
	mux.Handle("GET /sessions/{id}", replay.NewPageHandler(st, func(*http.Request, *session.Session) bool { return true }))
	mux.HandleFunc("GET /frame", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!doctype html><title>framer</title><iframe id="f" src="/sessions/s1"></iframe>`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/sessions/s1"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	title := run(t, ctx, chromedp.Title())
	h1 := run(t, ctx, chromedp.Text(chromedp.CSS("h1")))
	preBackground := run(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("pre")).backgroundColor`))
	firstEvent := run(t, ctx, chromedp.Evaluate[string](`document.querySelectorAll("table")[0].rows[2].cells[2].textContent`))
	if title != "querygate session s1" || h1 != "Session s1" {
		t.Errorf("title %q, h1 %q; want the session page (a prompt's onerror must not run)", title, h1)
	}
	if preBackground != "rgb(244, 244, 244)" {
		t.Errorf("pre background = %q: the page's inline style did not apply under its CSP", preBackground)
	}
	if firstEvent != "policy.decided" {
		t.Errorf("timeline row 2 event = %q, want policy.decided", firstEvent)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/frame")); err != nil {
		t.Fatal(err)
	}
	// Wait until the frame shows the session page or an unreadable
	// (refused) document, then read its heading.
	framed := run(t, ctx, chromedp.Evaluate[string](`new Promise(resolve => {
		const f = document.getElementById("f");
		const tick = () => {
			let d = null;
			try { d = f.contentDocument; } catch (e) {}
			if (d === null) { resolve(""); return; }
			if (d.URL !== "about:blank" && d.readyState === "complete") {
				const h = d.querySelector("h1");
				resolve(h ? h.textContent : "");
				return;
			}
			setTimeout(tick, 20);
		};
		tick();
	})`, chromedp.EvalAwaitPromise))
	if framed != "" {
		t.Errorf("a page framed the session page and read %q: frame-ancestors 'none' not honoured", framed)
	}
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
