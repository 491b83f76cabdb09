package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/doctor"
	"github.com/costwarden/costwarden/internal/telemetry"
	"github.com/costwarden/costwarden/internal/testlog"
)

// The Audit and Admin pages in Chromium, against the live API (issue 7's
// audit trail, posture and telemetry consent). TestDashboardInChromium calls
// these on its one server and browser.

// totpAfter is a TOTP code for a time step after the one enrolment spent: now,
// or the next step when now is still in the enrolment's.
func totpAfter(t *testing.T, secret string, enrolled time.Time) string {
	t.Helper()
	at := time.Now()
	if at.Unix()/30 <= enrolled.Unix()/30 {
		at = enrolled.Add(30 * time.Second)
	}
	return oathtool(t, secret, at)
}

// rows returns the text of every cell of a table's body rows.
func rows(t *testing.T, ctx context.Context, table string) [][]string {
	t.Helper()
	return get(t, ctx, "rows of "+table, chromedp.Evaluate[[][]string](fmt.Sprintf(
		`[...document.querySelectorAll(%q)].map(tr => [...tr.cells].map(td => td.textContent))`, table+" tbody tr")))
}

// apiJSON GETs path with b's session and decodes the answer, failing on anything but 200.
func apiJSON(t *testing.T, b *browser, path string, v any) {
	t.Helper()
	a := b.get(path)
	if a.code != 200 {
		t.Fatalf("GET %s = %d %.300s", path, a.code, a.body)
	}
	if err := json.Unmarshal([]byte(a.body), v); err != nil {
		t.Fatalf("GET %s: %v in %.300s", path, err, a.body)
	}
}

