package app_test

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/costwarden/costwarden/internal/server"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the overview screenshot to docs/img/dashboard.png")

// chromium starts Debian's Chromium, headless, with a fresh profile, and
// returns a browser context. A missing binary fails the test with the package
// to install.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install chromium (scripts/ensure-tools.sh installs it)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The server's certificate is the self-signed one generated for the test.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// shot saves a full-page screenshot under the test's artifact directory.
func shot(t *testing.T, ctx context.Context, name string) []byte {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
	return buf
}

// run performs steps; on failure it reports where the page was and what it said.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		failAt(t, ctx, what, err)
	}
}

// get performs one action and returns its value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		failAt(t, ctx, what, err)
	}
	return v
}

func failAt(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
	t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
}

// js runs a statement for its effect.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("(() => { "+expr+"; return true })()")(ctx, tg)
		return err
	})
}

// loginInBrowser logs in through the pages: password, then a TOTP code.
func loginInBrowser(t *testing.T, ctx context.Context, base, user, code string) {
	t.Helper()
	run(t, ctx, "login as "+user,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Submit(chromedp.ID("code")),
		// Logged in: the dashboard's navigation appears (the login pages have none).
		chromedp.WaitVisible(chromedp.CSS("nav.mainnav")),
	)
}

// poll waits until a JavaScript expression is true.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
		return err
	})
}

