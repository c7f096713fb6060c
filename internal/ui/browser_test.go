package ui_test

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The console is tested in a real browser: Debian's Chromium, headless,
// driven over the DevTools protocol by chromedp, against a whole gateway
// and the TIP simulator. Each state of the issue is reached the way an
// analyst reaches it, screenshotted, and checked by axe-core for serious
// accessibility violations. The page runs under its real CSP: nothing here
// bypasses it, and a violation fails the test.

// axeSource is axe-core's axe.min.js (npm axe-core 4.14.1, MPL-2.0; see
// testdata/axe.LICENSE), injected by the test only and never served.
//
//go:embed testdata/axe.min.js
var axeSource string

// chromiumPath is Debian's Chromium; TIPGATE_CHROMIUM names another.
func chromiumPath() string {
	if p := os.Getenv("TIPGATE_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// stepTimeout bounds every browser step, so that a broken page fails the
// test instead of hanging it.
const stepTimeout = 20 * time.Second

// pageWatch records, from the first script of every page, what must never
// happen: a CSP violation (an inline script or style, an asset from
// elsewhere) or an uncaught error.
const pageWatch = `
window.__watch = {csp: [], errors: []};
document.addEventListener("securitypolicyviolation", function (e) {
  window.__watch.csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
window.addEventListener("error", function (e) { window.__watch.errors.push(String(e.message)); });
window.addEventListener("unhandledrejection", function (e) { window.__watch.errors.push("unhandled rejection: " + String(e.reason)); });
`

type browser struct {
	t     *testing.T
	ctx   context.Context // the tab
	g     *gateway
	shots string
	n     int // screenshots taken
}

// needChromium skips the test when there is no browser, or fails it when
// TIPGATE_REQUIRE_BROWSER=1 (CI) says a browser must be there.
func needChromium(t *testing.T) string {
	t.Helper()
	path := chromiumPath()
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("TIPGATE_REQUIRE_BROWSER") == "1" {
			t.Fatalf("TIPGATE_REQUIRE_BROWSER=1 but there is no Chromium at %s: %v (apt-get install chromium)", path, err)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium, or set TIPGATE_CHROMIUM); set TIPGATE_REQUIRE_BROWSER=1 to fail instead", path)
	}
	return path
}

func newBrowser(t *testing.T, path string, g *gateway) *browser {
	t.Helper()
	shots := os.Getenv("TIPGATE_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	// As root, Chromium needs --no-sandbox; the background-networking flags
	// keep it from calling Google's hosts on a machine with no way out.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, g: g, shots: shots}
	// The first run starts the browser; it must not carry a timeout (that
	// would end the browser with it).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	b.call(t, func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageWatch}); err != nil {
			return err
		}
		// Local time and UTC differ, so the page must show both.
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"})
		return err
	})
	t.Logf("screenshots of the console's states: %s", shots)
	return b
}

// call runs f with a step deadline derived from the tab's context.
func (b *browser) call(t *testing.T, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		t.Fatal(err)
	}
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	b.call(t, func(ctx context.Context) error { return chromedp.Do(ctx, steps...) })
}

func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	var out T
	b.call(t, func(ctx context.Context) error {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
		out = v
		if err != nil {
			return fmt.Errorf("evaluate %s: %w", expr, err)
		}
		return nil
	})
	return out
}

