package hatest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store/postgres"
	"github.com/costwarden/costwarden/internal/store/postgres/pgtest"
)

// The test's time runs rate times faster than the wall clock in every process
// (the same formula everywhere): an hour passes in 30 seconds, so hours close,
// certificates renew and agents' outboxes fill during a test of two minutes.
// Real durations stay real: PostgreSQL is down for a real minute, and leases,
// retries and timeouts keep their real values.
const rate = 120

// Helper processes are this binary with COSTWARDEN_TEST_HA_ROLE set.
const (
	roleEnv  = "COSTWARDEN_TEST_HA_ROLE"
	clockEnv = "COSTWARDEN_TEST_HA_CLOCK"
	joinEnv  = "COSTWARDEN_TEST_HA_JOIN"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(helper(role))
	}
	os.Exit(m.Run())
}

// virtualClock reads "realStart,virtualStart,rate" (Unix nanoseconds).
func virtualClock(spec string) (func() time.Time, error) {
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		return nil, fmt.Errorf("bad clock %q", spec)
	}
	var v [3]int64
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, err
		}
		v[i] = n
	}
	t0, base := time.Unix(0, v[0]), time.Unix(0, v[1]).UTC()
	return func() time.Time { return base.Add(time.Duration(float64(time.Since(t0)) * float64(v[2]))) }, nil
}