// TestDashboardInChromium drives the dashboard in Debian's Chromium as a person
// would: log in with a password and a TOTP code computed by oathtool, see the
// overview chart with data, change aggregation and window, drill down from
// namespace to controller to pod, download the CSV, look at every page, and
// log out; then a viewer scoped to one namespace sees only it. On the way it
// checks that the session cookie is invisible to JavaScript, that the CSP
// blocks an injected inline script, and that markup in an annotation is shown
// as text. The admin also uses the Admin page against the live API (status,
// posture, telemetry consent, a service account's token); the viewer is
// refused the Audit page and its API; an auditor then filters the audit
// records all of this produced and sees the chain verified, then broken after
// an edit (browser_audit_test.go).
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 3)
	cfg.Telemetry.Endpoint = "https://127.0.0.1:9/v1/report" // consent can be given (nothing is sent within the test)
	r := serve(t, cfg)
	r.waitLog(t, "backfill complete")
	base := "https://" + r.public
	now := time.Now()
	// Each user's enrolment session stays open as that user's API client.
	dana, vic, audrey := newBrowser(t, r), newBrowser(t, r), newBrowser(t, r)
	secret, _ := dana.enrol(addUser(t, cfg, "dana", "admin", ""), testPassword, goTOTP, now)
	viewerSecret, _ := vic.enrol(addUser(t, cfg, "vic", "viewer", "namespaces=payments"), testPassword, goTOTP, now)
	auditorSecret, _ := audrey.enrol(addUser(t, cfg, "audrey", "auditor", ""), testPassword, goTOTP, now)

	ctx := chromium(t)
	downloads := t.TempDir()
	run(t, ctx, "allow downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		events := true
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &events})
		return err
	}))

	// Log in with the next time step's code (the enrolment spent this one).
	loginInBrowser(t, ctx, base, "dana", oathtool(t, secret, now.Add(30*time.Second)))

	// Overview: the chart is drawn from data, the figures are filled in.
	run(t, ctx, "overview",
		chromedp.WaitVisible(chromedp.CSS("#trend svg rect.bar")),
		poll(`document.querySelectorAll('#trend rect.bar').length >= 3 && document.querySelector('#kpi-mtd').textContent.startsWith('$')`))
	mtd := get(t, ctx, "month to date", chromedp.Text(chromedp.CSS("#kpi-mtd")))
	loc := get(t, ctx, "location", chromedp.Location())
	if loc != base+"/" || mtd == "$0.00" {
		t.Errorf("after login at %s with month to date %q", loc, mtd)
	}
	png := shot(t, ctx, "overview")
	if *updateScreenshot {
		if err := os.WriteFile("../../docs/img/dashboard.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The session cookie exists, HttpOnly, and JavaScript cannot read it.
	jsCookies := get(t, ctx, "document.cookie", chromedp.Evaluate[string](`document.cookie`))
	res := get(t, ctx, "cookies", chromedp.Action[network.GetCookiesResult](func(ctx context.Context, _ *chromedp.Target) (network.GetCookiesResult, error) {
		return chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	}))
	found := false
	for _, c := range res.Cookies {
		if c.Name == server.SessionCookie {
			found = true
			if !c.HTTPOnly || !c.Secure {
				t.Errorf("session cookie HttpOnly=%v Secure=%v", c.HTTPOnly, c.Secure)
			}
		}
	}
	if !found || strings.Contains(jsCookies, "costwarden") {
		t.Errorf("session cookie found=%v; document.cookie = %q", found, jsCookies)
	}

	// The CSP blocks a script injected inline into the page, and says so.
	type cspResult struct {
		Ran      bool   `json:"ran"`
		Violated string `json:"violated"`
	}
	csp := get(t, ctx, "inject an inline script", chromedp.Evaluate[cspResult](`new Promise((resolve) => {
		let violated = "";
		document.addEventListener("securitypolicyviolation", (e) => { violated = e.violatedDirective; });
		const s = document.createElement("script");
		s.textContent = "window.__injected = true";
		document.body.appendChild(s);
		setTimeout(() => resolve({ ran: window.__injected === true, violated }), 300);
	})`, chromedp.EvalAwaitPromise))
	if csp.Ran || !strings.HasPrefix(csp.Violated, "script-src") {
		t.Errorf("injected inline script: ran=%v, violation %q", csp.Ran, csp.Violated)
	}

	// Allocations: the default view, then another aggregation and window.
	run(t, ctx, "allocations",
		chromedp.Navigate(base+"/allocations"),
		chromedp.WaitVisible(chromedp.CSS("#alloc-table tbody tr")),
		chromedp.WaitVisible(chromedp.CSS("#chart rect.bar")),
		chromedp.SetValue(chromedp.CSS("#window"), "24h"),
		chromedp.SetValue(chromedp.CSS("#aggregate"), "team"),
		chromedp.Click(chromedp.CSS("#apply")),
		poll(`location.search.includes("aggregate=team") && location.search.includes("window=24h") && document.querySelector('#alloc-table th button')?.textContent === "team" && !document.querySelector('[data-loading]')`),
	)
	teams := get(t, ctx, "team rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#alloc-table tbody tr td:first-child')].map(td => td.textContent)`))
	if len(teams) < 3 {
		t.Errorf("aggregate=team shows %v", teams)
	}
	shot(t, ctx, "allocations-team")

	// Drill down: namespace → controller → pod.
	run(t, ctx, "drill down",
		chromedp.SetValue(chromedp.CSS("#window"), "7d"),
		chromedp.SetValue(chromedp.CSS("#aggregate"), "namespace"),
		chromedp.Click(chromedp.CSS("#apply")),
		poll(`document.querySelector('#alloc-table th button')?.textContent === "namespace" && [...document.querySelectorAll('#alloc-table button.drill')].some(b => b.textContent === "payments")`),
		js(`[...document.querySelectorAll('#alloc-table button.drill')].find(b => b.textContent === "payments").click()`),
		poll(`document.querySelector('#alloc-table th button')?.textContent === "controller" && document.querySelector('#crumbs').textContent.includes("payments") && document.querySelectorAll('#alloc-table button.drill').length > 0`),
	)
	shot(t, ctx, "allocations-controller")
	run(t, ctx, "drill to pods",
		js(`document.querySelector('#alloc-table button.drill').click()`),
		poll(`document.querySelector('#alloc-table th button')?.textContent === "pod" && document.querySelectorAll('#alloc-table tbody tr').length > 1`),
	)
	crumbs := get(t, ctx, "crumbs", chromedp.Text(chromedp.CSS("#crumbs")))
	filter := get(t, ctx, "filter", chromedp.Value(chromedp.CSS("#filter")))
	if !strings.Contains(filter, `namespace:"payments"`) || !strings.Contains(filter, `controller:"`) {
		t.Errorf("after drilling: filter %q, crumbs %q", filter, crumbs)
	}
	shot(t, ctx, "allocations-pod")

	// Download the CSV of what is on screen.
	run(t, ctx, "download CSV", chromedp.Click(chromedp.CSS("#dl-csv")))
	csvBody := waitDownload(t, downloads)
	if !strings.HasPrefix(csvBody, "windowStart,windowEnd,name,") || !strings.Contains(csvBody, "payments") {
		t.Errorf("downloaded CSV: %.300s", csvBody)
	}
	for _, line := range strings.Split(strings.TrimSpace(csvBody), "\n")[1:] {
		if !strings.Contains(line, ",payments,") {
			t.Errorf("the CSV has a row outside the drilled-down view: %.200s", line)
			break
		}
	}

	// Markup in an annotation is text: shown literally, never run.
	type hostileResult struct {
		Title string `json:"title"`
		Elems int    `json:"elems"`
		Text  bool   `json:"text"`
	}
	run(t, ctx, "hostile annotation",
		chromedp.Navigate(base+"/allocations?window=7d&aggregate=annotation:costwarden.dev/note"),
		poll(`document.querySelectorAll('#alloc-table tbody tr').length > 0`))
	hostile := get(t, ctx, "hostile annotation", chromedp.Evaluate[hostileResult](`({title: document.title, elems: document.querySelectorAll('main img, main script:not([src])').length,
		text: document.querySelector('#alloc-table').textContent.includes("<script>document.title='pwned'</script>")})`))
	if hostile.Title == "pwned" || hostile.Elems != 0 || !hostile.Text {
		t.Errorf("annotation markup: %+v (want the title untouched, no element, the text shown)", hostile)
	}
	shot(t, ctx, "allocations-annotation")

	// Every other page renders with its data.
	for _, p := range []struct{ path, ready, name string }{
		{"/infrastructure", `document.querySelectorAll('#assets-table tbody tr').length > 3 && document.body.textContent.includes("spot")`, "assets"},
		{"/savings", `document.querySelector('#savings-table') || document.querySelector('#table .empty')`, "savings"},
		{"/admin", `document.querySelector('#users-table') && document.querySelector('#settings dl') && document.querySelector('#keys table')`, "admin"},
		{"/audit", `document.querySelector('#chainstatus').textContent !== "Checking…" && !document.querySelector('[data-loading]')`, "audit"},
		{"/account", `document.querySelector('main h1')`, "account"},
	} {
		run(t, ctx, p.path, chromedp.Navigate(base+p.path), poll(p.ready))
		shot(t, ctx, p.name)
	}
	// Admin page against the live API: status, posture, telemetry consent, a service account's token.
	adminPageInChromium(t, ctx, r, dana)
	// Keyboard: the skip link is the first stop and leads to the content.
	run(t, ctx, "keyboard", chromedp.Navigate(base+"/allocations"), chromedp.WaitVisible(chromedp.CSS("#alloc-table")), chromedp.KeyEvent("\t"))
	if focused := get(t, ctx, "focus", chromedp.Evaluate[string](`document.activeElement.textContent`)); focused != "Skip to content" {
		t.Errorf("first Tab focuses %q", focused)
	}

	// Log out: back to the login page, and the dashboard is closed.
	run(t, ctx, "log out",
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.Navigate(base+"/allocations"),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	if loc := get(t, ctx, "location", chromedp.Location()); loc != base+"/login" {
		t.Errorf("after logout /allocations went to %s", loc)
	}

	// A viewer scoped to payments sees payments only, everywhere.
	loginInBrowser(t, ctx, base, "vic", totpAfter(t, viewerSecret, now))
	run(t, ctx, "scoped overview", poll(`document.querySelector('#top-table') && document.querySelectorAll('#trend rect.bar').length > 0`))
	names := get(t, ctx, "top namespaces", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#top-table tbody td:first-child')].map(td => td.textContent)`))
	nav := get(t, ctx, "nav", chromedp.Text(chromedp.CSS("nav.mainnav")))
	if len(names) != 1 || names[0] != "payments" || strings.Contains(nav, "Admin") {
		t.Errorf("scoped viewer's overview shows %v, nav %q", names, nav)
	}
	shot(t, ctx, "viewer-overview")
	for _, agg := range []string{"namespace", "pod", "node"} {
		run(t, ctx, "scoped allocations by "+agg,
			chromedp.Navigate(base+"/allocations?window=7d&aggregate="+agg),
			poll(`document.querySelectorAll('#alloc-table tbody tr').length > 0 && !document.querySelector('[data-loading]')`))
		text := get(t, ctx, "page text", chromedp.Text(chromedp.CSS("#main")))
		for _, other := range []string{"checkout", "search", "ml-training", "monitoring", "__idle__", "kube-system"} {
			if strings.Contains(text, other) {
				t.Errorf("scoped viewer sees %q with aggregate=%s", other, agg)
			}
		}
	}
	shot(t, ctx, "viewer-allocations")
	run(t, ctx, "scoped assets", chromedp.Navigate(base+"/infrastructure"), poll(`document.querySelector('#table .empty')`))
	if txt := get(t, ctx, "assets text", chromedp.Text(chromedp.CSS("#table"))); !strings.Contains(txt, "No assets") {
		t.Errorf("scoped viewer's assets page: %q", txt)
	}
	// The viewer may not read the audit trail: the page refuses, so does the API.
	auditRefusedInChromium(t, ctx, base, vic)
	run(t, ctx, "viewer logs out", chromedp.Navigate(base+"/account"), chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("username")))

	// An auditor lands on the Audit page and finds everything above in it.
	loginInBrowser(t, ctx, base, "audrey", totpAfter(t, auditorSecret, now))
	auditPageInChromium(t, ctx, cfg, base, audrey)
}

// waitDownload returns the first finished download in dir.
func waitDownload(t *testing.T, dir string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			if strings.HasSuffix(e.Name(), ".crdownload") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err == nil && len(b) > 0 {
				return string(b)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no download finished in %s", dir)
	return ""
}
