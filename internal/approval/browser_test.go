package approval

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
	chromium "github.com/querygate/querygate/testing/browser"
)

// TestBrowserApproveAndDeny opens the mailed link from /dev/mailbox in
// headless Chromium and clicks the page's buttons, as an approver would.
func TestBrowserApproveAndDeny(t *testing.T) {
	cases := []struct {
		name, link, button, comment string
		wantDecision, wantTitle     string
	}{
		{name: "approve", link: "Approve", button: "#approve", comment: "fine for the report", wantDecision: "approved", wantTitle: "Approved"},
		{name: "deny", link: "Deny", button: "#deny", comment: "too broad", wantDecision: "rejected", wantTitle: "Denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := chromium.New(t, 90*time.Second)
			e := newEnv(t)
			e.heldSession("s1", demoSQL)
			e.notify("s1")

			err := chromedp.Do(ctx,
				chromedp.Navigate(e.srv.URL+"/dev/mailbox?token=bob@example.com"),
				chromedp.Click(chromedp.Search(`//div[@data-to="bob@example.com"]//a[normalize-space(.)="`+tc.link+`"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#approval`)),
			)
			if err != nil {
				t.Fatalf("browser, open link from mailbox: %v", err)
			}
			pageURL, err := chromedp.Run(ctx, chromedp.Location())
			if err != nil {
				t.Fatal(err)
			}
			pageTitle := text(t, ctx, `h1`)
			sqlText := text(t, ctx, `#sql`)
			screenshot(t, ctx, tc.name+"-page")
			err = chromedp.Do(ctx,
				chromedp.SendKeys(chromedp.CSS(`#comment`), tc.comment),
				chromedp.Click(chromedp.CSS(tc.button)),
				chromedp.WaitVisible(chromedp.CSS(`#result`)),
			)
			if err != nil {
				t.Fatalf("browser, decide: %v", err)
			}
			resultTitle := text(t, ctx, `#result h1`)
			decision := text(t, ctx, `#decision`)
			code := attr(t, ctx, `#result`, "data-code")
			screenshot(t, ctx, tc.name+"-result")
			if !strings.HasPrefix(pageTitle, tc.link) {
				t.Errorf("page title %q, want it to start with %q", pageTitle, tc.link)
			}
			if sqlText != demoSQL {
				t.Errorf("page SQL %q", sqlText)
			}
			if resultTitle != tc.wantTitle || decision != tc.wantDecision || code != tc.wantDecision {
				t.Errorf("result page: title %q decision %q code %q", resultTitle, decision, code)
			}
			bodies, _ := e.callback.Calls()
			want := []CallbackBody{{Decision: tc.wantDecision, Approver: "bob@example.com", Comment: tc.comment}}
			if diff := cmp.Diff(want, bodies); diff != "" {
				t.Errorf("callback (-want, +got):\n%s", diff)
			}
			s := e.get("s1")
			if s.Approval.Decision != tc.wantDecision || s.Approval.DecidedBy != "bob@example.com" || s.Approval.Comment != tc.comment {
				t.Errorf("approval = %+v", s.Approval)
			}
			if s.Timeline[len(s.Timeline)-1].Type != session.EventApprovalDecided {
				t.Errorf("last event %s", s.Timeline[len(s.Timeline)-1].Type)
			}

			// Opening the spent link again shows that it was used, and
			// nothing more reaches the workflow.
			err = chromedp.Do(ctx,
				chromedp.Navigate(pageURL),
				chromedp.WaitVisible(chromedp.CSS(`#result`)),
			)
			if err != nil {
				t.Fatalf("browser, reopen link: %v", err)
			}
			againCode := attr(t, ctx, `#result`, "data-code")
			if againCode != "link_used" {
				t.Errorf("reopened link: code %q, want link_used", againCode)
			}
			if bodies, _ := e.callback.Calls(); len(bodies) != 1 {
				t.Errorf("callback called %d times, want 1", len(bodies))
			}
		})
	}
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return strings.TrimSpace(v)
}

func attr(t *testing.T, ctx context.Context, css, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(css), name))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, css, err)
	}
	return v.Value
}

// screenshot saves a PNG of the tab when QUERYGATE_SCREENSHOT_DIR is set, so
// a person can look at the pages the test drove.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("QUERYGATE_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