// adminPageInChromium: an admin opens the Admin page and sees the status of
// the demo source, the posture checks and findings the API reports, and the
// exact telemetry payload; turns telemetry on and off with the button (each
// visible through GET /api/v1/telemetry/consent and recorded in the audit
// trail); creates a service account and issues it a token through the page
// (the token works). dana is the admin's separate API session.
func adminPageInChromium(t *testing.T, ctx context.Context, r *running, dana *browser) {
	base := "https://" + r.public
	var me struct{ ID, Name string }
	apiJSON(t, dana, "/api/v1/me", &me)

	run(t, ctx, "admin page",
		chromedp.Navigate(base+"/admin"),
		poll(`document.querySelector('#sources-table') && document.querySelector('#posture-checks') && document.querySelector('#telemetry-payload') && document.querySelector('#services')`))

	// Status: the demo source as GET /api/v1/status reports it.
	var st statusDoc
	apiJSON(t, dana, "/api/v1/status", &st)
	if len(st.Data.Sources) != 1 {
		t.Fatalf("status has %d sources", len(st.Data.Sources))
	}
	src := st.Data.Sources[0]
	ready := get(t, ctx, "ready", chromedp.Text(chromedp.CSS("#ready")))
	srows := rows(t, ctx, "#sources-table")
	wantBackfill := fmt.Sprintf("complete (%d hours)", src.Backfill.Total)
	if !strings.HasPrefix(ready, "Ready.") || len(srows) != 1 || srows[0][0] != clusterName || srows[0][1] != "demo" || srows[0][2] != src.State ||
		src.State != "ok" || srows[0][4] != wantBackfill || srows[0][3] == "—" {
		t.Errorf("status panel: %q, sources %q; the API says %+v (want backfill %q)", ready, srows, src, wantBackfill)
	}

	// Posture: every check with the result the API gives, the score, and the findings.
	var pos doctor.Report
	apiJSON(t, dana, "/api/v1/security/posture", &pos)
	var want [][]string
	for _, c := range pos.Checks {
		want = append(want, []string{c.ID, string(c.Status)})
	}
	if got := rows(t, ctx, "#posture-checks"); len(want) < 8 || !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("posture checks on the page %q, the API's %q", got, want)
	}
	score := get(t, ctx, "posture score", chromedp.Text(chromedp.CSS("#posture-score")))
	if !strings.Contains(score, fmt.Sprintf("%d/100", pos.Score)) || !strings.Contains(score, string(pos.Worst)) {
		t.Errorf("posture score %q; the API says %d, worst %s", score, pos.Score, pos.Worst)
	}
	findings := rows(t, ctx, "#posture-table")
	if len(findings) != len(pos.Findings) || !slices.ContainsFunc(pos.Findings, func(f doctor.Finding) bool { return f.ID == "tls.self-signed" }) {
		t.Errorf("posture findings on the page %q; the API has %+v (the test server's certificate is self-signed)", findings, pos.Findings)
	}
	for i := range min(len(findings), len(pos.Findings)) {
		f := pos.Findings[i]
		if findings[i][0] != string(f.Severity) || !strings.Contains(findings[i][1], f.ID) || !strings.Contains(findings[i][1], f.Title) || findings[i][2] != f.Fix {
			t.Errorf("posture finding %d on the page %q; the API's %+v", i, findings[i], f)
		}
	}
	shot(t, ctx, "admin-status-posture")

	// Telemetry: off, and the payload shown is the one the API previews.
	type preview struct {
		Enabled        bool
		PayloadVersion int
		Payload        telemetry.Payload
	}
	var pv preview
	apiJSON(t, dana, "/api/v1/telemetry/preview", &pv)
	var shown telemetry.Payload
	text := get(t, ctx, "payload", chromedp.Text(chromedp.CSS("#telemetry-payload")))
	if err := json.Unmarshal([]byte(text), &shown); err != nil {
		t.Fatalf("the page's payload is not JSON: %v\n%s", err, text)
	}
	state := get(t, ctx, "telemetry state", chromedp.Text(chromedp.CSS("#telemetry-state")))
	if shown.PayloadVersion != pv.PayloadVersion || shown.Version != "test" || shown.Clusters != pv.Payload.Clusters || shown.Clusters != "1" ||
		!slices.Equal(slices.Sorted(maps.Keys(shown.Features)), telemetry.FeatureNames()) || pv.Enabled || !strings.HasPrefix(state, "Telemetry is off.") {
		t.Errorf("telemetry section %q with payload %+v; the API previews %+v", state, shown, pv)
	}

	type consent struct {
		Enabled        bool
		By, At         string
		PayloadVersion int
	}
	for i, on := range []bool{true, false} {
		word := map[bool]string{true: "on", false: "off"}[on]
		run(t, ctx, "turn telemetry "+word,
			chromedp.Click(chromedp.ID("telemetry-toggle")),
			poll(fmt.Sprintf(`document.querySelector('#telemetry-state')?.textContent.startsWith("Telemetry is %s.") && document.querySelector('#telemetry-consent').textContent.includes("by dana")`, word)))
		var c consent
		apiJSON(t, dana, "/api/v1/telemetry/consent", &c)
		if c.Enabled != on || c.By != me.ID || c.At == "" || c.PayloadVersion != telemetry.PayloadVersion {
			t.Errorf("after turning telemetry %s in the page, GET /api/v1/telemetry/consent = %+v", word, c)
		}
		apiJSON(t, dana, "/api/v1/telemetry/preview", &pv)
		if pv.Enabled != on {
			t.Errorf("after turning telemetry %s, the preview says enabled=%v", word, pv.Enabled)
		}
		recs := auditRecords(t, dana, "&action=telemetry.consent")
		if len(recs) != i+1 || recs[0].Actor.ID != me.ID || recs[0].Outcome != audit.Success || recs[0].Details["enabled"] != strconv.FormatBool(on) {
			t.Errorf("after turning telemetry %s: telemetry.consent records %+v", word, recs)
		}
		if on {
			shot(t, ctx, "admin-telemetry-on")
		}
	}

	// A service account and a token for it, through the page.
	run(t, ctx, "add a service account",
		chromedp.SetValue(chromedp.ID("sa-name"), "ci-export"),
		chromedp.SetValue(chromedp.ID("sa-role"), "viewer"),
		chromedp.Click(chromedp.CSS("#newservice button[type=submit]")),
		poll(`[...document.querySelectorAll('#services tbody tr')].some(tr => tr.cells[0].textContent === "ci-export")`),
		js(`[...document.querySelectorAll('#services tbody tr')].find(tr => tr.cells[0].textContent === "ci-export").querySelector('button.secondary').click()`),
		poll(`document.querySelector('#newtoken .secret')?.textContent.startsWith("cwt_")`))
	tok := get(t, ctx, "token", chromedp.Text(chromedp.CSS("#newtoken .secret")))
	testlog.Secret(t, tok)
	if code, body := r.get(t, "/api/v1/allocations?window=1d&aggregate=namespace", tok); code != 200 {
		t.Errorf("the token the page issued: %d %.200s", code, body)
	}
	for _, action := range []string{"service.create", "token.create"} {
		recs := auditRecords(t, dana, "&outcome=success&action="+action)
		if len(recs) != 1 || recs[0].Actor.ID != me.ID {
			t.Errorf("%s records after the page created one: %+v", action, recs)
		}
	}
}

