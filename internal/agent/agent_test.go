package agent_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/agent"
	"github.com/costwarden/costwarden/internal/agentapi"
	"github.com/costwarden/costwarden/internal/clusterca"
	"github.com/costwarden/costwarden/internal/codec"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/ingest"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// clock is the injected clock every part of a test reads.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// offset is a clock that runs d apart from base (a skewed machine).
func offset(base *clock, d time.Duration) func() time.Time {
	return func() time.Time { return base.Now().Add(d) }
}

var t0 = time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)

type local struct {
	st   *sqlite.Store
	ring *seal.Keyring
	sets *sets.Sets
}

func openLocal(t *testing.T, dir, tenant string, now func() time.Time) *local {
	t.Helper()
	ctx := t.Context()
	kek, err := seal.OpenKeyFile(filepath.Join(dir, "key"), true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "db"), sqlite.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring := seal.NewKeyring(kek, st, seal.Options{Now: now})
	return &local{st: st, ring: ring, sets: sets.New(st, ring, tenant, now)}
}

// central is a server's agents listener on 127.0.0.1 over a real store.
type central struct {
	*local
	ca     *clusterca.CA
	admin  *agentapi.Admin
	url    string
	mu     sync.Mutex
	events []agentapi.Event
	// onRequest, if set, runs in every enrolment, ping and push the server
	// handles (it looks up the tenant for each).
	onRequest func()
}

func newCentral(t *testing.T, clk func() time.Time) *central {
	t.Helper()
	ctx := t.Context()
	c := &central{local: openLocal(t, t.TempDir(), "default", clk)}
	ca, err := clusterca.Open(ctx, c.st, c.ring, clk)
	if err != nil {
		t.Fatal(err)
	}
	c.ca = ca
	c.admin = &agentapi.Admin{Store: c.st, Sets: c.sets, CA: ca, TokenTTL: time.Hour, Now: clk}
	api := agentapi.New(agentapi.Options{
		CA: ca, Store: c.st, CertTTL: 2 * time.Hour, MaxSkew: 5 * time.Minute, Now: clk,
		Tenants: func(_ context.Context, tenant string) (*sets.Sets, error) {
			c.mu.Lock()
			hook := c.onRequest
			c.mu.Unlock()
			if hook != nil {
				hook()
			}
			if tenant != "default" {
				return nil, errors.New("no such tenant")
			}
			return c.sets, nil
		},
		Record: func(_ context.Context, e agentapi.Event) {
			c.mu.Lock()
			c.events = append(c.events, e)
			c.mu.Unlock()
		},
		Log: slog.New(slog.DiscardHandler),
	})
	tlsCfg, err := api.TLSConfig([]string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second, ErrorLog: stdlog.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	c.url = "https://" + ln.Addr().String()
	return c
}

// lastRefusal returns the reason of the latest refusal recorded.
func (c *central) refusals() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.events {
		if e.Action == "agent.refused" {
			out = append(out, e.Reason)
		}
	}
	return out
}

