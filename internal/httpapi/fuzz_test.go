package httpapi_test

import (
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/server"
)

// nasty are values that have broken parsers before: empty, huge, negative,
// non-numeric, injection, control and multi-byte characters, reversed ranges.
var nasty = []string{
	"", " ", "0", "-1", "1e309", "NaN", "-0", "999999999999999999999", "true", "yes", "null", "[]", "{}",
	"%00", "\x00", "\x7f", "\xff\xfe", "🙂", "a\nb", strings.Repeat("x", 5000), strings.Repeat("(", 300),
	`"`, `'`, `\`, "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "${jndi:ldap://x}",
	"1,2", ",", "7d,", ",7d", "2026-03-10T00:00:00Z,2026-03-09T00:00:00Z", "0,9999999999999", "1h", "5000w", "0d", "-3h", "1.5h",
	"label:", "label:<x>", "label:" + strings.Repeat("a", 400), "annotation:app", "namespace,pod,container,node,cluster",
	`namespace:"`, `namespace:"a"+`, `(namespace:"a"`, `label[app]:"x"|pod~:"y"`, "|||", "+++", "!", "~:",
	"a:b,c", ":", "kube-system,", "weighted", "even", "T09:00", "o1.-5", "bzEuMTA", "AAAA", "-totalCost", "name", "node", "disk",
}

// TestEveryQueryParameterFuzzed sends every documented query parameter of every
// GET route, through the real route table and handlers, with hostile and random
// values, alone and next to a valid window: the answer is 2xx or a clear 4xx
// (JSON naming a field or saying why), never a 5xx.
func TestEveryQueryParameterFuzzed(t *testing.T) {
	f := newFull(t)
	h := f.h(f.admin)
	rng := rand.New(rand.NewPCG(8, 8))
	values := append([]string{}, nasty...)
	for range 10 {
		b := make([]byte, 1+rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		values = append(values, string(b))
	}
	repl := strings.NewReplacer("{id}", f.admin.ID, "{sid}", "s_x", "{tid}", "t_x", "{file}", "app.js", "{$}", "")
	requests := 0
	for _, rt := range f.api.Routes() {
		if rt.Method != "GET" {
			continue
		}
		params, ok := OpenAPIParamsFor(rt.Pattern())
		if !ok {
			t.Errorf("%s is not documented", rt.Pattern())
			continue
		}
		// Unknown parameters are refused or ignored, never a crash.
		params = append(params, "unknownParam")
		path := repl.Replace(rt.Path)
		for _, p := range params {
			for _, v := range values {
				for _, base := range []url.Values{{}, {"window": {"2026-03-09T00:00:00Z,2026-03-10T06:00:00Z"}}} {
					q := url.Values{}
					for k, vs := range base {
						q[k] = vs
					}
					q.Set(p, v)
					target := path + "?" + q.Encode()
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
					requests++
					code := rec.Code
					switch {
					case code >= 500:
						t.Errorf("GET %s: %d %.300s", target, code, rec.Body.String())
					case code >= 400 && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json"):
						var eb server.ErrorBody
						if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Message == "" || eb.Code != code {
							t.Errorf("GET %s: %d without a clear JSON error: %.300s", target, code, rec.Body.String())
						}
					}
				}
			}
		}
	}
	if requests < 5000 {
		t.Errorf("only %d requests", requests)
	}
	t.Logf("%d requests", requests)
}

// OpenAPIParamsFor lists the names of a route's documented query parameters.
func OpenAPIParamsFor(pattern string) ([]string, bool) {
	ps, ok := httpapi.OpenAPIParams(pattern)
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out, ok
}