// auditRefusedInChromium: a viewer opening the Audit page gets the refusal
// page, no audit data, and the API refuses the page's calls with 403.
func auditRefusedInChromium(t *testing.T, ctx context.Context, base string, vic *browser) {
	for _, p := range []struct{ path, perm string }{{"/audit", "audit:read"}, {"/admin", "users:manage"}} {
		run(t, ctx, "viewer opens "+p.path, chromedp.Navigate(base+p.path))
		type page struct {
			H1, Main, Nav string
			AuditBits     int `json:"auditBits"`
		}
		got := get(t, ctx, "refusal page", chromedp.Evaluate[page](`({h1: document.querySelector('main h1')?.textContent ?? "", main: document.body.innerText,
			nav: document.querySelector('nav.mainnav')?.textContent ?? "", auditBits: document.querySelectorAll('#audit-table, #chainstatus, #controls, #posture, #users-table').length})`))
		if got.H1 != "Not allowed" || !strings.Contains(got.Main, p.perm) || !strings.Contains(got.Main, "viewer role") || got.AuditBits != 0 || strings.Contains(got.Nav, "Audit") {
			t.Errorf("viewer at %s: %+v", p.path, got)
		}
	}
	shot(t, ctx, "viewer-audit-refused")
	type fetched struct {
		Status int
		Body   string
	}
	for _, path := range []string{"/api/v1/audit", "/api/v1/audit?outcome=success", "/api/v1/audit/verify", "/api/v1/security/posture", "/api/v1/telemetry/preview"} {
		f := get(t, ctx, "fetch "+path, chromedp.Evaluate[fetched](fmt.Sprintf(
			`fetch(%q, {headers: {Accept: "application/json"}}).then(async (r) => ({status: r.status, body: await r.text()}))`, path), chromedp.EvalAwaitPromise))
		if f.Status != 403 || !strings.Contains(f.Body, `"permission denied"`) || strings.Contains(f.Body, `"data"`) || strings.Contains(f.Body, `"records"`) {
			t.Errorf("the viewer's page fetched %s: %d %.200s", path, f.Status, f.Body)
		}
	}
	if a := vic.get("/api/v1/audit"); a.code != 403 {
		t.Errorf("viewer GET /api/v1/audit = %d", a.code)
	}
}

var chainCountRE = regexp.MustCompile(`(\d+) records and`)

