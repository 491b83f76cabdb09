package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/server"
)

func userCount(t *testing.T, admin *browser) int {
	t.Helper()
	var us struct{ Users []json.RawMessage }
	a := admin.get("/api/v1/users")
	if err := json.Unmarshal([]byte(a.body), &us); err != nil {
		t.Fatalf("/api/v1/users: %d %s", a.code, a.body)
	}
	return len(us.Users)
}

func TestSCIMProvisioning(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	admin := newBrowser(t, r)
	admin.enrol(addUser(t, cfg, "root", "admin", ""), testPassword, goTOTP, time.Now())
	var st struct{ Token string }
	_ = json.Unmarshal([]byte(admin.json("POST", "/api/v1/scim-tokens", map[string]string{"ttl": "720h"}).body), &st)
	scim := newBrowser(t, r)
	scim.bearer = st.Token
	send := func(method, path, body string) answer {
		return scim.do(method, path, strings.NewReader(body), "application/scim+json")
	}
	before := userCount(t, admin)

	// Bad bodies: a clear 4xx in SCIM's error format, nothing stored.
	for _, c := range []struct{ name, body, detail string }{
		{"wrong schema", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"userName":"x1"}`, "schemas"},
		{"no schema", `{"userName":"x2"}`, "schemas"},
		{"foreign extension", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:example:evil"],"userName":"x3"}`, "not supported"},
		{"no userName", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`, "userName"},
		{"bad userName", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Robert'); DROP TABLE principals;--"}`, "userName"},
		{"unicode userName", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jos\u00e9"}`, "userName"},
		{"oversized userName", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + strings.Repeat("a", 300) + `"}`, "userName"},
		{"wrong type", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":42}`, "userName"},
		{"active not boolean", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x4","active":"yes"}`, "active"},
		{"bad e-mail", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x5","emails":[{"value":"not an email"}]}`, "email"},
		{"not JSON", `{"schemas":`, "JSON"},
		{"trailing data", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x6"} {}`, "trailing"},
	} {
		a := send("POST", "/scim/v2/Users", c.body)
		var e struct {
			Schemas []string
			Status  string
			Detail  string
		}
		_ = json.Unmarshal([]byte(a.body), &e)
		if a.code != 400 || e.Status != "400" || len(e.Schemas) != 1 || !strings.Contains(e.Detail, c.detail) || a.header.Get("Content-Type") != "application/scim+json" {
			t.Errorf("%s: %d %s, want a SCIM 400 mentioning %q", c.name, a.code, a.body, c.detail)
		}
	}
	if n := userCount(t, admin); n != before {
		t.Fatalf("bad SCIM bodies stored %d users", n-before)
	}

	// Create, find, deactivate, reactivate, delete.
	a := send("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"userName":"nina","externalId":"00u1","name":{"givenName":"Nina","familyName":"K","formatted":"Nina K"},"emails":[{"value":"nina@example.com","primary":true}],"active":true}`)
	var u struct {
		ID     string
		Active bool
	}
	if err := json.Unmarshal([]byte(a.body), &u); a.code != 201 || err != nil || u.ID == "" || !u.Active {
		t.Fatalf("create: %d %s", a.code, a.body)
	}
	if a := send("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"nina"}`); a.code != 409 || !strings.Contains(a.body, "uniqueness") {
		t.Errorf("duplicate: %d %s", a.code, a.body)
	}
	if a := scim.get(`/scim/v2/Users?filter=` + urlQuery(`userName eq "nina"`)); a.code != 200 || !strings.Contains(a.body, `"totalResults":1`) || !strings.Contains(a.body, u.ID) {
		t.Errorf("filter: %d %s", a.code, a.body)
	}
	if a := scim.get(`/scim/v2/Users?filter=` + urlQuery(`emails co "x"`)); a.code != 400 || !strings.Contains(a.body, "invalidFilter") {
		t.Errorf("unsupported filter: %d %s", a.code, a.body)
	}
	for _, bad := range []string{
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"replace","path":"active","value":false}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"userName","value":"root"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"active"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false,"role":"admin"}}]}`,
	} {
		if a := send("PATCH", "/scim/v2/Users/"+u.ID, bad); a.code != 400 {
			t.Errorf("bad patch %s: %d %s", bad, a.code, a.body)
		}
	}
	if a := scim.get("/scim/v2/Users/" + u.ID); !strings.Contains(a.body, `"active":true`) {
		t.Errorf("a refused PATCH changed the user: %s", a.body)
	}
	if a := send("PATCH", "/scim/v2/Users/"+u.ID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`); a.code != 200 || !strings.Contains(a.body, `"active":false`) {
		t.Errorf("deactivate: %d %s", a.code, a.body)
	}
	if a := send("PATCH", "/scim/v2/Users/"+u.ID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":true}]}`); a.code != 200 || !strings.Contains(a.body, `"active":true`) {
		t.Errorf("reactivate: %d %s", a.code, a.body)
	}
	// The SCIM token does nothing else, and nothing else does SCIM.
	if a := scim.get("/api/v1/users"); a.code != 403 {
		t.Errorf("SCIM token on /api/v1/users: %d", a.code)
	}
	if a := scim.get("/allocation?window=1h"); a.code != 403 {
		t.Errorf("SCIM token on /allocation: %d", a.code)
	}
	if a := admin.get("/scim/v2/Users"); a.code != 403 {
		t.Errorf("admin session on SCIM: %d", a.code)
	}
	if a := scim.do("DELETE", "/scim/v2/Users/"+u.ID, nil, ""); a.code != 204 {
		t.Errorf("delete: %d %s", a.code, a.body)
	}
	if a := scim.get("/scim/v2/Users/" + u.ID); a.code != 404 {
		t.Errorf("after delete: %d", a.code)
	}
	// The SCIM token dies with its owner's right to manage users.
	var me struct{ ID string }
	_ = json.Unmarshal([]byte(admin.get("/api/v1/me").body), &me)
	second := newBrowser(t, r)
	second.enrol(addUser(t, cfg, "root2", "admin", ""), testPassword, goTOTP, time.Now())
	if a := second.json("PATCH", "/api/v1/users/"+me.ID, map[string]string{"role": "viewer"}); a.code != 200 {
		t.Fatalf("demote: %d %s", a.code, a.body)
	}
	if a := scim.get("/scim/v2/Users"); a.code != 401 {
		t.Errorf("SCIM token of a demoted admin: %d, want 401", a.code)
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22")
	return r.Replace(s)
}

func TestUserAdministrationAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	admin := newBrowser(t, r)
	admin.enrol(addUser(t, cfg, "root", "admin", ""), testPassword, goTOTP, time.Now())
	before := userCount(t, admin)
	for _, c := range []struct {
		body  string
		code  int
		field string
	}{
		{`{"name":"Bad Name","role":"viewer"}`, 400, "name"},
		{`{"name":"` + strings.Repeat("a", 65) + `","role":"viewer"}`, 400, "name"},
		{`{"name":"zoë","role":"viewer"}`, 400, "name"},
		{`{"name":"ok","role":"root"}`, 400, "role"},
		{`{"name":"ok","role":"viewer","email":"nope"}`, 400, "email"},
		{`{"name":"ok","role":"admin","scope":{"namespaces":["a"]}}`, 400, "scope"},
		{`{"name":"ok","role":"viewer","scope":{"selector":"a in b"}}`, 400, ""},
		{`{"name":"ok","role":"viewer","planet":"mars"}`, 400, "planet"},
		{`{"name":42}`, 400, "name"},
		{`not json`, 400, "body"},
		{`{"name":"ok","role":"viewer"}{}`, 400, "body"},
		{`{"name":"root","role":"viewer"}`, 409, ""},
	} {
		a := admin.do("POST", "/api/v1/users", strings.NewReader(c.body), "application/json")
		var eb server.ErrorBody
		_ = json.Unmarshal([]byte(a.body), &eb)
		if a.code != c.code || (c.field != "" && eb.Field != c.field) {
			t.Errorf("POST /api/v1/users %s: %d %s, want %d naming %q", c.body, a.code, a.body, c.code, c.field)
		}
	}
	if a := admin.do("POST", "/api/v1/users", strings.NewReader(`{"name":"big","pad":"`+strings.Repeat("x", 2<<20)+`"}`), "application/json"); a.code != 400 && a.code != 413 {
		t.Errorf("oversized body: %d", a.code)
	}
	if n := userCount(t, admin); n != before {
		t.Fatalf("bad input stored %d users", n-before)
	}
	// The users page creates a user too, and shows its setup code once.
	if a := admin.form("/admin/users", "name", "Bad Name", "role", "viewer"); a.code != 400 || !strings.Contains(a.body, "username") {
		t.Errorf("bad name on the users page: %d", a.code)
	}
	if a := admin.form("/admin/users", "name", "quinn", "role", "viewer", "scope", "namespaces=payments"); a.code != 200 || !strings.Contains(a.body, "cwsetup_") {
		t.Errorf("add user on the users page: %d", a.code)
	}
	before++
	if n := userCount(t, admin); n != before {
		t.Fatalf("users page stored %d users, want 1", n-before+1)
	}
	// A created user gets a setup code that works on the setup page.
	a := admin.json("POST", "/api/v1/users", map[string]any{"name": "pia", "role": "viewer", "email": "pia@example.com", "scope": map[string]any{"namespaces": []string{"payments"}}})
	var created struct {
		ID        string
		SetupCode string
	}
	if err := json.Unmarshal([]byte(a.body), &created); a.code != 200 || err != nil || created.SetupCode == "" {
		t.Fatalf("create: %d %s", a.code, a.body)
	}
	pia := newBrowser(t, r)
	pia.enrol(created.SetupCode, testPassword, goTOTP, time.Now())

	// Access request flow: pia asks for editor; the admin approves; it applies
	// at once. Every step is recorded with who and when.
	a = pia.json("POST", "/api/v1/me/access-requests", map[string]any{"role": "editor", "scope": map[string]any{"namespaces": []string{"payments"}}, "reason": "release manager"})
	var req struct{ ID, State string }
	if err := json.Unmarshal([]byte(a.body), &req); a.code != 200 || err != nil || req.State != "pending" {
		t.Fatalf("request: %d %s", a.code, a.body)
	}
	if a := pia.json("POST", "/api/v1/access-requests/"+req.ID+"/approve", nil); a.code != 403 {
		t.Errorf("self-approval through the admin route: %d", a.code)
	}
	a = admin.get("/api/v1/access-requests?state=pending")
	if !strings.Contains(a.body, req.ID) || !strings.Contains(a.body, `"requester":"pia"`) || !strings.Contains(a.body, "release manager") {
		t.Errorf("pending list: %s", a.body)
	}
	a = admin.json("POST", "/api/v1/access-requests/"+req.ID+"/approve", nil)
	if a.code != 200 || !strings.Contains(a.body, `"state":"approved"`) || !strings.Contains(a.body, `"decidedBy":"root"`) || !strings.Contains(a.body, `"decidedAt"`) {
		t.Errorf("approve: %d %s", a.code, a.body)
	}
	if a := pia.get("/api/v1/me"); !strings.Contains(a.body, `"role":"editor"`) {
		t.Errorf("after approval: %s", a.body)
	}
	if a := admin.json("POST", "/api/v1/access-requests/"+req.ID+"/reject", nil); a.code != 409 {
		t.Errorf("deciding twice: %d %s", a.code, a.body)
	}
	// The admin cannot lock themselves out, and sees and ends others' sessions.
	var me struct{ ID string }
	_ = json.Unmarshal([]byte(admin.get("/api/v1/me").body), &me)
	if a := admin.json("PATCH", "/api/v1/users/"+me.ID, map[string]string{"state": "disabled"}); a.code != 403 {
		t.Errorf("self-disable: %d", a.code)
	}
	a = admin.get("/api/v1/users/" + created.ID + "/sessions")
	var ss struct{ Sessions []struct{ ID string } }
	if err := json.Unmarshal([]byte(a.body), &ss); err != nil || len(ss.Sessions) == 0 {
		t.Fatalf("sessions of pia: %s", a.body)
	}
	if a := admin.do("DELETE", "/api/v1/users/"+created.ID+"/sessions/"+ss.Sessions[0].ID, nil, ""); a.code != 200 {
		t.Errorf("admin ends pia's session: %d %s", a.code, a.body)
	}
	if a := pia.get("/api/v1/me"); a.code != 401 {
		t.Errorf("pia's ended session: %d", a.code)
	}
	// Service accounts: owned, tokens issued by an admin, die with the owner.
	a = admin.json("POST", "/api/v1/service-accounts", map[string]any{"name": "ci-bot", "owner": created.ID, "role": "viewer"})
	var svc struct{ ID string }
	if err := json.Unmarshal([]byte(a.body), &svc); a.code != 200 || err != nil {
		t.Fatalf("service account: %d %s", a.code, a.body)
	}
	a = admin.json("POST", "/api/v1/service-accounts/"+svc.ID+"/tokens", map[string]any{"name": "deploy", "ttl": "24h"})
	var tok struct{ Token, ID string }
	if err := json.Unmarshal([]byte(a.body), &tok); a.code != 200 || err != nil || !strings.HasPrefix(tok.Token, "cwt_") {
		t.Fatalf("service token: %d %s", a.code, a.body)
	}
	bot := newBrowser(t, r)
	bot.bearer = tok.Token
	if a := bot.get("/allocation?window=1h"); a.code != 200 {
		t.Errorf("service account token: %d", a.code)
	}
	if a := admin.get("/api/v1/users/" + svc.ID + "/tokens"); !strings.Contains(a.body, tok.ID) || strings.Contains(a.body, tok.Token) {
		t.Errorf("token list (must not show secrets): %s", a.body)
	}
	if a := admin.do("DELETE", "/api/v1/users/"+created.ID, nil, ""); a.code != 200 {
		t.Fatalf("delete owner: %d %s", a.code, a.body)
	}
	if a := bot.get("/allocation?window=1h"); a.code != 401 {
		t.Errorf("service account token after its owner was deleted: %d, want 401", a.code)
	}
}

func TestBruteForceOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	b := newBrowser(t, r)
	b.enrol(addUser(t, cfg, "victim", "viewer", ""), testPassword, goTOTP, time.Now())
	anon := newBrowser(t, r)
	for i := range cfg.Auth.Lockout.AccountFailures {
		if a := anon.form("/login", "username", "victim", "password", "guess-number-"+strconv.Itoa(i)); a.code != 200 || !strings.Contains(a.body, "Wrong username") {
			t.Fatalf("guess %d: %d", i, a.code)
		}
	}
	a := anon.form("/login", "username", "victim", "password", testPassword)
	ra, _ := strconv.Atoi(a.header.Get("Retry-After"))
	if a.code != 429 || ra < 60 || ra > int(cfg.Auth.Lockout.Duration.Seconds()) {
		t.Errorf("after %d failures, the right password: %d Retry-After %q, want 429 with a Retry-After", cfg.Auth.Lockout.AccountFailures, a.code, a.header.Get("Retry-After"))
	}
	// The lockout is in the database: it survives a restart.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r2 := serve(t, cfg)
	if a := newBrowser(t, r2).form("/login", "username", "victim", "password", testPassword); a.code != 429 {
		t.Errorf("after a restart: %d, want 429", a.code)
	}
	// Unlocked through the CLI-free path: an admin can see it is the account,
	// not the address, that is locked: another account logs in from here.
	other := newBrowser(t, r2)
	other.enrol(addUser(t, cfg, "bystander", "viewer", ""), testPassword, goTOTP, time.Now())
	if a := newBrowser(t, r2).form("/login", "username", "bystander", "password", testPassword); a.code != 303 {
		t.Errorf("another account from the same address: %d", a.code)
	}
	_ = context.Background
	_ = io.Discard
	_ = bytes.MinRead
	_ = app.Build{}
	_ = http.StatusOK
}