// helper runs a server replica or an agent with the shared clock.
func helper(role string) int {
	now, err := virtualClock(os.Getenv(clockEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COSTWARDEN_TEST") {
			environ = append(environ, kv)
		}
	}
	cfg, err := config.Load(config.Sources{Environ: environ})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	e := app.Env{Now: now, Stdout: os.Stdout, Stderr: os.Stderr, Build: app.Build{Version: "hatest"},
		Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	switch role {
	case "serve":
		err = app.Serve(ctx, cfg, e)
	case "agent":
		err = app.RunAgent(ctx, cfg, e, app.AgentOptions{JoinToken: os.Getenv(joinEnv)})
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// envOf is a configuration key's environment variable.
func envOf(key string) string {
	for _, k := range config.Keys() {
		if k.Name == key {
			return k.Env
		}
	}
	panic("no configuration key " + key)
}

func settings(kv map[string]string) []string {
	out := []string{"PATH=/usr/bin:/bin"}
	for k, v := range kv {
		out = append(out, envOf(k)+"="+v)
	}
	return out
}

// proc is a helper process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func start(t *testing.T, name, role string, env []string, logDir string) *proc {
	t.Helper()
	p := &proc{name: name, log: filepath.Join(logDir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(env, roleEnv+"="+role)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
	<-p.done
}

// term stops the process gracefully.
func (p *proc) term(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop on SIGTERM within 30s", p.name)
		p.kill()
	}
}

func (p *proc) logs() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func (p *proc) count(what string) int { return strings.Count(p.logs(), what) }

func freePort(t *testing.T, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatalf("listening on %s (loopback aliases are needed): %v", host, err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, limit time.Duration, procs []*proc, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			for _, p := range procs {
				l := p.logs()
				t.Logf("--- %s (last 3000 bytes)\n%s", p.name, l[max(0, len(l)-3000):])
			}
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// central reads the central store directly.
type central struct {
	st   *postgres.Store
	sets *sets.Sets
}

// hours returns a cluster's stored hours and their totals.
func (c *central) totals(ctx context.Context, res cost.Resolution) (map[string]map[time.Time]float64, error) {
	out := map[string]map[time.Time]float64{}
	err := c.sets.Scan(ctx, res, time.Time{}, time.Unix(1<<40, 0), func(s *cost.Set) error {
		if out[s.Cluster] == nil {
			out[s.Cluster] = map[time.Time]float64{}
		}
		out[s.Cluster][s.Window.Start] = total(s)
		return nil
	})
	return out, err
}

func total(s *cost.Set) float64 {
	sum := 0.0
	for _, a := range s.Allocations {
		sum += a.TotalCost()
	}
	return sum
}

// TestKillAReplicaAndStopPostgres is the acceptance test of the central
// deployment: three agents (simulated clusters, two days of history each) push
// to two replicas on one PostgreSQL, each a process of its own on its own
// loopback address. One replica is killed with SIGKILL while the agents
// deliver, and PostgreSQL is stopped for a minute. Afterwards every cluster's
// every hour is stored exactly once, with the totals its agent computed; every
// background job moved to the surviving replica; daily rollups add up.
func TestKillAReplicaAndStopPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	ctx := t.Context()
	began := time.Now()
	pg := pgtest.StartT(t)
	db := pg.NewDatabase(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "pgpass")
	if err := os.WriteFile(pw, db.Password, 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	spec := fmt.Sprintf("%d,%d,%d", now.UnixNano(), now.UnixNano(), rate)
	clock, _ := virtualClock(spec)
	agentsA, agentsB := freePort(t, "127.0.0.2"), freePort(t, "127.0.0.3")
	replicaSettings := func(name, ip, agents string) map[string]string {
		return map[string]string{
			"dataDir": filepath.Join(dir, name), "server.listen": ip + ":0", "server.internalListen": "", "server.agentListen": agents,
			"storage.driver": "postgres", "storage.postgres.host": db.Host, "storage.postgres.port": strconv.Itoa(db.Port),
			"storage.postgres.database": db.Database, "storage.postgres.user": db.User, "storage.postgres.passwordFile": pw,
			"storage.postgres.caFile": db.CAFile, "storage.postgres.connectTimeout": "3s",
			"keys.file": filepath.Join(dir, "costwarden.key"), "ha.leaseRetry": "500ms", "ha.leaseCheck": "500ms",
			"agents.certTTL": "4h", "agents.joinTokenTTL": "24h", "log.format": "json", "server.shutdownTimeout": "5s",
		}
	}
	setA := replicaSettings("a", "127.0.0.2", agentsA)
	// The clusters are enrolled first, by the administration commands on the
	// shared store (this makes the key file, the schema and the CA).
	cfg, err := config.Load(config.Sources{Flags: setA})
	if err != nil {
		t.Fatal(err)
	}
	clusters := []string{"eu-prod", "us-prod", "ap-batch"}
	tokens := map[string]string{}
	for _, c := range clusters {
		var out bytes.Buffer
		e := app.Env{Now: clock, Stdout: &out, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}
		if err := app.ClusterAdd(ctx, cfg, e, c); err != nil {
			t.Fatal(err)
		}
		tokens[c] = strings.TrimSpace(out.String())
	}
	clockEnvLine := clockEnv + "=" + spec
	a := start(t, "replica-a", "serve", append(settings(setA), clockEnvLine), dir)
	b := start(t, "replica-b", "serve", append(settings(replicaSettings("b", "127.0.0.3", agentsB)), clockEnvLine), dir)
	procs := []*proc{a, b}
	for _, addr := range []string{agentsA, agentsB} {
		waitFor(t, "the agents listener "+addr, 60*time.Second, procs, func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	agents := map[string]*proc{}
	agentDirs := map[string]string{}
	for i, c := range clusters {
		servers := "https://" + agentsA + ",https://" + agentsB
		if i == 2 {
			servers = "https://" + agentsB + ",https://" + agentsA
		}
		agentDirs[c] = filepath.Join(dir, "agent-"+c)
		p := start(t, "agent-"+c, "agent", append(settings(map[string]string{
			"dataDir": agentDirs[c], "demo.enabled": "true", "demo.days": "2", "demo.pods": strconv.Itoa(30 + 10*i),
			"agent.servers": servers, "agent.retryMax": "3s", "server.internalListen": "", "log.format": "json",
		}), clockEnvLine, joinEnv+"="+tokens[c]), dir)
		agents[c] = p
		procs = append(procs, p)
	}

	kek, err := seal.OpenKeyFile(filepath.Join(dir, "costwarden.key"), false)
	if err != nil {
		t.Fatal(err)
	}
	pst, err := postgres.Open(ctx, db, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pst.Close()
	cen := &central{st: pst, sets: sets.New(pst, seal.NewKeyring(kek, pst, seal.Options{}), app.DefaultTenant, clock)}
	stored := func() int {
		tot, err := cen.totals(ctx, cost.Hourly)
		if err != nil {
			return -1
		}
		n := 0
		for _, m := range tot {
			n += len(m)
		}
		return n
	}

	// Kill replica a with SIGKILL while the agents deliver their history.
	waitFor(t, "the first windows to be stored", 90*time.Second, procs, func() bool { return stored() >= 5 })
	a.kill()
	t.Logf("%s: replica a killed with %d hours stored", time.Since(began).Round(time.Second), stored())

	// Every agent's outbox so far reaches the store through replica b.
	outboxes := func() map[string][]app.OutboxHour {
		out := map[string][]app.OutboxHour{}
		for _, c := range clusters {
			acfg, err := config.Load(config.Sources{Flags: map[string]string{"dataDir": agentDirs[c]}})
			if err != nil {
				t.Fatal(err)
			}
			_, hs, err := app.AgentOutbox(ctx, acfg, app.Env{Now: clock, Log: slog.New(slog.DiscardHandler)})
			if err == nil {
				out[c] = hs
			}
		}
		return out
	}
	delivered := func(minHours int) bool {
		tot, err := cen.totals(ctx, cost.Hourly)
		if err != nil {
			return false
		}
		for c, hs := range outboxes() {
			if len(hs) < minHours {
				return false
			}
			for _, h := range hs {
				if v, ok := tot[c][h.Start]; !ok || math.Abs(v-h.TotalCost) > 1e-9 {
					return false
				}
			}
		}
		return true
	}
	waitFor(t, "every outbox delivered through replica b", 120*time.Second, procs, func() bool { return delivered(47) })
	t.Logf("%s: everything delivered through replica b (%d hours)", time.Since(began).Round(time.Second), stored())

	// PostgreSQL goes away for a minute. Hours keep closing in the agents
	// (two an actual minute); replica b answers 503 and loses its leases.
	before := map[string]int{}
	for c, hs := range outboxes() {
		before[c] = len(hs)
	}
	if err := pg.Halt(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Minute)
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: PostgreSQL back after a minute", time.Since(began).Round(time.Second))
	waitFor(t, "the hours closed during the outage to be delivered", 90*time.Second, procs, func() bool {
		for c, hs := range outboxes() {
			if len(hs) <= before[c] {
				return false
			}
		}
		return delivered(48)
	})
	// The certificates (4h) came due for renewal during the outage (at half
	// life): every agent renews once the server can issue again.
	waitFor(t, "every agent to renew its certificate", 60*time.Second, procs, func() bool {
		for _, c := range clusters {
			if agents[c].count("agent certificate renewed") == 0 {
				return false
			}
		}
		return true
	})
	for _, c := range clusters {
		agents[c].term(t)
	}
	t.Logf("%s: agents stopped", time.Since(began).Round(time.Second))

	// Every hour of every cluster is stored exactly once with its agent's total.
	final := outboxes()
	tot, err := cen.totals(ctx, cost.Hourly)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clusters {
		hs := final[c]
		if len(hs) < 48 {
			t.Errorf("%s: the agent computed %d hours, want at least 48", c, len(hs))
		}
		if len(tot[c]) != len(hs) {
			t.Errorf("%s: %d hours stored, the agent computed %d", c, len(tot[c]), len(hs))
		}
		for _, h := range hs {
			v, ok := tot[c][h.Start]
			switch {
			case !ok:
				t.Errorf("%s: hour %s missing", c, h.Start)
			case math.Abs(v-h.TotalCost) > 1e-9:
				t.Errorf("%s: hour %s costs %v centrally, the agent computed %v", c, h.Start, v, h.TotalCost)
			}
		}
		id, err := cen.sets.ClusterID(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		var rows, distinct int
		if err := pg.QueryInts(ctx, db.Database, fmt.Sprintf(
			"SELECT count(*), count(DISTINCT start_unix) FROM windows WHERE cluster_id = '%s' AND resolution = %d", id, cost.Hourly), &rows, &distinct); err != nil {
			t.Fatal(err)
		}
		if rows != distinct || rows != len(hs) {
			t.Errorf("%s: %d hourly rows for %d distinct hours, want %d once each", c, rows, distinct, len(hs))
		}
	}

	// The surviving replica runs every job: it took the leases after a died,
	// lost them with the database, and took them again.
	for _, l := range []string{"rollup/default", "sweep/default", "maintenance"} {
		if a.count(`"lease":"`+l+`"`) == 0 && b.count(`"lease acquired: this replica runs the job","component":"lease","lease":"`+l+`"`) == 0 {
			t.Errorf("nobody ran %s", l)
		}
	}
	if b.count("lease lost") == 0 {
		t.Error("replica b never reported losing a lease while PostgreSQL was down")
	}
	waitFor(t, "replica b to hold the maintenance lease again", 30*time.Second, procs, func() bool {
		l := b.logs()
		lost := strings.LastIndex(l, "lease lost")
		got := strings.LastIndex(l, `"lease acquired: this replica runs the job","component":"lease","lease":"maintenance"`)
		return got > lost
	})
	// Daily rollups: each cluster's complete days equal the sum of their hours.
	waitFor(t, "daily rollups of the complete days", 60*time.Second, procs, func() bool {
		days, err := cen.totals(ctx, cost.Daily)
		if err != nil {
			return false
		}
		hours, _ := cen.totals(ctx, cost.Hourly)
		for _, c := range clusters {
			if len(days[c]) == 0 {
				return false
			}
			for d, v := range days[c] {
				sum := 0.0
				for h := d; h.Before(d.Add(24 * time.Hour)); h = h.Add(time.Hour) {
					sum += hours[c][h]
				}
				if math.Abs(sum-v) > 1e-6*math.Max(1, sum) {
					t.Errorf("%s: day %s = %v, its hours add up to %v", c, d, v, sum)
				}
			}
		}
		return true
	})
	failovers, renewals := 0, 0
	for _, c := range clusters {
		failovers += agents[c].count("server unavailable; trying the next")
		renewals += agents[c].count("agent certificate renewed")
	}
	if failovers == 0 {
		t.Error("no agent moved to the other replica after the kill")
	}
	b.term(t)
	t.Logf("%s: done; %d failovers, %d certificate renewals", time.Since(began).Round(time.Second), failovers, renewals)
}