// auditPageInChromium: an auditor lands on the Audit page, sees the chain
// verified and the records the test produced, filters by action, actor,
// outcome and time (each view equal to what the API answers for the same
// filter), and after an edit of the stored trail sees the chain broken at
// the edited record.
func auditPageInChromium(t *testing.T, ctx context.Context, cfg config.Config, base string, auditor *browser) {
	if loc := get(t, ctx, "location", chromedp.Location()); loc != base+"/audit" {
		t.Errorf("an auditor's login landed on %s, want /audit", loc)
	}
	type verify struct {
		OK      bool
		Records int
	}
	var before verify
	apiJSON(t, auditor, "/api/v1/audit/verify", &before)
	run(t, ctx, "audit page",
		poll(`document.querySelector('#chainstatus').dataset.state === "verified" && document.querySelectorAll('#audit-table tbody tr').length > 0 && !document.querySelector('[data-loading]')`))
	chain := get(t, ctx, "chain", chromedp.Text(chromedp.CSS("#chainstatus")))
	m := chainCountRE.FindStringSubmatch(chain)
	n := 0
	if m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	if !before.OK || !strings.HasPrefix(chain, "Verified: intact.") || n < before.Records || n < 10 {
		t.Errorf("chain status %q; the API verified %+v before", chain, before)
	}
	all := rows(t, ctx, "#audit-table")
	seen := map[string]bool{}
	for _, r := range all {
		seen[r[2]+" "+r[4]] = true // actor, action
	}
	for _, want := range []string{"dana (user) auth.login", "dana (user) auth.logout", "dana (user) service.create", "dana (user) token.create",
		"dana (user) telemetry.consent", "vic (user) authz.denied"} {
		if !seen[want] {
			t.Errorf("the unfiltered audit page lacks %q: %q", want, all)
		}
	}
	// Auditors hold posture:read: the Audit page shows the doctor's report,
	// the same score and findings as the API.
	var pos struct {
		Score    int
		Findings []struct{ ID string }
	}
	apiJSON(t, auditor, "/api/v1/security/posture", &pos)
	run(t, ctx, "posture on the audit page", poll(`!document.querySelector('#posture').hidden && document.querySelector('#posture-score') !== null`))
	score := get(t, ctx, "posture score", chromedp.Text(chromedp.CSS("#posture-score")))
	if !strings.Contains(score, fmt.Sprintf("Score %d/100", pos.Score)) {
		t.Errorf("posture on the audit page %q, the API's score is %d", score, pos.Score)
	}
	if len(pos.Findings) > 0 {
		findings := get(t, ctx, "posture findings", chromedp.Text(chromedp.CSS("#posture-table")))
		for _, f := range pos.Findings {
			if !strings.Contains(findings, f.ID) {
				t.Errorf("the audit page's posture lacks finding %s: %q", f.ID, findings)
			}
		}
	}
	shot(t, ctx, "audit")

	// Each filter: the rows match it, and are exactly the API's answer.
	seqs := func(rs [][]string) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r[0])
		}
		return out
	}
	apiSeqs := func(q string) []string {
		out := []string{}
		for _, rec := range auditRecords(t, auditor, q) {
			out = append(out, strconv.FormatUint(rec.Seq, 10))
		}
		return out[:min(len(out), 100)]
	}
	for _, f := range []struct {
		name                   string
		actor, action, outcome string
		since                  string // datetime-local
		check                  func(r []string) bool
		min                    int
	}{
		{name: "action", action: "token.create", check: func(r []string) bool { return r[4] == "token.create" && r[2] == "dana (user)" && r[6] == "success" }, min: 1},
		{name: "action prefix", action: "telemetry.", check: func(r []string) bool { return r[4] == "telemetry.consent" }, min: 2},
		{name: "actor", actor: "dana", check: func(r []string) bool { return r[2] == "dana (user)" }, min: 5},
		{name: "outcome", outcome: "denied", check: func(r []string) bool { return r[6] == "denied" }, min: 2},
		{name: "actor and outcome", actor: "vic", outcome: "denied", check: func(r []string) bool {
			return r[2] == "vic (user)" && r[6] == "denied" && r[4] == "authz.denied"
		}, min: 2},
		{name: "since", since: "2099-01-01T00:00", min: 0},
	} {
		run(t, ctx, "filter by "+f.name,
			js(fmt.Sprintf(`for (const [k, v] of Object.entries({actor: %q, action: %q, outcome: %q, since: %q})) document.getElementById(k).value = v`,
				f.actor, f.action, f.outcome, f.since)),
			chromedp.Click(chromedp.ID("apply")),
			poll(`!document.querySelector('[data-loading]') && (document.querySelector('#audit-table') || document.querySelector('#table .empty'))`))
		got := rows(t, ctx, "#audit-table")
		q := ""
		for k, v := range map[string]string{"actor": f.actor, "action": f.action, "outcome": f.outcome} {
			if v != "" {
				q += "&" + k + "=" + v
			}
		}
		search := get(t, ctx, "address", chromedp.Evaluate[string](`location.search`))
		if f.since != "" {
			empty := get(t, ctx, "empty", chromedp.Text(chromedp.CSS("#table")))
			if len(got) != 0 || !strings.Contains(empty, "No audit records match") || !strings.Contains(search, "since=2099-01-01") {
				t.Errorf("since 2099: rows %q, %q, address %q", got, empty, search)
			}
			continue
		}
		if len(got) < f.min || slices.Equal(seqs(got), seqs(all)) {
			t.Errorf("filter by %s: %d rows, unfiltered %d (the table must change): %q", f.name, len(got), len(all), got)
		}
		for _, r := range got {
			if !f.check(r) {
				t.Errorf("filter by %s shows a row that does not match: %q", f.name, r)
			}
		}
		if want := apiSeqs(q); !slices.Equal(seqs(got), want) {
			t.Errorf("filter by %s: the page shows records %v, the API %v", f.name, seqs(got), want)
		}
		for _, kv := range strings.Split(q, "&")[1:] {
			if !strings.Contains(search, kv) {
				t.Errorf("filter by %s: %s is not in the address %q", f.name, kv, search)
			}
		}
		if f.name == "actor and outcome" {
			targets := []string{}
			for _, r := range got {
				targets = append(targets, r[5])
			}
			if !slices.Contains(targets, "GET /audit") || !slices.Contains(targets, "GET /api/v1/audit") {
				t.Errorf("the viewer's refusals on the audit page: targets %q", targets)
			}
			shot(t, ctx, "audit-filtered")
		}
	}

	// Edit one stored record (the token's creation): the page says the chain is
	// broken and names that record.
	tokenRecs := auditRecords(t, auditor, "&action=token.create")
	if len(tokenRecs) == 0 {
		t.Fatal("no token.create record to edit")
	}
	seq := tokenRecs[0].Seq
	db, err := sql.Open("sqlite", "file:"+cfg.Storage.SQLite.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit SET outcome = 'failure' WHERE seq = ?", seq); err != nil {
		t.Fatal(err)
	}
	db.Close()
	run(t, ctx, "audit page after an edit",
		chromedp.Navigate(base+"/audit"),
		poll(`["broken", "verified", "error"].includes(document.querySelector('#chainstatus').dataset.state)`))
	chain = get(t, ctx, "chain", chromedp.Text(chromedp.CSS("#chainstatus")))
	verdict := get(t, ctx, "verdict class", chromedp.Evaluate[string](`document.querySelector('#chain-verdict')?.className ?? ""`))
	if !strings.HasPrefix(chain, "Broken.") || !strings.Contains(chain, fmt.Sprintf("First bad record: #%d", seq)) || verdict != "bad" {
		t.Errorf("after editing record %d the chain status says %q (class %q)", seq, chain, verdict)
	}
	shot(t, ctx, "audit-broken")
}
