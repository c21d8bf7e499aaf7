package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/labspace/labspace/internal/chromium"
)

// The browser tests drive Debian's chromium, headless, through chromedp.

// uiStep bounds one browser step (a click, a page load, a wait for text).
const uiStep = 30 * time.Second

// requireChromium returns chromium's path; it fails in CI and skips
// elsewhere when chromium is missing.
func requireChromium(t *testing.T) string {
	t.Helper()
	return chromium.Path(t)
}

// artifacts is the folder screenshots go to: $LABSPACE_ARTIFACTS, else a
// folder in the system's temporary directory (named in the test log).
func artifacts(t *testing.T) string {
	dir := os.Getenv("LABSPACE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "labspace-ui-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless chromium with its own cookies.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

func newBrowser(t *testing.T, s *server, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path := requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900))
	opts = append(opts, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser; no timeout on this first call
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: "http://" + s.addr, dir: artifacts(t)}
}

// do runs steps; on failure it saves a screenshot and shows the page's text.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	b.shot("failed-" + what)
	b.t.Fatalf("%s: %v\nthe page (%s) reads:\n%.2000s", what, err, b.location(), b.pageText())
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func (b *browser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return text
}

// run runs one action that returns a value; on failure it fails the test.
func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiStep)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// eval evaluates a JavaScript expression (awaiting a promise) in the page.
func eval[T any](b *browser, what, js string) T {
	b.t.Helper()
	return run(b, what, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// text returns the visible text of the first element matching css.
func (b *browser) text(css string) string {
	b.t.Helper()
	return strings.TrimSpace(run(b, "read "+css, chromedp.Text(chromedp.CSS(css))))
}

// open loads path and returns the HTTP status of the page.
func (b *browser) open(path string) int64 {
	b.t.Helper()
	return run(b, "open "+path, chromedp.NavigateResponse(b.base+path)).Status
}

// click clicks css and waits for the page it leads to.
func (b *browser) click(css string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiStep)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css)))
	if err != nil {
		b.fail("click "+css, err)
	}
	return res.Status
}

// waitFor waits up to within for css to be visible.
func (b *browser) waitFor(what, css string, within time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(css))); err != nil {
		b.fail(what, err)
	}
}

var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

// shot writes a full-page PNG of the current page to the artifacts folder.
func (b *browser) shot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, uiStep)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	file := filepath.Join(b.dir, unsafeName.ReplaceAllString(strings.ToLower(name), "-")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot: %s", file)
}

// signIn opens path, expects the login page, signs in and lands on path.
func (b *browser) signIn(user, password, path string) {
	b.t.Helper()
	b.open(path)
	if loc := b.location(); !strings.Contains(loc, "/login?next=") {
		b.t.Fatalf("signed out, %s shows %s, want the login page", path, loc)
	}
	b.do("fill in the login form",
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password))
	b.click(`form[action="/login"] button[type=submit]`)
	if loc := b.location(); loc != b.base+path {
		b.fail("sign in", fmt.Errorf("landed on %s, want %s", loc, b.base+path))
	}
	if who := b.text("#who"); who != user {
		b.t.Fatalf("signed in as %q, want %q", who, user)
	}
}

// newTab clicks css, which opens a new tab whose URL contains urlPart, and
// returns a context for that tab.
func (b *browser) newTab(css, urlPart string) context.Context {
	b.t.Helper()
	ch := chromedp.WaitNewTarget(b.ctx, func(i *target.Info) bool { return strings.Contains(i.URL, urlPart) })
	b.do("click "+css, chromedp.Click(chromedp.CSS(css)))
	select {
	case id := <-ch:
		ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithTargetID(id))
		b.t.Cleanup(cancel)
		return ctx
	case <-time.After(uiStep):
		b.fail("a new tab for "+urlPart, fmt.Errorf("none opened"))
	}
	return nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// writeArtifact saves a file to the artifacts folder.
func writeArtifact(t *testing.T, dir, name string, data []byte) {
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Logf("artifact %s: %v", name, err)
		return
	}
	t.Logf("artifact: %s", file)
}

// front brings the browser's first tab to the front: a background tab's
// timers are throttled and its page is hidden (the UI pauses polling).
func (b *browser) front() {
	b.t.Helper()
	front := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.BringToFront, cdp.Empty{})
		return chromedp.Void{}, err
	}
	b.do("bring the tab to the front", front)
}
