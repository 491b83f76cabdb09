package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/ingest"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store/postgres"
	"github.com/costwarden/costwarden/internal/store/postgres/pgtest"
)

// replica is one in-process server with every listener's address.
type replica struct {
	name  string
	addrs map[string]string
	logs  *syncBuffer
	stop  func() error
}

// startReplica runs Serve and waits for its listeners (not for data).
func startReplica(t *testing.T, name string, cfg config.Config) *replica {
	t.Helper()
	logs := &syncBuffer{}
	e := app.Env{Now: time.Now, Stdout: io.Discard, Stderr: io.Discard,
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Build: app.Build{Version: "test"}}
	want := 2
	if cfg.Server.AgentListen != "" {
		want++
	}
	addrs := make(chan [2]string, want)
	e.Ready = func(n string, a net.Addr) { addrs <- [2]string{n, a.String()} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg, e) }()
	r := &replica{name: name, addrs: map[string]string{}, logs: logs}
	for len(r.addrs) < want {
		select {
		case a := <-addrs:
			r.addrs[a[0]] = a[1]
		case err := <-done:
			cancel()
			t.Fatalf("replica %s ended early: %v\n%s", name, err, logs.String())
		case <-time.After(60 * time.Second):
			cancel()
			t.Fatalf("replica %s did not start\n%s", name, logs.String())
		}
	}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = <-done
		})
		return stopErr
	}
	t.Cleanup(func() { _ = r.stop() })
	return r
}

func (r *replica) url(listener string) string { return "https://" + r.addrs[listener] }

// holds reports whether the replica's log says it took lease name (and has not
// lost it since).
func (r *replica) acquired(name string) int {
	n := 0
	for _, line := range strings.Split(r.logs.String(), "\n") {
		if strings.Contains(line, `"lease acquired`) && strings.Contains(line, `"lease":"`+name+`"`) {
			n++
		}
	}
	return n
}

func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client is one HTTPS client (one cookie jar) for every replica: cookies of
// 127.0.0.1 go to both, as a browser's would behind a load balancer.
type haClient struct {
	t      *testing.T
	c      *http.Client
	bearer string
}

