// Package browsertest drives Debian's headless Chromium (chromedp) for the
// console and single sign-on browser tests.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary, skipping the test when there is none
// (failing instead when BULWARK_REQUIRE_CHROMIUM=1, as .ci/run sets).
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BULWARK_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium is required (BULWARK_REQUIRE_CHROMIUM=1) but not installed")
	}
	t.Skip("chromium not installed (apt-get install chromium)")
	return ""
}

// Start launches a headless Chromium at path and opens url in it; the
// browser ends with the test. The flags keep it off the network (this
// machine reaches no outside host) and working as root.
func Start(t testing.TB, path, url string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root
		chromedp.Headless,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// The first run starts the browser; it gets no timeout of its own.
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// Run runs actions within timeout; on failure it reports where the page
// was and what it showed.
func Run(t testing.TB, ctx context.Context, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(rctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%v (at %s: %q)", err, loc, body)
	}
}
