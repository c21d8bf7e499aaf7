// Package chromium finds what the browser tests need: Debian's chromium
// and axe-core (installed under tools/npm by npm ci), and runs axe-core's
// check on a page. In CI a missing piece fails the test; elsewhere the
// test skips, saying how to get it.
package chromium

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path returns chromium's path.
func Path(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(tb, "chromium is not installed (apt-get install chromium; .ci/run installs it)")
	return ""
}

// Axe returns axe-core's script, from tools/npm of the repository.
func Axe(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			tb.Fatal("no go.mod above the test's folder")
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "tools", "npm", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		missing(tb, "axe-core is not installed: run (cd tools/npm && npm ci); .ci/run does")
	}
	return string(raw)
}

func missing(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatal(why)
	}
	tb.Skip(why)
}

// Violation is one axe-core rule a page breaks, with where.
type Violation struct {
	ID, Impact, Help string
	Targets          []string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
}

// Check runs axe-core (its source given) on the page loaded in ctx and
// returns its serious and critical violations.
func Check(ctx context.Context, axe string) ([]Violation, error) {
	// axe.min.js defines window.axe; a bare script ends in a value that
	// may not be returned by value, hence the trailing "true".
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axe+";\ntrue")); err != nil {
		return nil, fmt.Errorf("load axe-core: %w", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(
		r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
			ID: v.id, Impact: v.impact, Help: v.help, Targets: v.nodes.map(n => n.target.join(" "))}))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, err
	}
	var out []Violation
	return out, json.Unmarshal([]byte(raw), &out)
}