// TestListsArePaged: list routes page with limit and cursor; following "next"
// visits every item exactly once; bad paging input is a 400 naming the field.
func TestListsArePaged(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	admin := newBrowser(t, r)
	admin.enrol(addUser(t, cfg, "pager", "admin", ""), testPassword, goTOTP, time.Now())
	for i := 0; i < 7; i++ {
		if a := admin.json("POST", "/api/v1/users", map[string]any{"name": fmt.Sprintf("paged-%d", i), "role": "viewer"}); a.code != 200 && a.code != 201 {
			t.Fatalf("create user: %d %s", a.code, a.body)
		}
	}
	seen := map[string]int{}
	pages, total := 0, 0
	next := ""
	for {
		path := "/api/v1/users?limit=3"
		if next != "" {
			path += "&cursor=" + next
		}
		a := admin.get(path)
		var page struct {
			Users []struct{ Name string }
			Total int `json:"count"`
			Next  string
		}
		if err := json.Unmarshal([]byte(a.body), &page); err != nil || a.code != 200 {
			t.Fatalf("%s: %d %s", path, a.code, a.body)
		}
		if len(page.Users) > 3 {
			t.Errorf("page of %d users, limit 3", len(page.Users))
		}
		for _, u := range page.Users {
			seen[u.Name]++
		}
		pages, total = pages+1, page.Total
		if page.Next == "" {
			break
		}
		next = page.Next
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != total || total < 8 || pages != (total+2)/3 {
		t.Errorf("visited %d distinct users in %d pages, total %d", len(seen), pages, total)
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("user %s listed %d times", name, n)
		}
	}
	for _, c := range []struct{ query, field string }{{"limit=0", "limit"}, {"limit=501", "limit"}, {"cursor=bogus", "cursor"}, {"limit=x", "limit"}} {
		a := admin.get("/api/v1/users?" + c.query)
		var eb server.ErrorBody
		_ = json.Unmarshal([]byte(a.body), &eb)
		if a.code != 400 || eb.Field != c.field {
			t.Errorf("%s: %d %s, want 400 naming %s", c.query, a.code, a.body, c.field)
		}
	}
}
