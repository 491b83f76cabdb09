package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/rekey"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// buildBinary builds cmd/costwarden into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "costwarden")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/costwarden")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building costwarden: %v\n%s", err, out)
	}
	return bin
}

type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, bin, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--data-dir", dir)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "COSTWARDEN_SERVER_INTERNAL_LISTEN=", "COSTWARDEN_LOG_FORMAT=text",
		"COSTWARDEN_RETENTION_HOURLY_DAYS=0", "COSTWARDEN_RETENTION_DAILY_MONTHS=0"}
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	return p
}

// kill sends SIGKILL and waits; it reports whether the process was still running.
func (p *proc) kill() bool {
	select {
	case <-p.done:
		return false
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return true
}

// snapshot opens the store as a restarted process would, checks its integrity,
// decrypts every window and returns the stored window starts.
func snapshot(t *testing.T, dir string) map[time.Time]bool {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "costwarden.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("the store does not open after a kill: %v", err)
	}
	defer st.Close()
	if err := st.Check(ctx); err != nil {
		t.Fatalf("integrity check after a kill: %v", err)
	}
	kek, err := seal.OpenKeyFile(filepath.Join(dir, "costwarden.key"), false)
	if err != nil {
		t.Fatal(err)
	}
	ring := seal.NewKeyring(kek, st, seal.Options{})
	tenants, err := st.ListTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Verify(ctx, tenants...); err != nil {
		t.Fatalf("keys after a kill: %v", err)
	}
	ss := sets.New(st, ring, "default", time.Now)
	got := map[time.Time]bool{}
	err = ss.Scan(ctx, cost.Hourly, time.Time{}, time.Now().Add(time.Hour), func(s *cost.Set) error {
		if len(s.Allocations) == 0 {
			return fmt.Errorf("window %s decrypted to an empty set", s.Window)
		}
		got[s.Window.Start] = true
		return nil
	})
	if err != nil {
		t.Fatalf("a stored window does not open after a kill: %v", err)
	}
	return got
}

// TestKillNineLoop kills the real binary at random moments while it backfills
// and closes hours and while it re-encrypts after rotations, at least 50
// times. After every kill the store opens, passes quick_check, every key
// unwraps, every stored window decrypts, and every window stored before the
// kill is still there: at most the hour being written is lost.
func TestKillNineLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 6))
	t.Logf("seed %d", seed)
	kills, reencryptKills, serveKills, midway := 0, 0, 0, 0
	var stored map[time.Time]bool
	rounds := 0
	for i := 0; kills < 60 || reencryptKills < 15 || midway < 3; i++ {
		rounds = i
		if i > 400 {
			t.Fatalf("only %d kills (%d during re-encryption) in %d rounds", kills, reencryptKills, i)
		}
		var procs []*proc
		var reenc *proc
		switch {
		case i > 0 && i%4 == 0:
			// A rotation (completed), then re-encryption killed midway, next to
			// a serving process that also re-encrypts in the background.
			rot := start(t, bin, dir, "keys", "rotate")
			if err := <-rot.done; err != nil {
				t.Fatalf("keys rotate: %v\n%s", err, rot.out)
			}
			reenc = start(t, bin, dir, "keys", "reencrypt")
			procs = append(procs, reenc)
			if rng.IntN(2) == 0 {
				procs = append(procs, start(t, bin, dir, "serve", "--demo", "--demo-pods", "40", "--demo-days", fmt.Sprint(2+i/3), "--listen", "127.0.0.1:0"))
			}
			time.Sleep(time.Duration(rng.IntN(120)) * time.Millisecond)
		default:
			// Ingestion: every round asks for more history, so each restart has
			// hours to backfill when it is killed.
			procs = append(procs, start(t, bin, dir, "serve", "--demo", "--demo-pods", "40", "--demo-days", fmt.Sprint(2+i/3), "--listen", "127.0.0.1:0"))
			time.Sleep(time.Duration(150+rng.IntN(700)) * time.Millisecond)
		}
		for _, p := range procs {
			if p.kill() {
				kills++
				if p == reenc {
					reencryptKills++
				} else {
					serveKills++
				}
			} else if p != reenc {
				t.Fatalf("round %d: the server exited by itself:\n%s", i, p.out)
			}
		}
		got := snapshot(t, dir)
		if reenc != nil && midway < 3 {
			if st := rekeyState(t, dir); !st.Done && st.Scanned > 0 {
				midway++ // killed with re-encryption half done: the next run resumes it
			}
		}
		for h := range stored {
			if !got[h] {
				t.Fatalf("round %d: the stored hour %s was lost", i, h)
			}
		}
		stored = got
	}
	t.Logf("%d kills (%d while serving, %d while re-encrypting, %d of them with re-encryption half done); %d hours stored", kills, serveKills, reencryptKills, midway, len(stored))
	if len(stored) < 48 {
		t.Errorf("only %d hours stored: ingestion made no progress across restarts", len(stored))
	}
	// A last, uninterrupted start backfills whatever the kills cut short (one
	// more day than any round asked for, so there is always a backfill to
	// complete).
	lastDays := 3 + rounds/3
	final := start(t, bin, dir, "serve", "--demo", "--demo-pods", "40", "--demo-days", fmt.Sprint(lastDays), "--listen", "127.0.0.1:0")
	waitFor(t, final, "backfill complete")
	final.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-final.done; err != nil {
		t.Fatalf("clean stop: %v\n%s", err, final.out)
	}
	stored = snapshot(t, dir)

	// Re-encryption resumes and completes; afterwards every blob is current.
	fin := start(t, bin, dir, "keys", "reencrypt")
	if err := <-fin.done; err != nil {
		t.Fatalf("final re-encryption: %v\n%s", err, fin.out)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "costwarden.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	state, err := rekey.LoadState(context.Background(), st, "default")
	if err != nil || !state.Done {
		t.Fatalf("re-encryption state after the final run: %+v, %v", state, err)
	}
	for _, table := range store.SealedTables() {
		rows, _, err := st.ScanSealed(context.Background(), table, "default", "", 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if v, _ := seal.BlobVersion(r.Blob); v < state.Target {
				t.Errorf("%s row still at key version %d < %d", table, v, state.Target)
			}
		}
	}
	// Hours are contiguous: nothing but whole hours was ever stored or lost.
	var first, last time.Time
	for h := range stored {
		if first.IsZero() || h.Before(first) {
			first = h
		}
		if h.After(last) {
			last = h
		}
	}
	for h := first; !h.After(last); h = h.Add(time.Hour) {
		if !stored[h] {
			t.Errorf("hour %s missing between %s and %s", h, first, last)
		}
	}
}

