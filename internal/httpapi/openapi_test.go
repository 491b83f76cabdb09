package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/server"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi.json from the route table")

// fakeSSO declares the SSO routes.
type fakeSSO struct{}

func (fakeSSO) Name() string { return "Example SSO" }
func (fakeSSO) Start(context.Context) (string, string, error) {
	return "", "", nil
}
func (fakeSSO) Finish(context.Context, string, url.Values) (auth.ExternalIdentity, error) {
	return auth.ExternalIdentity{}, nil
}

// allRoutes is every route a server can declare: passwords, passkeys and SSO on.
func allRoutes() []server.Route {
	return (&httpapi.API{PasswordLogin: true, WebAuthn: true, OIDC: fakeSSO{}}).Routes()
}

// TestOpenAPIMatchesRoutes keeps the OpenAPI document true: every declared
// route is documented, nothing is documented that is not declared, and the
// committed document (testdata/openapi.json, also in docs/api/openapi.json) is
// what the route table generates.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	routes := allRoutes()
	doc, missing := httpapi.OpenAPI(routes, "1")
	for _, m := range missing {
		t.Errorf("route %s is not documented: add it to openAPIOps in internal/httpapi/openapi.go", m)
	}
	declared := map[string]bool{}
	for _, rt := range routes {
		declared[rt.Pattern()] = true
	}
	paths := doc["paths"].(map[string]map[string]any)
	n := 0
	for path, ops := range paths {
		for method := range ops {
			n++
			p := path
			if p == "/" {
				p = "/{$}"
			}
			if !declared[strings.ToUpper(method)+" "+p] {
				t.Errorf("documented %s %s is not a declared route", strings.ToUpper(method), path)
			}
		}
	}
	if n != len(routes) {
		t.Errorf("%d operations documented, %d routes declared", n, len(routes))
	}
	for _, rt := range routes {
		if _, ok := httpapi.OpenAPIParams(rt.Pattern()); !ok {
			t.Errorf("no parameter documentation for %s", rt.Pattern())
		}
	}
	got, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	for _, golden := range []string{"testdata/openapi.json", "../../docs/api/openapi.json"} {
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/httpapi -run OpenAPI -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: the route table changed; review and run go test ./internal/httpapi -run OpenAPI -update", golden)
		}
	}
}
