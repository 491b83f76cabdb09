package httpapi_test

import (
	"slices"
	"testing"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/httpapi"
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