func newHAClient(t *testing.T) *haClient {
	jar, _ := cookiejar.New(nil)
	return &haClient{t: t, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (h *haClient) do(method, u string, body io.Reader, ctype string) answer {
	h.t.Helper()
	req, _ := http.NewRequest(method, u, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if h.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+h.bearer)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, body: string(b), location: resp.Header.Get("Location"), header: resp.Header}
}

func (h *haClient) form(u string, kv ...string) answer {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return h.do("POST", u, strings.NewReader(v.Encode()), "application/x-www-form-urlencoded")
}

// clusterHourTotal asks a replica for one cluster's cost of one hour, idle
// shared into it.
func clusterHourTotal(t *testing.T, h *haClient, base, cluster string, hour time.Time) (float64, bool) {
	t.Helper()
	q := url.Values{"window": {hour.Format(time.RFC3339) + "," + hour.Add(time.Hour).Format(time.RFC3339)},
		"aggregate": {"cluster"}, "shareIdle": {"true"}, "filter": {`cluster:"` + cluster + `"`}}
	a := h.do("GET", base+"/allocation?"+q.Encode(), nil, "")
	if a.code != 200 {
		t.Fatalf("allocation on %s = %d: %s", base, a.code, a.body)
	}
	var r allocResp
	if err := json.Unmarshal([]byte(a.body), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Data) == 0 || r.Data[0][cluster] == nil {
		return 0, false
	}
	return r.Data[0][cluster]["totalCost"].(float64), true
}

// TestReplicasOnOnePostgres: two replicas of the server on one PostgreSQL.
// Sessions, logouts, login throttling and revocation hold across them; every
// background job runs on exactly one replica and moves when it stops; a window
// an agent pushes through one replica, or another process stores, is seen by
// the other's queries at once, its cached results included.
func TestReplicasOnOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	ctx := t.Context()
	pg := pgtest.StartT(t)
	shared := t.TempDir()
	cfgA := onPostgres(t, testConfig(t, t.TempDir(), 1), pg)
	cfgA.Demo.Pods = 40
	cfgA.Keys.File = filepath.Join(shared, "costwarden.key")
	cfgA.Server.AgentListen = "127.0.0.1:0"
	cfgA.HA.LeaseRetry, cfgA.HA.LeaseCheck = 200*time.Millisecond, 200*time.Millisecond
	cfgB := cfgA
	cfgB.DataDir = t.TempDir()
	a := startReplica(t, "a", cfgA)
	b := startReplica(t, "b", cfgB)

	// Every job runs on exactly one replica.
	for _, l := range []string{"ingest/default/" + clusterName, "rollup/default", "sweep/default", "maintenance"} {
		waitUntil(t, "lease "+l, 20*time.Second, func() bool { return a.acquired(l)+b.acquired(l) > 0 })
		time.Sleep(500 * time.Millisecond) // both keep trying
		if a.acquired(l)+b.acquired(l) != 1 {
			t.Fatalf("lease %s taken %d times by a and %d by b, want once in all", l, a.acquired(l), b.acquired(l))
		}
	}

	// Sessions: log in on a, use and end the session on b.
	h := newHAClient(t)
	setup := addUser(t, cfgA, "ha-admin", "admin", "")
	base := func(r *replica) string { return r.url("public") }
	if x := h.form(base(a)+"/setup", "setup", setup); x.code != 303 {
		t.Fatalf("setup on a = %d: %s", x.code, x.body)
	}
	page := h.do("GET", base(a)+"/setup/enrol", nil, "")
	m := secretRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no TOTP secret on the enrol page: %s", page.body)
	}
	if x := h.form(base(a)+"/setup/enrol", "password", testPassword, "code", goTOTP(m[1], time.Now())); x.code != 200 {
		t.Fatalf("enrol on a = %d", x.code)
	}
	if x := h.do("GET", base(b)+"/api/v1/me", nil, ""); x.code != 200 || !strings.Contains(x.body, "ha-admin") {
		t.Fatalf("the session from a on b = %d: %s", x.code, x.body)
	}
	if x := h.form(base(b) + "/logout"); x.code >= 400 {
		t.Fatalf("logout on b = %d", x.code)
	}
	if x := h.do("GET", base(a)+"/api/v1/me", nil, ""); x.code != 401 {
		t.Fatalf("after logout on b, the session on a = %d, want 401", x.code)
	}

	// Throttling: failures on both replicas add up (5 per account).
	victim := newHAClient(t)
	addUser(t, cfgA, "ha-victim", "viewer", "")
	for i := range 5 {
		r := a
		if i%2 == 1 {
			r = b
		}
		if x := victim.form(base(r)+"/login", "username", "ha-victim", "password", "wrong-password-"+fmt.Sprint(i)); x.code == 429 {
			t.Fatalf("locked after %d failures, want after 5", i)
		}
	}
	for _, r := range []*replica{a, b} {
		if x := victim.form(base(r)+"/login", "username", "ha-victim", "password", "another-wrong-one"); x.code != 429 || x.header.Get("Retry-After") == "" {
			t.Errorf("after 5 failures across replicas, a login on %s = %d, want 429 with Retry-After", r.name, x.code)
		}
	}

	// Revocation: a token disabled through one replica dies on the other.
	tok := makeTokenFor(t, cfgA, "ha-admin")
	h.bearer = tok
	if x := h.do("GET", base(b)+"/api/v1/me", nil, ""); x.code != 200 {
		t.Fatalf("token on b = %d", x.code)
	}
	// The status endpoint tells which replica runs which job.
	held := map[string]int{}
	for _, r := range []*replica{a, b} {
		x := h.do("GET", base(r)+"/api/v1/status", nil, "")
		var st struct {
			Data struct {
				Leases []struct{ Name string } `json:"leases"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(x.body), &st); err != nil || x.code != 200 {
			t.Fatalf("status on %s = %d: %s", r.name, x.code, x.body)
		}
		for _, l := range st.Data.Leases {
			held[l.Name]++
		}
	}
	for _, l := range []string{"ingest/default/" + clusterName, "rollup/default", "sweep/default", "maintenance"} {
		if held[l] != 1 {
			t.Errorf("the replicas' status shows %s held %d times, want once", l, held[l])
		}
	}
	// An agent pushes through the replicas: its costs are on both.
	var out bytes.Buffer
	if err := app.ClusterAdd(ctx, cfgA, env(io.Discard, &out), "edge-ha"); err != nil {
		t.Fatal(err)
	}
	agentCfg := testConfig(t, t.TempDir(), 1)
	agentCfg.Demo.Pods = 40
	agentCtx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan error, 1)
	go func() {
		agentDone <- app.RunAgent(agentCtx, agentCfg, env(io.Discard, io.Discard),
			app.AgentOptions{Servers: []string{a.url("agents"), b.url("agents")}, JoinToken: strings.TrimSpace(out.String())})
	}()
	pc, err := postgresStore(ctx, cfgA)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	kek, err := seal.OpenKeyFile(cfgA.Keys.File, false)
	if err != nil {
		t.Fatal(err)
	}
	central := sets.New(pc, seal.NewKeyring(kek, pc, seal.Options{}), app.DefaultTenant, time.Now)
	var hours []app.OutboxHour
	waitUntil(t, "the agent to deliver its outbox", 90*time.Second, func() bool {
		hours = outboxOf(t, agentCfg)
		if len(hours) < 24 {
			return false
		}
		got := storedTotals(t, central, "edge-ha")
		for _, hr := range hours {
			if v, ok := got[hr.Start]; !ok || math.Abs(v-hr.TotalCost) > 1e-9 {
				return false
			}
		}
		return true
	})
	stopAgent()
	<-agentDone
	// The join token worked once: replayed by another agent it is refused, and
	// the enrolment, the refusal and the command that issued the token are in
	// the audit trail (either replica reads it).
	replayCtx, stopReplay := context.WithTimeout(ctx, 20*time.Second)
	err = app.RunAgent(replayCtx, testConfig(t, t.TempDir(), 1), env(io.Discard, io.Discard),
		app.AgentOptions{Servers: []string{a.url("agents")}, JoinToken: strings.TrimSpace(out.String())})
	stopReplay()
	if err == nil {
		t.Error("a replayed join token enrolled a second agent")
	}
	var trail struct {
		Data []struct {
			Action, Outcome, SourceIP, Target string
			Actor                             struct{ ID, Kind string }
			Details                           map[string]string
		} `json:"data"`
	}
	x := h.do("GET", base(b)+"/api/v1/audit?limit=500", nil, "")
	if err := json.Unmarshal([]byte(x.body), &trail); err != nil || x.code != 200 {
		t.Fatalf("audit on b = %d: %s", x.code, x.body)
	}
	seen := map[string]int{}
	for _, r := range trail.Data {
		switch {
		case r.Action == "cluster.add" && r.Outcome == "success" && r.Actor.Kind == "local-cli" && r.Target == "cluster edge-ha":
			seen["cluster.add"]++
		case r.Action == "agent.enrol" && r.Outcome == "success" && r.Actor.Kind == "agent" && r.Actor.ID != "" && r.SourceIP != "":
			seen["agent.enrol"]++
		case r.Action == "agent.refused" && r.Outcome == "denied" && r.Actor.Kind == "agent" && r.Details["reason"] != "" && r.SourceIP != "":
			seen["agent.refused"]++
		}
	}
	for _, k := range []string{"cluster.add", "agent.enrol", "agent.refused"} {
		if seen[k] != 1 {
			t.Errorf("the audit trail holds %d %s records, want 1 (records: %+v)", seen[k], k, seen)
		}
	}
	// Both replicas answer the same for the agent's hours.
	for _, hr := range hours[len(hours)-3:] {
		va, oka := clusterHourTotal(t, h, base(a), "edge-ha", hr.Start)
		vb, okb := clusterHourTotal(t, h, base(b), "edge-ha", hr.Start)
		if !oka || !okb || va != vb || va <= 0 {
			t.Errorf("hour %s: replica a %v (%v), b %v (%v); want the same cost on both", hr.Start, va, oka, vb, okb)
		}
	}

	// Another process stores an hour again (a repair); both replicas' queries,
	// cached ones included, show the new numbers at once.
	hour := hours[len(hours)-2].Start
	before, _ := clusterHourTotal(t, h, base(a), "edge-ha", hour) // cached on a now
	beforeB, _ := clusterHourTotal(t, h, base(b), "edge-ha", hour)
	cl, _ := sim.New(sim.Config{Name: "edge-ha", Seed: 99, Pods: 60})
	pr, _ := pricing.New(pricing.DefaultCustom())
	other := sets.New(pc, seal.NewKeyring(kek, pc, seal.Options{}), app.DefaultTenant, time.Now)
	if _, _, err := ingest.New(cl, pr, other, ingest.Options{}).CloseHour(ctx, hour); err != nil {
		t.Fatal(err)
	}
	afterA, _ := clusterHourTotal(t, h, base(a), "edge-ha", hour)
	afterB, _ := clusterHourTotal(t, h, base(b), "edge-ha", hour)
	if afterA == before || afterB == beforeB || afterA != afterB {
		t.Errorf("after another process stored the hour again: a %v (was %v), b %v (was %v); want new and equal numbers on both", afterA, before, afterB, beforeB)
	}

	// Revoking the token's user on a ends it on b at the next request.
	if err := app.UserAction(ctx, cfgA, env(io.Discard, io.Discard), "disable", "ha-admin"); err != nil {
		t.Fatal(err)
	}
	if x := h.do("GET", base(b)+"/api/v1/me", nil, ""); x.code != 401 {
		t.Errorf("a token of a disabled user on b = %d, want 401", x.code)
	}

	// The replica running local ingestion stops: the other takes it over.
	ingestLease := "ingest/default/" + clusterName
	holder, standby := a, b
	if b.acquired(ingestLease) > 0 {
		holder, standby = b, a
	}
	if err := holder.stop(); err != nil {
		t.Fatalf("stopping %s: %v", holder.name, err)
	}
	waitUntil(t, standby.name+" to take ingestion over", 15*time.Second, func() bool { return standby.acquired(ingestLease) == 1 })
	for _, l := range []string{"rollup/default", "sweep/default", "maintenance"} {
		waitUntil(t, standby.name+" to hold "+l, 15*time.Second, func() bool { return standby.acquired(l) >= 1 })
	}
}

// storedTotals reads a cluster's hourly totals straight from the central store.
func storedTotals(t *testing.T, s *sets.Sets, cluster string) map[time.Time]float64 {
	t.Helper()
	out := map[time.Time]float64{}
	err := s.Scan(t.Context(), cost.Hourly, time.Time{}, time.Unix(1<<40, 0), func(set *cost.Set) error {
		if set.Cluster == cluster {
			sum := 0.0
			for _, a := range set.Allocations {
				sum += a.TotalCost()
			}
			out[set.Window.Start] = sum
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func outboxOf(t *testing.T, cfg config.Config) []app.OutboxHour {
	t.Helper()
	_, hs, err := app.AgentOutbox(t.Context(), cfg, env(io.Discard, io.Discard))
	if err != nil {
		return nil
	}
	return hs
}

func postgresStore(ctx context.Context, cfg config.Config) (*postgres.Store, error) {
	p := cfg.Storage.Postgres
	pw, err := os.ReadFile(p.PasswordFile)
	if err != nil {
		return nil, err
	}
	pw = bytes.TrimSpace(pw)
	return postgres.Open(ctx, postgres.Config{Host: p.Host, Port: p.Port, Database: p.Database, User: p.User, Password: pw,
		SSLMode: "verify-full", CAFile: p.CAFile}, postgres.Options{})
}
