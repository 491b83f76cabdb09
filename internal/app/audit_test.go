package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/audit"
)

type auditPage struct {
	Code int            `json:"code"`
	Data []audit.Record `json:"data"`
	Next string         `json:"next"`
}

func auditRecords(t *testing.T, b *browser, query string) []audit.Record {
	t.Helper()
	var all []audit.Record
	cursor := ""
	for {
		q := "/api/v1/audit?limit=500" + query
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		a := b.get(q)
		var p auditPage
		if a.code != 200 || json.Unmarshal([]byte(a.body), &p) != nil || p.Code != 200 {
			t.Fatalf("GET %s = %d %.300s", q, a.code, a.body)
		}
		all = append(all, p.Data...)
		if p.Next == "" {
			return all
		}
		cursor = p.Next
	}
}

// TestOneRecordPerAction performs actions as several principals over HTTPS
// and through the CLI, and finds exactly one audit record per action, with
// the right actor, action and outcome; then the auditor verifies the chain,
// filters, and the same records reached the file sink.
func TestOneRecordPerAction(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, 0)
	cfg.Audit.File = filepath.Join(dir, "audit.jsonl")
	r := serve(t, cfg)
	admin, auditor, viewer := newBrowser(t, r), newBrowser(t, r), newBrowser(t, r)
	admin.enrol(addUser(t, cfg, "a-admin", "admin", ""), testPassword, goTOTP, time.Now())
	auditor.enrol(addUser(t, cfg, "a-auditor", "auditor", ""), testPassword, goTOTP, time.Now())
	viewer.enrol(addUser(t, cfg, "a-viewer", "viewer", ""), testPassword, goTOTP, time.Now())
	ids := map[string]string{}
	for _, b := range []struct {
		name string
		b    *browser
	}{{"a-admin", admin}, {"a-auditor", auditor}, {"a-viewer", viewer}} {
		var me struct{ ID string }
		_ = json.Unmarshal([]byte(b.b.get("/api/v1/me").body), &me)
		ids[b.name] = me.ID
	}
	anon := newBrowser(t, r)
	bogus := newBrowser(t, r)
	bogus.bearer = "cwt_" + strings.Repeat("B", 43)

	type action struct {
		id      string
		b       *browser
		do      func(b *browser) answer
		code    audit.Code
		outcome audit.Outcome
		actor   string // principal name ("" anonymous)
		status  int
	}
	var carol string
	actions := []action{
		{"act-create-user-01", admin, func(b *browser) answer {
			a := b.json("POST", "/api/v1/users", map[string]any{"name": "carol", "role": "viewer", "email": "carol@example.com"})
			var p struct{ ID string }
			_ = json.Unmarshal([]byte(a.body), &p)
			carol = p.ID
			return a
		}, audit.UserCreate, audit.Success, "a-admin", 200},
		{"act-denied-users-02", viewer, func(b *browser) answer { return b.get("/api/v1/users") }, audit.AuthzDenied, audit.Denied, "a-viewer", 403},
		{"act-bad-login-03", anon, func(b *browser) answer {
			return b.form("/login", "username", "a-viewer", "password", "not-the-password-at-all")
		},
			audit.AuthPassword, audit.Failure, "", 200},
		{"act-patch-user-04", admin, func(b *browser) answer {
			return b.json("PATCH", "/api/v1/users/"+carol, map[string]any{"role": "editor"})
		}, audit.UserUpdate, audit.Success, "a-admin", 200},
		{"act-token-05", viewer, func(b *browser) answer {
			return b.json("POST", "/api/v1/me/tokens", map[string]any{"name": "ci", "ttl": "1h"})
		},
			audit.TokenCreate, audit.Success, "a-viewer", 200},
		{"act-bad-token-06", bogus, func(b *browser) answer { return b.get("/allocation?window=1h") }, audit.AuthCredential, audit.Failure, "", 401},
		{"act-self-demote-07", admin, func(b *browser) answer {
			return b.json("PATCH", "/api/v1/users/"+ids["a-admin"], map[string]any{"role": "viewer"})
		}, audit.UserUpdate, audit.Denied, "a-admin", 403},
		{"act-consent-denied-08", auditor, func(b *browser) answer {
			return b.json("PUT", "/api/v1/telemetry/consent", map[string]any{"enabled": false})
		}, audit.AuthzDenied, audit.Denied, "a-auditor", 403},
		{"act-consent-09", admin, func(b *browser) answer {
			return b.json("PUT", "/api/v1/telemetry/consent", map[string]any{"enabled": false})
		}, audit.TelemetryConsent, audit.Success, "a-admin", 200},
		{"act-delete-user-10", admin, func(b *browser) answer { return b.do("DELETE", "/api/v1/users/"+carol, nil, "") },
			audit.UserDelete, audit.Success, "a-admin", 200},
		{"act-bad-input-11", admin, func(b *browser) answer { return b.json("POST", "/api/v1/users", map[string]any{"name": "Not Valid"}) },
			audit.UserCreate, audit.Failure, "a-admin", 400},
		{"act-export-13", admin, func(b *browser) answer { return b.get("/api/v1/export/csv?window=1h") }, audit.CostExport, audit.Success, "a-admin", 200},
		{"act-logout-12", viewer, func(b *browser) answer { return b.form("/logout") }, audit.AuthLogout, audit.Success, "a-viewer", 303},
	}
	for _, x := range actions {
		x.b.requestID = x.id
		a := x.do(x.b)
		x.b.requestID = ""
		if a.code != x.status {
			t.Fatalf("%s: %d %.300s, want %d", x.id, a.code, a.body, x.status)
		}
	}
	// CLI administration: one record each, actor local-cli.
	if err := app.UserAction(context.Background(), cfg, env(io.Discard, io.Discard), "disable", "a-viewer"); err != nil {
		t.Fatal(err)
	}
	if err := app.KeysStatus(context.Background(), cfg, env(io.Discard, io.Discard)); err != nil {
		t.Fatal(err)
	}

	recs := auditRecords(t, auditor, "")
	byRequest := map[string][]audit.Record{}
	for _, rec := range recs {
		byRequest[rec.RequestID] = append(byRequest[rec.RequestID], rec)
	}
	for _, x := range actions {
		got := byRequest[x.id]
		if len(got) != 1 {
			t.Errorf("%s: %d audit records, want exactly 1: %+v", x.id, len(got), got)
			continue
		}
		rec := got[0]
		wantActor := ""
		if x.actor != "" {
			wantActor = ids[x.actor]
		}
		if rec.Action != x.code || rec.Outcome != x.outcome || rec.Actor.ID != wantActor || rec.SourceIP != "127.0.0.1" || rec.Time.IsZero() {
			t.Errorf("%s: record %s/%s by %q from %s, want %s/%s by %q", x.id, rec.Action, rec.Outcome, rec.Actor.ID, rec.SourceIP, x.code, x.outcome, wantActor)
		}
	}
	if rec := byRequest["act-create-user-01"]; len(rec) == 1 && (rec[0].Target != carol || rec[0].Details["role"] != "viewer") {
		t.Errorf("user.create record: %+v", rec[0])
	}
	if rec := byRequest["act-bad-login-03"]; len(rec) == 1 && (!strings.HasPrefix(rec[0].Details["username"], "hmac-sha256:") || strings.Contains(fmt.Sprint(rec[0]), "not-the-password")) {
		t.Errorf("failed login record: %+v", rec[0])
	}
	cli := 0
	for _, rec := range recs {
		if rec.Actor.Kind == audit.KindLocalCLI && rec.Actor.ID == "local-cli" && rec.Actor.Name != "" {
			cli++
			if rec.Action != audit.UserCreate && rec.Action != audit.UserDisable && rec.Action != audit.KeysStatus {
				t.Errorf("unexpected CLI record %s", rec.Action)
			}
		}
	}
	if cli != 5 { // three user add, one disable, one keys status
		t.Errorf("%d CLI records, want 5", cli)
	}
	// Nothing in any record is a secret the test used.
	raw, _ := json.Marshal(recs)
	for _, secret := range []string{testPassword, "not-the-password-at-all", bogus.bearer, "carol@example.com"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("an audit record holds %q", secret)
		}
	}
	// Filters.
	if got := auditRecords(t, auditor, "&outcome=denied"); len(got) != 3 {
		t.Errorf("outcome=denied: %d records", len(got))
	}
	if got := auditRecords(t, auditor, "&actor=a-viewer"); len(got) < 6 {
		t.Errorf("actor=a-viewer (by name, failed login included): %d records", len(got))
	}
	if got := auditRecords(t, auditor, "&action=auth.password"); len(got) != 1 {
		t.Errorf("action=auth.password: %d", len(got))
	}
	for q, field := range map[string]string{"?limit=0": "limit", "?limit=501": "limit", "?outcome=maybe": "outcome", "?since=yesterday": "since",
		"?cursor=zzz": "cursor", "?color=red": "color", "?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z": "until"} {
		a := auditor.get("/api/v1/audit" + q)
		if a.code != 400 || !strings.Contains(a.body, `"field":"`+field+`"`) {
			t.Errorf("GET /api/v1/audit%s = %d %s, want 400 naming %s", q, a.code, a.body, field)
		}
	}
	// Verify through the API.
	a := auditor.get("/api/v1/audit/verify")
	var v struct {
		Code        int
		OK          bool
		Records     int
		Checkpoints int
		FirstBad    *audit.Problem
	}
	if err := json.Unmarshal([]byte(a.body), &v); err != nil || a.code != 200 || !v.OK || v.Records < len(recs) || v.FirstBad != nil || !strings.Contains(a.body, `"firstBad":null`) {
		t.Errorf("verify: %d %s", a.code, a.body)
	}
	if a := viewer.get("/api/v1/audit"); a.code != 401 && a.code != 403 {
		t.Errorf("viewer reads the audit log: %d", a.code)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	// An investigator checks a guess against the recorded HMAC.
	var hm bytes.Buffer
	if err := app.AuditHMAC(context.Background(), cfg, env(io.Discard, &hm), strings.NewReader("a-viewer\n")); err != nil {
		t.Fatal(err)
	}
	if rec := byRequest["act-bad-login-03"]; len(rec) == 1 && strings.TrimSpace(hm.String()) != rec[0].Details["username"] {
		t.Errorf("audit hmac printed %q, the record holds %q", hm.String(), rec[0].Details["username"])
	}
	// The file sink holds every record the store holds.
	b, _ := os.ReadFile(cfg.Audit.File)
	lines := strings.Count(string(b), `"type":"record"`)
	var out bytes.Buffer
	if err := app.AuditVerify(context.Background(), cfg, env(io.Discard, &out), ""); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out.String())
	}
	var total int
	fmt.Sscanf(out.String()[strings.Index(out.String(), "records: "):], "records: %d", &total)
	if lines != total {
		t.Errorf("file sink has %d records, the store %d:\n%s", lines, total, b)
	}
	// An edit of the stored trail is found and named.
	db, err := sql.Open("sqlite", "file:"+cfg.Storage.SQLite.Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit SET action = 'user.delete', outcome = 'denied' WHERE seq = 7"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out.Reset()
	err = app.AuditVerify(context.Background(), cfg, env(io.Discard, &out), "")
	if err == nil || !strings.Contains(err.Error(), "first bad record 7") {
		t.Errorf("verify after an edit: %v\n%s", err, out.String())
	}
}

