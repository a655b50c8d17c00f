// Package browser starts headless Chromium for page tests: Debian's
// chromium (QUERYGATE_CHROMIUM overrides the lookup), a fresh profile, and
// the flags that keep it from reaching any host but the loopback servers
// under test.
package browser

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds the Chromium binary, or "".
func Path() string {
	if p := os.Getenv("QUERYGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a browser for t and returns a context bounded by timeout.
// Without a chromium binary the test is skipped, unless
// QUERYGATE_REQUIRE_EMULATORS is set (CI sets it): then it fails.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		if os.Getenv("QUERYGATE_REQUIRE_EMULATORS") != "" {
			t.Fatal("chromium binary not found and QUERYGATE_REQUIRE_EMULATORS is set (apt-get install -y chromium, or set QUERYGATE_CHROMIUM)")
		}
		t.Skip("chromium binary not found (apt-get install -y chromium, or set QUERYGATE_CHROMIUM): skipping the browser test")
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1200, 1600),
	)
	bctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser without a deadline (a deadline on the first call
	// would bound the browser's life), so a broken install fails here.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancel)
	return ctx
}
