// Command agentload is the multi-cluster part of `make bench`: 50 simulated
// clusters of 500 pods each push a day of history at once into two server
// replicas on one PostgreSQL, and it prints each figure next to its target.
//
//  1. Builds the binary, starts a real PostgreSQL (internal/store/postgres/pgtest)
//     and enrols 50 clusters with `costwarden cluster add`.
//  2. Starts two `costwarden serve` replicas on the database (agents listeners on
//     127.0.0.2 and 127.0.0.3), sampling their memory (VmRSS / VmHWM).
//  3. Starts 50 `costwarden agent --demo --demo-pods 500 --demo-days 1` processes
//     at once, half preferring each replica; each computes its day (24 hours) and
//     pushes it.
//  4. Waits until every agent's every hour is stored, checks each stored total
//     against what its agent computed, and stops everything.
//
// Everything runs on loopback addresses and stops by itself.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/costwarden/costwarden/internal/bench/procinfo"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store/postgres"
	"github.com/costwarden/costwarden/internal/store/postgres/pgtest"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// Targets of the issue.
const (
	targetRSS = 1 << 30 // per replica
)

func main() {
	clusters := flag.Int("clusters", 50, "simulated clusters (agents)")
	pods := flag.Int("pods", 500, "pods per cluster")
	keep := flag.Bool("keep", false, "keep the working directory")
	flag.Parse()
	if err := run(*clusters, *pods, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "agentload:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "agentload: "+format+"\n", args...)
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	// peak resident set seen by sampling (VmHWM is read at the end too).
	mu   sync.Mutex
	peak int64
}

func start(name, bin, logDir string, env []string, args ...string) (*proc, error) {
	p := &proc{name: name, log: filepath.Join(logDir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) sample() {
	_, hwm := procinfo.Memory(p.cmd.Process.Pid)
	p.mu.Lock()
	if hwm > p.peak {
		p.peak = hwm
	}
	p.mu.Unlock()
}

func (p *proc) peakRSS() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.sample()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func run(nClusters, pods int, keep bool) error {
	ctx := context.Background()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "costwarden-agentload-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "costwarden")
	logf("building %s", bin)
	build := exec.Command("go", "build", "-o", bin, "./cmd/costwarden")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	logf("starting PostgreSQL")
	pg, err := pgtest.Start()
	if err != nil {
		return err
	}
	defer pg.Stop()
	const dbName = "agentload"
	if err := pg.Exec(ctx, "postgres", "CREATE DATABASE "+dbName); err != nil {
		return err
	}
	db := pg.Config(dbName)
	pw := filepath.Join(tmp, "pgpass")
	if err := os.WriteFile(pw, db.Password, 0o600); err != nil {
		return err
	}
	keyFile := filepath.Join(tmp, "costwarden.key")
	agentsA, err := procinfo.FreeAddr("127.0.0.2")
	if err != nil {
		return fmt.Errorf("a second loopback address is needed: %w", err)
	}
	agentsB, err := procinfo.FreeAddr("127.0.0.3")
	if err != nil {
		return err
	}
	serverEnv := func(name, agents string) []string {
		return []string{"PATH=/usr/bin:/bin", "COSTWARDEN_DATA_DIR=" + filepath.Join(tmp, name),
			"COSTWARDEN_STORAGE_DRIVER=postgres", "COSTWARDEN_STORAGE_POSTGRES_HOST=" + db.Host,
			"COSTWARDEN_STORAGE_POSTGRES_PORT=" + strconv.Itoa(db.Port), "COSTWARDEN_STORAGE_POSTGRES_DATABASE=" + dbName,
			"COSTWARDEN_STORAGE_POSTGRES_USER=" + db.User, "COSTWARDEN_STORAGE_POSTGRES_PASSWORD_FILE=" + pw,
			"COSTWARDEN_STORAGE_POSTGRES_CA_FILE=" + db.CAFile, "COSTWARDEN_KEYS_FILE=" + keyFile,
			"COSTWARDEN_SERVER_AGENT_LISTEN=" + agents, "COSTWARDEN_SERVER_INTERNAL_LISTEN=", "COSTWARDEN_LOG_LEVEL=warn"}
	}
	// Enrolment through the administration command, like an operator.
	logf("enrolling %d clusters", nClusters)
	tokens := make([]string, nClusters)
	for i := range tokens {
		var out bytes.Buffer
		c := exec.Command(bin, "cluster", "add", fmt.Sprintf("load-%02d", i))
		c.Env = serverEnv("admin", agentsA)
		var errOut bytes.Buffer
		c.Stdout, c.Stderr = &out, &errOut
		if err := c.Run(); err != nil {
			return fmt.Errorf("cluster add: %w: %s", err, errOut.String())
		}
		tokens[i] = strings.TrimSpace(out.String())
	}
	var replicas []*proc
	for _, r := range []struct{ name, ip, agents string }{{"replica-a", "127.0.0.2", agentsA}, {"replica-b", "127.0.0.3", agentsB}} {
		listen, err := procinfo.FreeAddr(r.ip)
		if err != nil {
			return err
		}
		p, err := start(r.name, bin, tmp, append(serverEnv(r.name, r.agents), "COSTWARDEN_SERVER_LISTEN="+listen), "serve")
		if err != nil {
			return err
		}
		defer p.stop()
		replicas = append(replicas, p)
	}
	for _, a := range []string{agentsA, agentsB} {
		deadline := time.Now().Add(60 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the agents listener %s did not come up", a)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Sample the replicas' memory from here on.
	stopSampling := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				for _, p := range replicas {
					p.sample()
				}
			}
		}
	}()
	_, idleA := procinfo.Memory(replicas[0].cmd.Process.Pid)
	logf("starting %d agents of %d pods at once", nClusters, pods)
	began := time.Now()
	var agents []*proc
	dirs := make([]string, nClusters)
	for i := range nClusters {
		servers := "https://" + agentsA + ",https://" + agentsB
		if i%2 == 1 {
			servers = "https://" + agentsB + ",https://" + agentsA
		}
		dirs[i] = filepath.Join(tmp, fmt.Sprintf("agent-%02d", i))
		p, err := start(fmt.Sprintf("agent-%02d", i), bin, tmp, []string{"PATH=/usr/bin:/bin", "COSTWARDEN_LOG_LEVEL=warn",
			"COSTWARDEN_AGENT_RETRY_MAX=5s", "COSTWARDEN_SERVER_INTERNAL_LISTEN=",
			"COSTWARDEN_RUNTIME_MEMORY_LIMIT_BYTES=" + strconv.Itoa(96<<20)},
			"agent", "--demo", "--demo-pods", strconv.Itoa(pods), "--demo-days", "1", "--server", servers,
			"--join-token", tokens[i], "--data-dir", dirs[i])
		if err != nil {
			return err
		}
		defer p.stop()
		agents = append(agents, p)
	}

	// The central store, read directly.
	kek, err := seal.OpenKeyFile(keyFile, false)
	if err != nil {
		return err
	}
	pst, err := postgres.Open(ctx, db, postgres.Options{})
	if err != nil {
		return err
	}
	defer pst.Close()
	want := 24 * nClusters
	deadline := time.Now().Add(15 * time.Minute)
	var stored int
	for {
		var n int
		if err := pg.QueryInts(ctx, dbName, "SELECT count(*) FROM windows WHERE resolution = 1", &n); err == nil {
			stored = n
		}
		if stored >= want {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 15 minutes %d of %d windows are stored; see the logs in %s (-keep)", stored, want, tmp)
		}
		time.Sleep(200 * time.Millisecond)
	}
	elapsed := time.Since(began)
	logf("%d windows stored in %s", stored, elapsed.Round(time.Millisecond))
	// Let anything still in flight finish, then stop the agents.
	time.Sleep(2 * time.Second)
	var agentPeak int64
	for _, p := range agents {
		p.sample()
		agentPeak = max(agentPeak, p.peakRSS())
		p.stop()
	}
	close(stopSampling)
	for _, p := range replicas {
		p.sample()
	}
	if err := pg.QueryInts(ctx, dbName, "SELECT count(*) FROM windows WHERE resolution = 1", &stored); err != nil {
		return err
	}

	// Every hour of every agent is stored, with the total the agent computed.
	central := sets.New(pst, seal.NewKeyring(kek, pst, seal.Options{}), "default", time.Now)
	totals := map[string]map[time.Time]float64{}
	err = central.Scan(ctx, cost.Hourly, time.Time{}, time.Unix(1<<40, 0), func(s *cost.Set) error {
		if totals[s.Cluster] == nil {
			totals[s.Cluster] = map[time.Time]float64{}
		}
		totals[s.Cluster][s.Window.Start] = sum(s)
		return nil
	})
	if err != nil {
		return err
	}
	mismatches, agentHours := 0, 0
	for i := range nClusters {
		name, hours, err := outbox(ctx, dirs[i])
		if err != nil {
			return fmt.Errorf("agent %d's outbox: %w", i, err)
		}
		agentHours += len(hours)
		for h, v := range hours {
			if c, ok := totals[name][h]; !ok || math.Abs(c-v) > 1e-9 {
				mismatches++
			}
		}
	}
	peakA, peakB := replicas[0].peakRSS(), replicas[1].peakRSS()
	figures := [][]string{
		{"clusters x pods", fmt.Sprintf("%d x %d", nClusters, pods), "50 x 500", verdict(nClusters >= 50 && pods >= 500)},
		{"hourly windows stored", fmt.Sprintf("%d of %d computed by the agents", stored, agentHours), "all", verdict(stored == agentHours && stored >= want)},
		{"stored totals equal the agents'", fmt.Sprintf("%d mismatches", mismatches), "0", verdict(mismatches == 0)},
		{"peak RSS replica a", mib(peakA), "<= 1024 MiB", verdict(peakA > 0 && peakA <= targetRSS)},
		{"peak RSS replica b", mib(peakB), "<= 1024 MiB", verdict(peakB > 0 && peakB <= targetRSS)},
		{"time to store the day of every cluster", elapsed.Round(100 * time.Millisecond).String(), "-", "(agents compute their day first)"},
		{"windows stored per second", fmt.Sprintf("%.0f", float64(stored)/elapsed.Seconds()), "-", ""},
		{"replica a RSS before the agents", mib(idleA), "-", ""},
		{"peak RSS of one agent", mib(agentPeak), "-", ""},
	}
	fmt.Println()
	fmt.Println("report: multi-cluster load (50 agents pushing a day at once into 2 replicas on PostgreSQL)")
	for _, f := range figures {
		fmt.Printf("report: %-42s %-36s target %-12s %s\n", f[0], f[1], f[2], f[3])
	}
	for _, p := range replicas {
		p.stop()
	}
	if mismatches > 0 || stored != agentHours || peakA > targetRSS || peakB > targetRSS {
		return errors.New("a target was missed")
	}
	return nil
}

func sum(s *cost.Set) float64 {
	t := 0.0
	for _, a := range s.Allocations {
		t += a.TotalCost()
	}
	return t
}

// outbox reads an agent's computed hours from its data directory.
func outbox(ctx context.Context, dir string) (string, map[time.Time]float64, error) {
	kek, err := seal.OpenKeyFile(filepath.Join(dir, "costwarden.key"), false)
	if err != nil {
		return "", nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "costwarden.db"), sqlite.Options{ReadOnly: true})
	if err != nil {
		return "", nil, err
	}
	defer st.Close()
	s := sets.New(st, seal.NewKeyring(kek, st, seal.Options{}), "default", time.Now)
	out := map[time.Time]float64{}
	name := ""
	err = s.Scan(ctx, cost.Hourly, time.Time{}, time.Unix(1<<40, 0), func(set *cost.Set) error {
		name = set.Cluster
		out[set.Window.Start] = sum(set)
		return nil
	})
	return name, out, err
}
