package httpapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/server"
)

// TestEveryStateChangingRouteHasItsEvent: each route that changes state (and
// the SSO callback) records a specific, known event; reads record none.
func TestEveryStateChangingRouteHasItsEvent(t *testing.T) {
	routes := (&httpapi.API{PasswordLogin: true, WebAuthn: true}).Routes()
	n := 0
	for _, rt := range routes {
		switch {
		case rt.Method != "GET" && rt.Method != "HEAD":
			n++
			if rt.Audit == "" || rt.Audit == audit.HTTPRequest {
				t.Errorf("%s records %q: give it a specific event in routeEvents", rt.Pattern(), rt.Audit)
			}
		case rt.Pattern() == "GET /login/oidc/callback":
			if rt.Audit != audit.AuthLogin {
				t.Errorf("the SSO callback records %q, want auth.login", rt.Audit)
			}
		case rt.Audit != "":
			t.Errorf("read %s records %q", rt.Pattern(), rt.Audit)
		}
		if rt.Audit != "" && !slices.Contains(audit.Codes(), rt.Audit) {
			t.Errorf("%s records unknown code %q", rt.Pattern(), rt.Audit)
		}
	}
	if n < 30 {
		t.Errorf("only %d state-changing routes", n)
	}
}

// TestAuditListBadInputNamesTheField: each bad filter of GET /api/v1/audit is
// a 400 naming its own parameter (the Audit page shows the message).
func TestAuditListBadInputNamesTheField(t *testing.T) {
	f := newFull(t)
	long := strings.Repeat("x", 65)
	for _, c := range []struct{ q, field, contains string }{
		{"action=" + long, "action", "at most 64"},
		{"actor=" + strings.Repeat("x", 257), "actor", "at most 256"},
		{"since=yesterday", "since", "RFC 3339"},
		{"until=2026-01-01", "until", "RFC 3339"},
		{"since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until", "after since"},
		{"outcome=maybe", "outcome", "success, failure or denied"},
		{"limit=0", "limit", "1 to 500"},
		{"limit=501", "limit", "1 to 500"},
		{"cursor=nonsense", "cursor", "not a cursor"},
		{"page=2", "page", "unknown parameter"},
	} {
		code, body, _ := f.get(t, f.admin, "/api/v1/audit?"+c.q)
		var eb server.ErrorBody
		_ = json.Unmarshal(body, &eb)
		if code != 400 || eb.Field != c.field || !strings.Contains(eb.Message, c.contains) {
			t.Errorf("GET /api/v1/audit?%.80s: %d %s, want 400 naming %s with %q", c.q, code, body, c.field, c.contains)
		}
	}
	// A fractional-second RFC 3339 time (what a browser's toISOString gives) is accepted.
	if code, body, _ := f.get(t, f.admin, "/api/v1/audit?since=2026-01-01T00:00:00.000Z&actor=root-admin&action=auth.&outcome=success"); code != 200 {
		t.Errorf("browser-style filters: %d %s", code, body)
	}
}
