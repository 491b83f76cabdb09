package telemetry_test

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
	"github.com/costwarden/costwarden/internal/telemetry"
)

var update = flag.Bool("update", false, "rewrite the golden payload")

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestGoldenPayload: the payload is exactly the golden file: usage counters,
// the version and a cluster bucket; the clusters' (sealed) names and every
// route path with user data stay out.
func TestGoldenPayload(t *testing.T) {
	st := openStore(t)
	for i, name := range []string{"acme-prod-eu1", "acme-staging"} {
		if _, err := st.EnsureCluster(t.Context(), store.Cluster{Tenant: "default", ID: "c" + string(rune('0'+i)), NameIndex: []byte(name), Sealed: []byte("sealed " + name)}); err != nil {
			t.Fatal(err)
		}
	}
	s := telemetry.New(st, "default", telemetry.Options{Version: "1.4.2", Endpoint: "https://collector.invalid/v1"})
	for _, p := range []string{"GET /allocation", "GET /allocation", "GET /allocation/compute", "GET /assets", "POST /login/mfa",
		"GET /login/oidc/callback", "POST /api/v1/me/tokens", "PATCH /scim/v2/Users/{id}", "GET /api/v1/audit", "GET /healthz", "GET /static/{file}"} {
		s.Count(p)
	}
	p, err := s.Payload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(p, "", "  ")
	golden := filepath.Join("testdata", "payload.golden.json")
	if *update {
		os.WriteFile(golden, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got)+"\n" != string(want) {
		t.Errorf("payload:\n%s\nwant (testdata/payload.golden.json):\n%s", got, want)
	}
	for _, leak := range []string{"acme", "sealed", "u_", "@", "127.0.0.1", "cost"} {
		if strings.Contains(string(got), leak) {
			t.Errorf("payload contains %q", leak)
		}
	}
}

type collector struct {
	mu     sync.Mutex
	bodies []string
	srv    *httptest.Server
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, string(b))
		c.mu.Unlock()
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.bodies)
}

func TestNothingWithoutConsent(t *testing.T) {
	st := openStore(t)
	c := newCollector(t)
	s := telemetry.New(st, "default", telemetry.Options{Version: "t", Endpoint: c.srv.URL, Client: c.srv.Client()})
	s.Count("GET /allocation")
	if cs, _ := s.Consent(t.Context()); cs.Enabled {
		t.Fatal("consent enabled by default")
	}
	for range 3 {
		if err := s.ReportOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if c.count() != 0 {
		t.Fatalf("%d reports sent without consent", c.count())
	}
	// Consent to another payload version is refused.
	if _, err := s.SetConsent(t.Context(), true, telemetry.PayloadVersion+1, "u_admin"); !errors.Is(err, telemetry.ErrVersion) {
		t.Errorf("consent to another version: %v", err)
	}
	// With consent: the preview is exactly what is sent.
	preview, _ := s.Payload(t.Context())
	cs, err := s.SetConsent(t.Context(), true, telemetry.PayloadVersion, "u_admin")
	if err != nil || !cs.Enabled || cs.By != "u_admin" || cs.At.IsZero() {
		t.Fatalf("SetConsent = %+v, %v", cs, err)
	}
	if err := s.ReportOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(preview)
	if c.count() != 1 || c.bodies[0] != string(want) {
		t.Fatalf("sent %v, previewed %s", c.bodies, want)
	}
	// Counters restart after a report; withdrawing stops at once.
	if p, _ := s.Payload(t.Context()); p.Features["allocation"] != 0 {
		t.Errorf("counter after a report: %d", p.Features["allocation"])
	}
	if _, err := s.SetConsent(t.Context(), false, 0, "u_admin"); err != nil {
		t.Fatal(err)
	}
	_ = s.ReportOnce(t.Context())
	if c.count() != 1 {
		t.Errorf("a report was sent after consent was withdrawn")
	}
	// Air-gapped mode refuses consent.
	ag := telemetry.New(st, "default", telemetry.Options{Version: "t", Endpoint: c.srv.URL, AirGapped: true})
	if _, err := ag.SetConsent(t.Context(), true, telemetry.PayloadVersion, "u_admin"); !errors.Is(err, telemetry.ErrAirGapped) {
		t.Errorf("air-gapped consent: %v", err)
	}
	// Available says so before anyone tries.
	none := telemetry.New(st, "default", telemetry.Options{Version: "t"})
	for _, x := range []struct {
		s    *telemetry.Service
		ok   bool
		want string
	}{{s, true, ""}, {ag, false, "air-gapped"}, {none, false, "telemetry.endpoint"}} {
		if ok, why := x.s.Available(); ok != x.ok || !strings.Contains(why, x.want) || (ok && why != "") {
			t.Errorf("Available() = %v %q, want %v naming %q", ok, why, x.ok, x.want)
		}
	}
	if _, err := none.SetConsent(t.Context(), true, telemetry.PayloadVersion, "u_admin"); !errors.Is(err, telemetry.ErrNoEndpoint) {
		t.Errorf("consent without an endpoint: %v", err)
	}
}