// TestMutationsFailClosed: while the audit table refuses writes, a
// state-changing request is refused with 503 and changes nothing, a CLI
// command is refused, and reads still work; afterwards everything resumes.
func TestMutationsFailClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	admin := newBrowser(t, r)
	admin.enrol(addUser(t, cfg, "f-admin", "admin", ""), testPassword, goTOTP, time.Now())
	db, err := sql.Open("sqlite", "file:"+cfg.Storage.SQLite.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END"); err != nil {
		t.Fatal(err)
	}
	users := func() string { return admin.get("/api/v1/users").body }
	if a := admin.json("POST", "/api/v1/users", map[string]any{"name": "dave", "role": "viewer"}); a.code != 503 || !strings.Contains(a.body, "audit trail") {
		t.Errorf("create user while the trail is down: %d %s", a.code, a.body)
	}
	if a := admin.form("/logout"); a.code != 503 {
		t.Errorf("logout while the trail is down: %d", a.code)
	}
	if strings.Contains(users(), `"dave"`) {
		t.Error("a refused request created the user")
	}
	err = app.AddUserWith(context.Background(), cfg, env(io.Discard, io.Discard), app.UserOptions{Name: "erin", Role: "viewer"})
	if err == nil || !strings.Contains(err.Error(), "audit trail cannot be written") {
		t.Errorf("CLI while the trail is down: %v", err)
	}
	if strings.Contains(users(), `"erin"`) {
		t.Error("a refused CLI command created the user")
	}
	if _, err := db.Exec("DROP TRIGGER refuse_audit"); err != nil {
		t.Fatal(err)
	}
	if a := admin.json("POST", "/api/v1/users", map[string]any{"name": "dave", "role": "viewer"}); a.code != 200 {
		t.Errorf("create user after recovery: %d %s", a.code, a.body)
	}
}