func (c *central) waitRefusal(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range c.refusals() {
			if strings.Contains(r, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal recorded saying %q; recorded: %q", want, c.refusals())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fill computes hours of the simulated cluster into an agent's outbox.
func fill(t *testing.T, s *sets.Sets, name string, from time.Time, hours int) map[time.Time]float64 {
	t.Helper()
	cl, err := sim.New(sim.Config{Name: name, Seed: 7, Pods: 40})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pricing.New(pricing.DefaultCustom())
	if err != nil {
		t.Fatal(err)
	}
	in := ingest.New(cl, p, s, ingest.Options{Resolution: 5 * time.Minute})
	totals := map[time.Time]float64{}
	for h := range hours {
		start := from.Add(time.Duration(h) * time.Hour)
		set, _, err := in.CloseHour(t.Context(), start)
		if err != nil {
			t.Fatal(err)
		}
		totals[start] = total(set)
	}
	return totals
}

func total(s *cost.Set) float64 {
	sum := 0.0
	for _, a := range s.Allocations {
		sum += a.TotalCost()
	}
	return sum
}

// stored reads the central store's hourly windows of a cluster: hour -> total.
func (c *central) stored(t *testing.T, name string) map[time.Time]float64 {
	t.Helper()
	out := map[time.Time]float64{}
	err := c.sets.Scan(t.Context(), cost.Hourly, time.Time{}, time.Unix(1<<40, 0), func(s *cost.Set) error {
		if s.Cluster == name {
			out[s.Window.Start] = total(s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newAgent(t *testing.T, c *central, dir, token string, now func() time.Time) (*agent.Agent, *local) {
	t.Helper()
	l := openLocal(t, dir, "default", now)
	a := agent.New(agent.Options{Servers: []string{c.url}, JoinToken: token, Dir: dir, Sets: l.sets, Store: l.st,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, Poll: 20 * time.Millisecond, Now: now,
		AliveFile: filepath.Join(dir, "agent.alive"), Log: slog.New(slog.DiscardHandler)})
	return a, l
}

// enrolment is a central server at t0 and an agent enrolled with it.
type enrolment struct {
	clk   *clock
	c     *central
	a     *agent.Agent
	l     *local // the agent's store
	dir   string // the agent's data directory
	token string // the join token it used
}

// enrolled adds the cluster name to a new central server and enrols an agent.
func enrolled(t *testing.T, name string) enrolment {
	t.Helper()
	e := enrolment{clk: &clock{t: t0}, dir: t.TempDir()}
	e.c = newCentral(t, e.clk.Now)
	enr, err := e.c.admin.Add(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	e.token = enr.JoinToken
	e.a, e.l = newAgent(t, e.c, e.dir, e.token, e.clk.Now)
	if _, err := e.a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

func runAgent(t *testing.T, a *agent.Agent) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func waitDelivered(t *testing.T, a *agent.Agent, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for a.Status().Delivered < n {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d windows, want %d; status %+v", a.Status().Delivered, n, a.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEnrolPushRenew: a cluster is added, its agent enrols with the join token
// (making its key itself), delivers every hour of its outbox exactly once,
// renews its certificate at half its life with a new key, and a window stored
// again locally (a repaired hour) replaces the stored one.
func TestEnrolPushRenew(t *testing.T) {
	ctx := t.Context()
	clk := &clock{t: t0}
	c := newCentral(t, clk.Now)
	enr, err := c.admin.Add(ctx, "edge-eu1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enr.JoinToken, "cwj1.default.") || !strings.HasSuffix(enr.JoinToken, "."+c.ca.Pin()) {
		t.Fatalf("join token %q does not name the tenant and pin the CA", enr.JoinToken)
	}
	if _, err := c.admin.Add(ctx, "edge-eu1"); !errors.Is(err, agentapi.ErrClusterExists) {
		t.Errorf("adding an enrolled cluster again = %v, want ErrClusterExists", err)
	}
	dir := t.TempDir()
	a, l := newAgent(t, c, dir, enr.JoinToken, clk.Now)
	id, err := a.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.Cluster != "edge-eu1" || id.Tenant != "default" {
		t.Fatalf("identity = %+v", id)
	}
	// The private key never left: the files are here, the key 0600.
	if fi, err := os.Stat(filepath.Join(dir, agent.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	want := fill(t, l.sets, "edge-eu1", t0.Truncate(time.Hour).Add(-6*time.Hour), 6)
	stop := runAgent(t, a)
	waitDelivered(t, a, 6)
	// The delivery loop marks the agent alive at the agent's time.
	if fi, err := os.Stat(filepath.Join(dir, "agent.alive")); err != nil || !fi.ModTime().Equal(clk.Now()) || fi.Mode().Perm() != 0o600 {
		t.Errorf("alive file: %v, %v; want modified at %s, mode 0600", fi, err, clk.Now())
	}
	got := c.stored(t, "edge-eu1")
	if len(got) != 6 {
		t.Fatalf("central holds %d hours, want 6", len(got))
	}
	for h, v := range want {
		if diff := got[h] - v; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("hour %s: central %v, agent %v", h, got[h], v)
		}
	}
	// Stored once: the central store has exactly one row per hour.
	infos, err := c.st.WindowStarts(ctx, store.WindowRange{Tenant: "default", Resolution: uint8(cost.Hourly), To: time.Unix(1<<40, 0)})
	if err != nil || len(infos) != 6 {
		t.Fatalf("central rows = %d, %v; want 6", len(infos), err)
	}
	// Renewal at half life (the certificate lives 2h), with a new key.
	firstKey, _ := os.ReadFile(filepath.Join(dir, agent.KeyFile))
	firstEnd := a.Status().CertNotAfter
	clk.Add(70 * time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for !a.Status().CertNotAfter.After(firstEnd) {
		if time.Now().After(deadline) {
			t.Fatalf("the certificate was not renewed: %+v", a.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if key, _ := os.ReadFile(filepath.Join(dir, agent.KeyFile)); string(key) == string(firstKey) {
		t.Error("renewal kept the old key pair")
	}
	// A repaired hour (stored again locally) is delivered again and replaces
	// the stored one; the others are not sent again.
	before := a.Status().Delivered
	fill(t, l.sets, "edge-eu1", t0.Truncate(time.Hour).Add(-2*time.Hour), 1)
	waitDelivered(t, a, before+1)
	time.Sleep(100 * time.Millisecond)
	if d := a.Status().Delivered; d != before+1 {
		t.Errorf("delivered %d windows after one was stored again, want %d", d, before+1)
	}
	stop()
	// After a restart, nothing is sent again: the delivery state is durable.
	a2, _ := newAgent(t, c, dir, enr.JoinToken, clk.Now)
	if _, err := a2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := a2.Pending(ctx); err != nil || len(p) != 0 {
		t.Errorf("after a restart %d windows pending, %v; want none", len(p), err)
	}
	list, err := c.admin.List(ctx)
	if err != nil || len(list) != 1 || list[0].State != "active" || !list[0].Enrolled || list[0].LastSeen.IsZero() {
		t.Errorf("cluster list = %+v, %v", list, err)
	}
}

// TestRefusals: every way in that must fail does, and each is recorded with
// its reason: an expired certificate, a certificate from another CA, a revoked
// cluster (on a connection already open), a replayed join token, a join token
// after its expiry, a certificate of an older enrolment, data of another
// cluster, and a server whose CA is not the pinned one.
func TestRefusals(t *testing.T) {
	ctx := t.Context()
	e := enrolled(t, "edge-eu1")
	clk, c, l, dir := e.clk, e.c, e.l, e.dir
	hour := t0.Truncate(time.Hour).Add(-time.Hour)
	fill(t, l.sets, "edge-eu1", hour, 1)
	body, err := encodedHour(ctx, l, "edge-eu1", hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, agent.CertFile), filepath.Join(dir, agent.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	put := func(t *testing.T, cl *http.Client, set []byte, on ...*central) (int, error) {
		t.Helper()
		url := c.url
		if len(on) > 0 {
			url = on[0].url
		}
		req, _ := http.NewRequest("PUT", url+agentapi.PathWindows+hour.Format(time.RFC3339), strings.NewReader(string(set)))
		req.Header.Set("Content-Type", agentapi.ContentTypeSet)
		resp, err := cl.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	good := client(c.ca.Pool(), cert, clk.Now)
	if code, err := put(t, good, body); err != nil || code != 200 {
		t.Fatalf("a valid push = %d, %v", code, err)
	}

	t.Run("replayed join token", func(t *testing.T) {
		b, _ := newAgent(t, c, t.TempDir(), e.token, clk.Now)
		if _, err := b.Start(ctx); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("enrolling again with a used token = %v, want 401", err)
		}
		c.waitRefusal(t, "join token replayed")
	})

	t.Run("join token after expiry", func(t *testing.T) {
		e2, err := c.admin.Add(ctx, "edge-us1")
		if err != nil {
			t.Fatal(err)
		}
		late := func() time.Time { return clk.Now().Add(time.Hour) } // T: expired
		lc := newCentralOn(t, c, late)
		b, _ := newAgent(t, lc, t.TempDir(), e2.JoinToken, late)
		if _, err := b.Start(ctx); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("enrolling with an expired token = %v, want 401", err)
		}
		lc.waitRefusal(t, "join token expired")
		// One second before expiry it works (the boundary).
		early := func() time.Time { return clk.Now().Add(time.Hour - time.Second) }
		ec := newCentralOn(t, c, early)
		b2, _ := newAgent(t, ec, t.TempDir(), e2.JoinToken, early)
		if _, err := b2.Start(ctx); err != nil {
			t.Fatalf("enrolling one second before expiry = %v", err)
		}
	})

	t.Run("certificate from another CA", func(t *testing.T) {
		other := newCentral(t, clk.Now)
		oe, err := other.admin.Add(ctx, "edge-eu1")
		if err != nil {
			t.Fatal(err)
		}
		// A genuine certificate of the other installation, for the same
		// tenant and agent id as the real one.
		key, csr := request(t)
		parsed, _ := clusterca.ParseRequest(csr)
		tok, _ := clusterca.ParseJoinToken(oe.JoinToken)
		foreign, err := other.ca.IssueAgent(parsed, clusterca.AgentID{Tenant: "default", Agent: tok.Agent, Generation: 1}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cl := client(c.ca.Pool(), tls.Certificate{Certificate: [][]byte{foreign.Raw}, PrivateKey: key}, clk.Now)
		if code, err := put(t, cl, body); err == nil {
			t.Fatalf("a certificate of another CA was accepted: %d", code)
		}
		c.waitRefusal(t, "signed by another certificate authority")
	})

	t.Run("expired certificate", func(t *testing.T) {
		later := func() time.Time { return clk.Now().Add(3 * time.Hour) } // the certificate lives 2h
		lc := newCentralOn(t, c, later)
		if code, err := put(t, client(c.ca.Pool(), cert, clk.Now), body); err != nil || code != 200 {
			t.Fatalf("before expiry: %d, %v", code, err)
		}
		cl := client(lc.ca.Pool(), cert, later)
		if code, err := put(t, cl, body, lc); err == nil {
			t.Fatalf("an expired certificate was accepted: %d", code)
		}
		lc.waitRefusal(t, "expired at")
	})

	t.Run("data of another cluster", func(t *testing.T) {
		other := openLocal(t, t.TempDir(), "default", clk.Now)
		fill(t, other.sets, "edge-us1", hour, 1)
		ob, err := encodedHour(ctx, other, "edge-us1", hour)
		if err != nil {
			t.Fatal(err)
		}
		if code, err := put(t, good, ob); err != nil || code != http.StatusForbidden {
			t.Fatalf("pushing another cluster's window = %d, %v; want 403", code, err)
		}
		c.waitRefusal(t, "pushed data of another cluster")
		if got := c.stored(t, "edge-us1"); len(got) != 0 {
			t.Errorf("another cluster's window was stored: %v", got)
		}
	})

	t.Run("certificate of an older enrolment", func(t *testing.T) {
		e3, err := c.admin.Token(ctx, "edge-eu1")
		if err != nil {
			t.Fatal(err)
		}
		old := client(c.ca.Pool(), cert, clk.Now)
		if code, err := put(t, old, body); err != nil || code != 200 {
			t.Fatalf("the old certificate before the new token is used: %d, %v", code, err)
		}
		bdir := t.TempDir()
		b, _ := newAgent(t, c, bdir, e3.JoinToken, clk.Now)
		if _, err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if code, err := put(t, old, body); err != nil || code != http.StatusForbidden {
			t.Fatalf("a certificate of the previous enrolment = %d, %v; want 403", code, err)
		}
		c.waitRefusal(t, "enrolled again")
		cert, err = tls.LoadX509KeyPair(filepath.Join(bdir, agent.CertFile), filepath.Join(bdir, agent.KeyFile))
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("revoked cluster", func(t *testing.T) {
		cl := client(c.ca.Pool(), cert, clk.Now)
		if code, err := put(t, cl, body); err != nil || code != 200 {
			t.Fatalf("before revocation: %d, %v", code, err)
		}
		if _, err := c.admin.Revoke(ctx, "edge-eu1"); err != nil {
			t.Fatal(err)
		}
		// The same keep-alive connection: refused at the next request.
		if code, err := put(t, cl, body); err != nil || code != http.StatusForbidden {
			t.Fatalf("after revocation = %d, %v; want 403", code, err)
		}
		c.waitRefusal(t, "revoked")
		if _, err := c.admin.Token(ctx, "edge-eu1"); !errors.Is(err, agentapi.ErrNoAgent) {
			t.Errorf("a new token for a revoked cluster = %v, want ErrNoAgent", err)
		}
	})

	t.Run("server whose CA is not the pinned one", func(t *testing.T) {
		other := newCentral(t, clk.Now)
		e4, err := c.admin.Add(ctx, "edge-ap1")
		if err != nil {
			t.Fatal(err)
		}
		// The token of c, used against other: the agent refuses the server
		// before sending anything.
		b, _ := newAgent(t, other, t.TempDir(), e4.JoinToken, clk.Now)
		if _, err := b.Start(ctx); err == nil || !errors.Is(err, clusterca.ErrPin) {
			t.Fatalf("enrolling with a server of another CA = %v, want the pin refusal", err)
		}
		other.mu.Lock()
		n := len(other.events)
		other.mu.Unlock()
		if n != 0 {
			t.Errorf("the impostor server received %d requests; the token must not reach it", n)
		}
	})
}

// TestClockSkew: an agent whose clock is behind still enrols and delivers
// (certificates are checked at the server's time); one whose clock is ahead
// has its future windows refused until the server's time reaches them, and
// loses none. Both skews are measured and reported.
func TestClockSkew(t *testing.T) {
	ctx := t.Context()
	clk := &clock{t: t0}
	c := newCentral(t, clk.Now)

	behind := offset(clk, -3*time.Hour)
	e1, _ := c.admin.Add(ctx, "behind")
	a, l := newAgent(t, c, t.TempDir(), e1.JoinToken, behind)
	if _, err := a.Start(ctx); err != nil {
		t.Fatalf("an agent 3h behind cannot enrol: %v", err)
	}
	fill(t, l.sets, "behind", behind().Truncate(time.Hour).Add(-2*time.Hour), 2)
	stop := runAgent(t, a)
	waitDelivered(t, a, 2)
	stop()
	if s := a.Status().ClockSkew; s > -3*time.Hour+time.Minute || s < -3*time.Hour-time.Minute {
		t.Errorf("the agent reports skew %s, want about -3h", s)
	}
	list, _ := c.admin.List(ctx)
	if list[0].Name != "behind" || list[0].ClockSkew > -3*3600+60 || list[0].ClockSkew < -3*3600-60 {
		t.Errorf("the server recorded skew %v s, want about -10800", list[0].ClockSkew)
	}

	ahead := offset(clk, 2*time.Hour)
	e2, _ := c.admin.Add(ctx, "ahead")
	b, lb := newAgent(t, c, t.TempDir(), e2.JoinToken, ahead)
	if _, err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Its last hour ends 2h in the server's future: refused for now.
	fill(t, lb.sets, "ahead", ahead().Truncate(time.Hour).Add(-2*time.Hour), 2)
	stop = runAgent(t, b)
	time.Sleep(300 * time.Millisecond)
	if got := c.stored(t, "ahead"); len(got) != 0 {
		t.Fatalf("windows from the server's future were stored: %v", got)
	}
	if b.Status().Pending != 2 {
		t.Errorf("pending = %d, want both kept", b.Status().Pending)
	}
	clk.Add(2 * time.Hour)
	waitDelivered(t, b, 2)
	stop()
	if got := c.stored(t, "ahead"); len(got) != 2 {
		t.Errorf("after the server's clock caught up, %d windows stored, want 2", len(got))
	}
}

// newCentralOn is c served again with another clock (the same store and CA).
func newCentralOn(t *testing.T, c *central, now func() time.Time) *central {
	t.Helper()
	ca, err := clusterca.Open(t.Context(), c.st, c.ring, now)
	if err != nil {
		t.Fatal(err)
	}
	n := &central{local: c.local, ca: ca}
	api := agentapi.New(agentapi.Options{
		CA: ca, Store: c.st, CertTTL: 2 * time.Hour, MaxSkew: 5 * time.Minute, Now: now,
		Tenants: func(context.Context, string) (*sets.Sets, error) { return c.sets, nil },
		Record: func(_ context.Context, e agentapi.Event) {
			n.mu.Lock()
			n.events = append(n.events, e)
			n.mu.Unlock()
		},
	})
	tlsCfg, err := api.TLSConfig(nil, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second, ErrorLog: stdlog.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	n.url = "https://" + ln.Addr().String()
	return n
}

// client is a plain TLS client presenting cert and verifying the server
// against roots at the test's time.
func client(roots *x509.CertPool, cert tls.Certificate, now func() time.Time) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12, Time: now,
	}}}
}

func request(t *testing.T) (ed25519.PrivateKey, []byte) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func encodedHour(ctx context.Context, l *local, name string, hour time.Time) ([]byte, error) {
	id, err := l.sets.ClusterID(ctx, name)
	if err != nil {
		return nil, err
	}
	w, err := l.sets.Load(ctx, store.WindowKey{ClusterID: id, Resolution: uint8(cost.Hourly), Start: hour})
	if err != nil {
		return nil, err
	}
	s, err := l.sets.Open(ctx, w)
	if err != nil {
		return nil, err
	}
	return codec.New().Encode(s), nil
}

// TestAliveThroughALongDelivery: delivering a long outbox (a day after an
// outage) marks the agent alive window by window, so the liveness probe
// (`costwarden agent check --max-age 10m`) never sees a stale mark while the
// agent works: here every request takes three minutes of the agent's clock and
// 20 windows take an hour.
func TestAliveThroughALongDelivery(t *testing.T) {
	e := enrolled(t, "edge-backlog")
	clk, c, a, dir := e.clk, e.c, e.a, e.dir
	fill(t, e.l.sets, "edge-backlog", t0.Truncate(time.Hour).Add(-20*time.Hour), 20)
	var mu sync.Mutex
	var worst time.Duration
	requests := 0
	c.mu.Lock()
	c.onRequest = func() {
		if fi, err := os.Stat(filepath.Join(dir, "agent.alive")); err == nil {
			mu.Lock()
			worst = max(worst, clk.Now().Sub(fi.ModTime()))
			requests++
			mu.Unlock()
		}
		clk.Add(3 * time.Minute)
	}
	c.mu.Unlock()
	stop := runAgent(t, a)
	waitDelivered(t, a, 20)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if requests < 20 {
		t.Fatalf("the server saw %d requests with the agent marked alive, want at least the 20 pushes", requests)
	}
	if worst >= 10*time.Minute {
		t.Errorf("during the delivery the alive mark was %s old at worst; the probe allows 10m", worst)
	}
	t.Logf("%d requests over %s of agent time; alive mark at most %s old", requests, clk.Now().Sub(t0), worst)
}