// waitFor polls expr until it is true. chromedp's Poll builds its predicate
// with new Function, which the console's CSP (rightly) forbids, so the
// predicate is evaluated over the protocol instead.
func (b *browser) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		ok := eval[bool](t, b, "Boolean("+expr+")")
		if ok {
			return
		}
		if time.Now().After(deadline) {
			status := eval[string](t, b, `document.getElementById("status").textContent + " | " + document.getElementById("problem").textContent`)
			t.Fatalf("waited %v for %s; the page says: %s", stepTimeout, what, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// idle is true when the page is not waiting for tipgate.
const idle = `document.body.getAttribute("aria-busy") !== "true"`

func (b *browser) waitAnswer(t *testing.T, indicator, cache string) {
	t.Helper()
	b.waitFor(t, "the answer for "+indicator+" ("+cache+")", fmt.Sprintf(
		`%s && !document.getElementById("answer").hidden && document.getElementById("answer").dataset.indicator === %q && document.getElementById("answer").dataset.cache === %q`,
		idle, indicator, cache))
}

func (b *browser) waitForm(t *testing.T, mode string) {
	t.Helper()
	b.waitFor(t, "the "+mode+" form", fmt.Sprintf(
		`%s && !document.getElementById("request-section").hidden && document.getElementById("request-section").dataset.mode === %q`, idle, mode))
}

func (b *browser) waitProblem(t *testing.T) {
	t.Helper()
	b.waitFor(t, "a problem", idle+` && !document.getElementById("problem").hidden`)
}

func (b *browser) text(t *testing.T, id string) string {
	t.Helper()
	return eval[string](t, b, fmt.Sprintf(`document.getElementById(%q).innerText || document.getElementById(%q).textContent`, id, id))
}

func (b *browser) open(t *testing.T, path string) {
	t.Helper()
	b.do(t, chromedp.Navigate(b.g.base+path))
}

// setKey enters a key in the key form, as an analyst types it and presses
// Enter.
func (b *browser) setKey(t *testing.T, name string) {
	t.Helper()
	b.waitFor(t, "the key form", `!document.getElementById("key-section").hidden`)
	b.do(t, chromedp.SendKeys(chromedp.ID("key"), b.g.keys[name]+kb.Enter))
	b.waitFor(t, "the key "+name+" to be accepted", fmt.Sprintf(
		`!document.getElementById("who").hidden && document.getElementById("who-text").textContent.indexOf(%q) >= 0`, "Key "+name))
	// Accepting a key opens the indicator already in the field, if any;
	// the next step must not race it.
	b.waitFor(t, "the page to settle after the key", idle+` && document.getElementById("status").textContent !== "Checking the key…"`)
}

// setValue sets a field's value as a paste would.
func (b *browser) setValue(t *testing.T, id, value string) {
	t.Helper()
	b.do(t, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = %q`, id, value)))
}

// typeIndicator types into the indicator field and presses Enter.
func (b *browser) typeIndicator(t *testing.T, text string) {
	t.Helper()
	b.setValue(t, "indicator", "")
	b.do(t, chromedp.SendKeys(chromedp.ID("indicator"), text+kb.Enter))
}

// axeViolation is what the test reads of an axe-core violation.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// check is run in every state: a screenshot, then the accessibility check,
// the page's CSP and error record, and that no key is in any address the
// page loaded or holds.
func (b *browser) check(t *testing.T, name string) {
	t.Helper()
	b.n++
	// The whole page, whatever the viewport: a clip of the document's size
	// (FullScreenshot stops at an emulated viewport's height).
	size := eval[[]float64](t, b, `[document.documentElement.scrollWidth, document.documentElement.scrollHeight]`)
	var png []byte
	b.call(t, func(ctx context.Context) error {
		r, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format:                page.CaptureScreenshotFormatPng,
			Clip:                  &page.Viewport{Width: size[0], Height: size[1], Scale: 1},
			CaptureBeyondViewport: new(true),
			FromSurface:           new(true),
		})
		png = r.Data
		return err
	})
	file := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}

	if !eval[bool](t, b, `typeof window.axe === "object"`) {
		eval[chromedp.Void](t, b, axeSource)
	}
	type axeResult struct {
		Passes     int            `json:"passes"`
		Violations []axeViolation `json:"violations"`
	}
	var res axeResult
	b.call(t, func(ctx context.Context) error {
		var err error
		res, err = chromedp.Run(ctx, chromedp.Evaluate[axeResult](`axe.run(document).then(function (r) {
			return {passes: r.passes.length, violations: r.violations.map(function (v) {
				return {id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.slice(0, 5).map(function (n) { return n.target.join(" "); })};
			})};
		})`, chromedp.EvalAwaitPromise))
		return err
	})
	if res.Passes == 0 {
		t.Errorf("%s: axe-core checked nothing", name)
	}
	for _, v := range res.Violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s: accessibility violation %s (%s): %s at %v", name, v.ID, v.Impact, v.Help, v.Nodes)
		} else {
			t.Logf("%s: minor accessibility finding %s (%s): %s at %v", name, v.ID, v.Impact, v.Help, v.Nodes)
		}
	}

	type watch struct {
		CSP    []string `json:"csp"`
		Errors []string `json:"errors"`
		URLs   []string `json:"urls"`
		Local  int      `json:"local"`
	}
	w := eval[watch](t, b, `({csp: window.__watch.csp, errors: window.__watch.errors,
		urls: [location.href].concat(performance.getEntriesByType("resource").map(function (e) { return e.name; })),
		local: localStorage.length})`)
	if len(w.CSP) > 0 {
		t.Errorf("%s: the Content-Security-Policy blocked %v", name, w.CSP)
	}
	if len(w.Errors) > 0 {
		t.Errorf("%s: the page threw %v", name, w.Errors)
	}
	if w.Local != 0 {
		t.Errorf("%s: the page wrote %d items to localStorage; the key belongs in sessionStorage only", name, w.Local)
	}
	for _, u := range w.URLs {
		for kname, key := range b.g.keys {
			if strings.Contains(u, key) {
				t.Errorf("%s: the key %s is in the address %s", name, kname, u)
			}
		}
		if !strings.HasPrefix(u, b.g.base+"/") {
			t.Errorf("%s: the page loaded %s, which is not tipgate", name, u)
		}
	}
}

func TestConsole(t *testing.T) {
	start := time.Now()
	path := needChromium(t)
	g := startGateway(t)
	b := newBrowser(t, path, g)

	const (
		red     = "tetegrams.org" // the simulator's captured Red domain
		stale   = "grey.stale-answer.com"
		keyed   = "red.keyboard-only.com"
		budget1 = "orange.budget-one.com"
		budget2 = "orange.budget-two.com"
	)

	t.Run("key entry", func(t *testing.T) {
		b.open(t, "/ui/")
		b.waitFor(t, "the key form", `!document.getElementById("key-section").hidden`)
		if got := eval[string](t, b, `document.activeElement.id`); got != "key" {
			t.Errorf("focus is on %q, want the key field", got)
		}
		b.check(t, "key-entry")
		b.setKey(t, "soar")
		if got := eval[string](t, b, `sessionStorage.getItem("tipgate.key")`); got != g.keys["soar"] {
			t.Error("the key is not in session storage")
		}
	})

	t.Run("uncached: the Threat Lookup form", func(t *testing.T) {
		b.typeIndicator(t, "TeteGrams[.]org")
		b.waitForm(t, "request")
		detected := b.text(t, "detected")
		if !strings.Contains(detected, "Domain") || !strings.Contains(detected, red) {
			t.Errorf("detected = %q, want the type Domain and the normalised %s", detected, red)
		}
		boxes := eval[[]string](t, b, `Array.from(document.querySelectorAll("#section-boxes input")).map(function (i) { return i.value + (i.checked ? "+" : ""); })`)
		if len(boxes) < 5 || !slices.Contains(boxes, "DomainWhoIsInfo") || slices.Contains(boxes, "Zone") || slices.Contains(boxes, "LicenseInfo") {
			t.Errorf("check boxes = %v, want the domain's sections, none checked, without Zone or LicenseInfo", boxes)
		}
		form := b.text(t, "request-section")
		if !strings.Contains(form, "Domain WHOIS") || !strings.Contains(form, "If none is checked, all are requested") {
			t.Errorf("the form lacks readable names or the none-means-all hint:\n%s", form)
		}
		if got := eval[string](t, b, `document.getElementById("limit").value`); got != "10" {
			t.Errorf("limit = %q, want the default 10 from /v1/me", got)
		}
		if got := g.lookupsOf(red); got != 0 {
			t.Errorf("the simulator saw %d lookups of %s before Request; opening must not ask TIP", got, red)
		}
		b.check(t, "uncached-form")
	})

	t.Run("check boxes and limit reach the request", func(t *testing.T) {
		b.do(t,
			chromedp.Click(chromedp.CSS(`#section-boxes input[value="DomainGeneralInfo"]`)),
			chromedp.Click(chromedp.CSS(`#section-boxes input[value="DomainDnsResolutions"]`)),
		)
		b.setValue(t, "limit", "5")
		b.do(t, chromedp.Click(chromedp.ID("request-submit")))
		b.waitAnswer(t, red, "miss")
		req, err := g.lastLookup(red)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(req.Sections, "DomainGeneralInfo") || !slices.Contains(req.Sections, "DomainDnsResolutions") ||
			slices.Contains(req.Sections, "DomainWhoIsInfo") || req.Count != 5 {
			t.Errorf("TIP was asked for sections %v count %d, want DomainGeneralInfo and DomainDnsResolutions (no others) with count 5", req.Sections, req.Count)
		}
		answer := b.text(t, "answer")
		for _, want := range []string{"RED", "Dangerous", "of at most 5 records", "Received from TIP at", "UTC", "miss", "DNS resolutions", "DomainDnsResolutions"} {
			if !strings.Contains(answer, want) {
				t.Errorf("the answer lacks %q:\n%s", want, answer)
			}
		}
		if links := eval[int](t, b, `document.querySelectorAll("#answer a.ioc").length`); links == 0 {
			t.Error("no indicator in the answer is a link")
		}
		curl := b.text(t, "curl-text")
		if !strings.Contains(curl, "$TIPGATE_KEY") || strings.Contains(curl, g.keys["soar"]) || !strings.Contains(curl, "/v1/lookup") {
			t.Errorf("curl command = %q, want $TIPGATE_KEY, never the key", curl)
		}
		b.do(t, chromedp.Click(chromedp.ID("copy-curl")))
		b.waitFor(t, "the copy to be confirmed", `document.getElementById("copy-status").textContent !== ""`)
		b.do(t, chromedp.Click(chromedp.ID("download-json")))
		b.waitFor(t, "the download to be confirmed", `document.getElementById("copy-status").textContent.indexOf("Downloaded") === 0`)
		b.do(t, chromedp.Click(chromedp.ID("copy-curl")))
		b.waitFor(t, "the copy to be confirmed", `document.getElementById("copy-status").textContent.indexOf("Downloaded") !== 0`)
		b.check(t, "requested-answer")
	})

	t.Run("cached: opens at once", func(t *testing.T) {
		before := g.lookupsOf(red)
		b.open(t, "/ui/?indicator="+red)
		b.waitAnswer(t, red, "hit")
		if got := g.lookupsOf(red); got != before {
			t.Errorf("opening a cached indicator asked TIP %d times", got-before)
		}
		answer := b.text(t, "answer")
		for _, want := range []string{"Received from TIP at", "GMT+1", "UTC", "of at most 5 records", "Age"} {
			if !strings.Contains(answer, want) {
				t.Errorf("the cached answer lacks %q:\n%s", want, answer)
			}
		}
		if eval[bool](t, b, `document.getElementById("update").disabled`) {
			t.Error("Update is disabled for a key with the refresh role")
		}
		b.check(t, "cached-opens-at-once")
	})

	t.Run("update", func(t *testing.T) {
		before := g.lookupsOf(red)
		b.do(t, chromedp.Click(chromedp.ID("update")))
		b.waitForm(t, "update")
		checked := eval[[]string](t, b, `Array.from(document.querySelectorAll("#section-boxes input:checked")).map(function (i) { return i.value; })`)
		if !slices.Equal(checked, []string{"DomainGeneralInfo", "DomainDnsResolutions"}) {
			t.Errorf("Update's form checks %v, want the two sections on show", checked)
		}
		b.check(t, "update-form")
		b.setValue(t, "limit", "7")
		b.do(t, chromedp.Click(chromedp.ID("request-submit")))
		b.waitAnswer(t, red, "refreshed")
		if got := g.lookupsOf(red); got != before+1 {
			t.Errorf("Update asked TIP %d times, want once", got-before)
		}
		if req, _ := g.lastLookup(red); req.Count != 7 {
			t.Errorf("Update asked TIP for count %d, want 7", req.Count)
		}
		if curl := b.text(t, "curl-text"); !strings.Contains(curl, "/v1/refresh") || !strings.Contains(curl, "-X POST") {
			t.Errorf("curl for an update = %q, want POST /v1/refresh", curl)
		}
		b.check(t, "updated")
	})

	t.Run("an indicator inside an answer looks it up", func(t *testing.T) {
		target := eval[string](t, b, `document.querySelector("#answer table a.ioc").textContent`)
		b.do(t, chromedp.Click(chromedp.CSS(`#answer table a.ioc`)))
		b.waitFor(t, "the linked indicator", idle+` && (!document.getElementById("request-section").hidden || !document.getElementById("answer").hidden) && document.getElementById("detected").textContent.indexOf(`+fmt.Sprintf("%q", target)+`) >= 0`)
		if loc := eval[string](t, b, `location.search`); loc != "?indicator="+target {
			t.Errorf("the address is %q, want ?indicator=%s", loc, target)
		}
		b.check(t, "linked-indicator")
	})

	t.Run("keyboard only", func(t *testing.T) {
		b.open(t, "/ui/")
		b.waitFor(t, "the page to be ready", idle+` && document.activeElement.id === "indicator"`)
		// Tab order from the top of the page reaches the indicator field.
		b.do(t, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
		found := false
		for range 8 {
			b.do(t, chromedp.KeyEvent(kb.Tab))
			if eval[string](t, b, `document.activeElement.id`) == "indicator" {
				found = true
				break
			}
		}
		if !found {
			t.Fatal("Tab never reached the indicator field")
		}
		assertFocusVisible(t, b)
		b.do(t, chromedp.KeyEvent(keyed), chromedp.KeyEvent(kb.Enter))
		b.waitForm(t, "request")
		// From the form's heading, Tab goes to the first check box; Space
		// checks it.
		b.do(t, chromedp.KeyEvent(kb.Tab))
		first := eval[string](t, b, `document.activeElement.type === "checkbox" ? document.activeElement.value : ""`)
		if first == "" {
			t.Fatalf("after Tab the focus is on %s, want the first check box", eval[string](t, b, `document.activeElement.outerHTML.slice(0, 80)`))
		}
		b.do(t, chromedp.KeyEvent(" "))
		assertFocusVisible(t, b)
		b.check(t, "keyboard-focus")
		for range 40 {
			if eval[string](t, b, `document.activeElement.id`) == "limit" {
				break
			}
			b.do(t, chromedp.KeyEvent(kb.Tab))
		}
		if eval[string](t, b, `document.activeElement.id`) != "limit" {
			t.Fatal("Tab never reached the record limit")
		}
		b.do(t, chromedp.KeyEvent(kb.Backspace+kb.Backspace+"3"), chromedp.KeyEvent(kb.Enter))
		b.waitAnswer(t, keyed, "miss")
		req, err := g.lastLookup(keyed)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(req.Sections, first) || len(req.Sections) > 3 || req.Count != 3 {
			t.Errorf("keyboard request asked TIP for %v count %d, want %s (with Zone, LicenseInfo) count 3", req.Sections, req.Count, first)
		}
		b.check(t, "keyboard-submitted")
	})

	t.Run("error", func(t *testing.T) {
		b.typeIndicator(t, "not an indicator")
		b.waitProblem(t)
		problem := b.text(t, "problem")
		if !strings.Contains(problem, "nothing was sent to TIP") {
			t.Errorf("problem = %q, want the API's detail sentence", problem)
		}
		b.check(t, "error-invalid-indicator")
	})

	t.Run("stale answer", func(t *testing.T) {
		// Grey answers are fresh for 1 s in this gateway: cached now,
		// stale a second later, when the console opens them.
		if status, _ := g.api("POST", "/v1/lookup", g.keys["soar"], `{"indicator":"`+stale+`"}`); status != 200 {
			t.Fatalf("priming %s: status %d", stale, status)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			_, body := g.api("GET", "/v1/lookup?cache_only=true&indicator="+stale, g.keys["soar"], "")
			if body["cache"] == "stale" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never went stale: %v", stale, body)
			}
		}
		b.open(t, "/ui/?indicator="+stale)
		b.waitAnswer(t, stale, "stale")
		answer := b.text(t, "answer")
		for _, want := range []string{"Stale answer", "cache-only", "past its freshness", "GREY"} {
			if !strings.Contains(answer, want) {
				t.Errorf("the stale answer lacks %q:\n%s", want, answer)
			}
		}
		b.check(t, "stale-answer")
	})

	t.Run("key without the refresh role", func(t *testing.T) {
		b.do(t, chromedp.Click(chromedp.ID("forget-key")))
		if got := eval[string](t, b, `String(sessionStorage.getItem("tipgate.key"))`); got != "null" {
			t.Error("Forget key left the key in session storage")
		}
		b.setKey(t, "siem")
		b.open(t, "/ui/?indicator="+red)
		b.waitAnswer(t, red, "hit")
		if !eval[bool](t, b, `document.getElementById("update").disabled`) {
			t.Error("Update is enabled for a key without the refresh role")
		}
		if why := b.text(t, "update-why"); !strings.Contains(why, "refresh role") || !strings.Contains(why, "siem") {
			t.Errorf("the reason Update is off = %q, want the key's name and the missing role", why)
		}
		b.check(t, "no-refresh-role")
	})

	t.Run("503 budget says when to retry", func(t *testing.T) {
		if status, _ := g.api("POST", "/v1/lookup", g.keys["capped"], `{"indicator":"`+budget1+`"}`); status != 200 {
			t.Fatalf("spending the capped key's budget: status %d", status)
		}
		b.do(t, chromedp.Click(chromedp.ID("forget-key")))
		b.setKey(t, "capped")
		b.typeIndicator(t, budget2)
		b.waitForm(t, "request")
		b.do(t, chromedp.Click(chromedp.ID("request-submit")))
		b.waitProblem(t)
		problem := b.text(t, "problem")
		for _, want := range []string{"budget", "Try again after", "UTC"} {
			if !strings.Contains(problem, want) {
				t.Errorf("the 503 problem lacks %q:\n%s", want, problem)
			}
		}
		b.check(t, "budget-spent-503")
	})

	t.Run("360 px wide", func(t *testing.T) {
		b.do(t, chromedp.EmulateViewport(360, 800, chromedp.EmulateMobile))
		b.open(t, "/ui/?indicator="+red)
		b.waitAnswer(t, red, "hit")
		if w := eval[int](t, b, `document.documentElement.scrollWidth`); w > 360 {
			t.Errorf("the page is %d px wide at a 360 px viewport; it must not scroll sideways", w)
		}
		b.check(t, "narrow-360px")
	})

	t.Run("README picture", func(t *testing.T) {
		// The panel as the README shows it: a Red domain, three data
		// types, opened from the cache by a key that may update it.
		b.do(t, chromedp.EmulateViewport(900, 700))
		b.do(t, chromedp.Click(chromedp.ID("forget-key")))
		b.setKey(t, "soar")
		b.open(t, "/ui/?indicator="+red)
		b.waitAnswer(t, red, "hit")
		b.do(t, chromedp.Click(chromedp.ID("update")))
		b.waitForm(t, "update")
		b.do(t, chromedp.Click(chromedp.CSS(`#section-boxes input[value="DomainWhoIsInfo"]`)))
		b.setValue(t, "limit", "10")
		b.do(t, chromedp.Click(chromedp.ID("request-submit")))
		b.waitAnswer(t, red, "refreshed")
		b.open(t, "/ui/?indicator="+red)
		b.waitAnswer(t, red, "hit")
		b.check(t, "red-domain-900px")
	})

	t.Logf("browser tests took %v", time.Since(start).Round(time.Millisecond))
}

// assertFocusVisible fails unless the focused element draws an outline a
// keyboard user can see.
func assertFocusVisible(t *testing.T, b *browser) {
	t.Helper()
	style := eval[string](t, b, `(function (s) { return s.outlineStyle + " " + s.outlineWidth; })(getComputedStyle(document.activeElement))`)
	if strings.HasPrefix(style, "none") || strings.HasSuffix(style, " 0px") {
		t.Errorf("the focused %s has outline %q; focus must be visible", eval[string](t, b, `document.activeElement.id || document.activeElement.tagName`), style)
	}
}