func rekeyState(t *testing.T, dir string) rekey.State {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "costwarden.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := rekey.LoadState(context.Background(), st, "default")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReadOnlyFileSystem runs the binary in a private mount namespace where the
// data directory is bind-mounted read-only: the start fails with a message
// naming the read-only file system, and the data is unchanged and intact.
func TestReadOnlyFileSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace (CI runs as root)")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	p := start(t, bin, dir, "serve", "--demo", "--demo-pods", "40", "--demo-days", "1", "--listen", "127.0.0.1:0")
	waitFor(t, p, "backfill complete")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("clean stop: %v\n%s", err, p.out)
	}
	before := snapshot(t, dir)
	hash := hashDir(t, dir)

	script := fmt.Sprintf(`set -e
mount --bind %[1]s %[1]s
mount -o remount,ro,bind %[1]s
exec %[2]s serve --demo --demo-pods 40 --demo-days 1 --listen 127.0.0.1:0 --data-dir %[1]s`, dir, bin)
	cmd := exec.Command("unshare", "-m", "sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "COSTWARDEN_SERVER_INTERNAL_LISTEN="}
	out, err := runWithTimeout(cmd, 60*time.Second)
	if err == nil {
		t.Fatalf("the server started on a read-only data directory:\n%s", out)
	}
	if !strings.Contains(out, "read-only file system") {
		t.Errorf("the error does not name the read-only file system:\n%s", out)
	}
	if hashDir(t, dir) != hash {
		t.Error("a refused start on a read-only file system changed the data directory")
	}
	after := snapshot(t, dir)
	if len(after) != len(before) {
		t.Errorf("%d hours after, %d before", len(after), len(before))
	}

}

// TestDiskFull runs the binary on a small tmpfs (in a private mount namespace)
// that fills up during a backfill: the failure says the disk is full, and the
// data directory, copied out afterwards, opens, passes its integrity check and
// holds every hour stored before the disk filled.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace (CI runs as root)")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	p := start(t, bin, dir, "serve", "--demo", "--demo-pods", "40", "--demo-days", "1", "--listen", "127.0.0.1:0")
	waitFor(t, p, "backfill complete")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("clean stop: %v\n%s", err, p.out)
	}
	before := snapshot(t, dir)
	var used int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			used += fi.Size()
		}
	}
	small := filepath.Join(t.TempDir(), "small")
	out := filepath.Join(t.TempDir(), "copied")
	log := filepath.Join(t.TempDir(), "serve.log")
	script := fmt.Sprintf(`set -e
mkdir -p %[1]s %[5]s
mount -t tmpfs -o size=%[4]dk tmpfs %[1]s
cp -a %[2]s/. %[1]s/
set +e
%[3]s serve --demo --demo-pods 40 --demo-days 60 --listen 127.0.0.1:0 --data-dir %[1]s >%[6]s 2>&1 &
pid=$!
for i in $(seq 1 600); do kill -0 $pid 2>/dev/null || break; grep -q "storage is full" %[6]s && break; sleep 0.05; done
sleep 0.2
kill -9 $pid 2>/dev/null
wait $pid
cp -a %[1]s/. %[5]s/`, small, dir, bin, (used+600*1024)/1024, out, log)
	cmd := exec.Command("unshare", "-m", "sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "COSTWARDEN_SERVER_INTERNAL_LISTEN=", "COSTWARDEN_RETENTION_HOURLY_DAYS=0"}
	if o, err := runWithTimeout(cmd, 120*time.Second); err != nil {
		t.Fatalf("namespace script: %v\n%s", err, o)
	}
	logs, _ := os.ReadFile(log)
	if !strings.Contains(string(logs), "storage is full") {
		t.Errorf("the failure does not say the disk is full:\n%s", logs)
	}
	after := snapshot(t, out)
	for h := range before {
		if !after[h] {
			t.Errorf("hour %s lost when the disk filled", h)
		}
	}
	if len(after) <= len(before) {
		t.Errorf("no hour was stored before the disk filled (%d -> %d): the write path was not exercised", len(before), len(after))
	}
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.String(), err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return buf.String(), errors.New("timed out (the server kept running)")
	}
}

func waitFor(t *testing.T, p *proc, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.out.String(), what) {
			return
		}
		select {
		case err := <-p.done:
			t.Fatalf("exited (%v) before %q:\n%s", err, what, p.out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.kill()
	t.Fatalf("never logged %q", what)
}

func hashDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		h := bufio.NewReader(f)
		data, _ := io.ReadAll(h)
		f.Close()
		fmt.Fprintf(&b, "%s:%x\n", e.Name(), data)
	}
	return b.String()
}
