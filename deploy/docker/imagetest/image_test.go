package imagetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/costwarden/costwarden/internal/config"
)

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// dockerfile is the parsed deploy/docker/Dockerfile.
type dockerfile struct {
	stages   []instructions.Stage
	metaArgs map[string]string // ARGs before the first FROM, with their defaults
	warnings []string          // BuildKit's parser and linter warnings
}

func parseDockerfile(t testing.TB, path string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("BuildKit cannot parse %s: %v", path, err)
	}
	var d dockerfile
	for _, w := range res.Warnings {
		d.warnings = append(d.warnings, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		d.warnings = append(d.warnings, fmt.Sprintf("%s: %s (line %v)", rule, msg, loc))
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("BuildKit rejects %s: %v", path, err)
	}
	d.stages = stages
	d.metaArgs = map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				d.metaArgs[kv.Key] = *kv.Value
			}
		}
	}
	return d
}

func dockerfilePath(t testing.TB) string {
	return filepath.Join(repoRoot(t), "deploy", "docker", "Dockerfile")
}

// expandArgs replaces ${NAME} with vars[NAME].
func expandArgs(s string, vars map[string]string) string {
	return regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(s, func(m string) string {
		return vars[m[2:len(m)-1]]
	})
}

// TestDockerfileFinalStage: the image that runs is distroless (or scratch), runs no
// command at build time (no shell needed or present), runs as a numeric non-root
// user, writes only its data directory (owned by that user) and /tmp, exposes the
// configuration's default ports, starts the binary in exec form, and carries OCI
// labels.
func TestDockerfileFinalStage(t *testing.T) {
	d := parseDockerfile(t, dockerfilePath(t))
	if len(d.warnings) != 0 {
		t.Errorf("BuildKit warnings:\n  %s", strings.Join(d.warnings, "\n  "))
	}
	if len(d.stages) < 2 {
		t.Fatalf("%d stages; want a build stage and a final stage", len(d.stages))
	}
	final := d.stages[len(d.stages)-1]
	base := expandArgs(final.BaseName, d.metaArgs)
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final stage FROM %s: want distroless/static or scratch (no shell, no package manager)", base)
	}
	build := d.stages[0]
	var user string
	labels := map[string]string{}
	var exposed []string
	var entrypoint, cmd *instructions.ShellDependantCmdLine
	var dataDirCopied bool
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			t.Errorf("final stage runs %q: it must need no shell", c.String())
		case *instructions.ShellCommand, *instructions.AddCommand, *instructions.OnbuildCommand, *instructions.VolumeCommand:
			t.Errorf("final stage has %q", c.Name())
		case *instructions.UserCommand:
			user = c.User
		case *instructions.LabelCommand:
			for _, kv := range c.Labels {
				labels[kv.Key] = kv.Value
			}
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.EntrypointCommand:
			entrypoint = &c.ShellDependantCmdLine
		case *instructions.CmdCommand:
			cmd = &c.ShellDependantCmdLine
		case *instructions.CopyCommand:
			if c.From != build.Name {
				t.Errorf("final stage copies %v from %q, not from the build stage", c.SourcePaths, c.From)
			}
			if c.Chown == "65532:65532" && c.DestPath == config.Default().DataDir {
				dataDirCopied = true
			}
		}
	}
	if m := regexp.MustCompile(`^(\d+):(\d+)$`).FindStringSubmatch(user); m == nil || m[1] == "0" || m[2] == "0" {
		t.Errorf("USER %q: want a numeric non-root user and group (runAsNonRoot can only verify numbers)", user)
	}
	// The default data directory exists and belongs to the runtime user (the only
	// place it writes besides /tmp).
	if !dataDirCopied {
		t.Errorf("the default data directory %s is not created owned by the runtime user", config.Default().DataDir)
	}
	for _, k := range []string{"title", "description", "source", "version", "revision", "url", "documentation"} {
		if labels["org.opencontainers.image."+k] == "" {
			t.Errorf("no OCI label org.opencontainers.image.%s", k)
		}
	}
	def := config.Default()
	var want []string
	for _, addr := range []string{def.Server.Listen, def.Server.InternalListen} {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, port+"/tcp")
	}
	if !slices.Equal(exposed, want) {
		t.Errorf("EXPOSE %v, want the configuration's default ports %v", exposed, want)
	}
	if entrypoint == nil || entrypoint.PrependShell || !slices.Equal(entrypoint.CmdLine, []string{"/usr/local/bin/costwarden"}) {
		t.Errorf("ENTRYPOINT %+v: want exec form [/usr/local/bin/costwarden] (there is no shell)", entrypoint)
	}
	if cmd == nil || cmd.PrependShell || !slices.Equal(cmd.CmdLine, []string{"serve"}) {
		t.Errorf("CMD %+v: want exec form [serve]", cmd)
	}
}

// buildLine is the build stage's go build command, split into words.
func buildLine(t testing.TB, d dockerfile) (args []string, env map[string]string) {
	t.Helper()
	env = map[string]string{}
	for _, c := range d.stages[0].Commands {
		switch c := c.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env[kv.Key] = kv.Value
			}
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			if strings.HasPrefix(line, "go build ") {
				if args != nil {
					t.Fatal("two go build lines")
				}
				args = shellWords(t, line)[1:]
			}
		}
	}
	if args == nil {
		t.Fatal("the build stage has no go build line")
	}
	return args, env
}

// shellWords splits a command line at spaces, keeping double-quoted words whole.
func shellWords(t testing.TB, s string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// makefileBuildLine is `make build`'s go build line with LDFLAGS expanded and make's
// $(VAR) written as the Dockerfile's ${VAR}.
func makefileBuildLine(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	ld := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.*)$`).FindStringSubmatch(mk)
	build := regexp.MustCompile(`(?m)^build:.*\n\t\$\(GO\) (build .*)$`).FindStringSubmatch(mk)
	if ld == nil || build == nil {
		t.Fatal("the Makefile has no LDFLAGS or build recipe")
	}
	line := strings.ReplaceAll(build[1], "$(LDFLAGS)", strings.TrimSpace(ld[1]))
	line = regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllString(line, "$${$1}")
	return shellWords(t, line)
}

// TestDockerfileBuildsLikeTheMakefile: the image's binary is built with `make
// build`'s exact flags (trimpath, stripped, version and revision stamped), CGO off.
func TestDockerfileBuildsLikeTheMakefile(t *testing.T) {
	args, env := buildLine(t, parseDockerfile(t, dockerfilePath(t)))
	mk := makefileBuildLine(t)
	withoutOutput := func(a []string) []string {
		i := slices.Index(a, "-o")
		if i < 0 || i+1 >= len(a) {
			t.Fatalf("no -o in %v", a)
		}
		return slices.Concat(a[:i], a[i+2:])
	}
	if got, want := withoutOutput(args), withoutOutput(mk); !slices.Equal(got, want) {
		t.Errorf("Dockerfile builds with\n  %q\nMakefile with\n  %q", got, want)
	}
	if env["CGO_ENABLED"] != "0" {
		t.Errorf("the build stage has CGO_ENABLED=%q, want 0 (a static binary)", env["CGO_ENABLED"])
	}
}

// TestMain removes the unpacked context and binary that the tests share.
func TestMain(m *testing.M) {
	code := m.Run()
	if contextDir != "" {
		os.RemoveAll(filepath.Dir(contextDir))
	}
	os.Exit(code)
}

var (
	contextOnce sync.Once
	contextDir  string
	contextBin  string
	contextErr  error
)

// builtFromContext makes the image context, unpacks it, and builds the binary in it
// with the Dockerfile's go build line and build-stage environment, as the image
// build does (only GOTOOLCHAIN is this machine's: the golang image's Go is local
// there, here the Makefile's go1.27.3 is).
func builtFromContext(t *testing.T) (dir, bin string) {
	t.Helper()
	contextOnce.Do(func() {
		contextErr = func() error {
			work, err := os.MkdirTemp("", "costwarden-image-")
			if err != nil {
				return err
			}
			// The server test runs the binary as uid 65532: it must reach it.
			if err := os.Chmod(work, 0o755); err != nil {
				return err
			}
			tarball := filepath.Join(work, "context.tar.gz")
			mk := exec.Command("make", "--no-print-directory", "image-context", "IMAGE_CONTEXT="+tarball)
			mk.Dir = repoRoot(t)
			if out, err := mk.CombinedOutput(); err != nil {
				return fmt.Errorf("make image-context: %v\n%s", err, out)
			}
			contextDir = filepath.Join(work, "context")
			if err := untar(tarball, contextDir); err != nil {
				return err
			}
			d := parseDockerfile(t, filepath.Join(contextDir, "Dockerfile"))
			args, env := buildLine(t, d)
			vars := map[string]string{"VERSION": "1.2.3-imagetest", "REVISION": "abc1234"}
			for i, a := range args {
				args[i] = expandArgs(a, vars)
			}
			out := slices.Index(args, "-o")
			contextBin = filepath.Join(work, "bin", "costwarden")
			args[out+1] = contextBin
			build := exec.Command("go", args...)
			build.Dir = contextDir
			build.Env = os.Environ()
			for k, v := range env {
				if k != "GOTOOLCHAIN" {
					build.Env = append(build.Env, k+"="+v)
				}
			}
			if out, err := build.CombinedOutput(); err != nil {
				return fmt.Errorf("go %s in the image context: %v\n%s", strings.Join(args, " "), err, out)
			}
			return nil
		}()
	})
	if contextErr != nil {
		t.Fatal(contextErr)
	}
	return contextDir, contextBin
}

func untar(tarball, dir string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg || strings.Contains(h.Name, "..") || filepath.IsAbs(h.Name) {
			return fmt.Errorf("unexpected entry %s (type %c)", h.Name, h.Typeflag)
		}
		p := filepath.Join(dir, h.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
}

// TestImageContextIsReproducible: two runs of `make image-context`, with a source
// file's modification time changed in between, give the same bytes and checksum;
// the context holds the Dockerfile at its root, sources but no tests, in name order,
// owner 0, every mtime the last commit's.
func TestImageContextIsReproducible(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	mk := func(name string) []byte {
		out := filepath.Join(dir, name, "image-context.tar.gz")
		cmd := exec.Command("make", "--no-print-directory", "image-context", "IMAGE_CONTEXT="+out)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make image-context: %v\n%s", err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := os.ReadFile(out + ".sha256")
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if want := hex.EncodeToString(h[:]) + "  image-context.tar.gz\n"; string(sum) != want {
			t.Errorf("checksum file %q, want %q", sum, want)
		}
		return b
	}
	first := mk("a")
	touched := filepath.Join(root, "cmd", "costwarden", "main.go")
	st, err := os.Stat(touched)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(touched, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	second := mk("b")
	if err := os.Chtimes(touched, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("two runs of make image-context differ")
	}
	epoch, err := exec.Command("git", "-C", root, "log", "-1", "--format=%ct").Output()
	if err != nil {
		t.Fatal(err)
	}
	commit, err := strconv.ParseInt(strings.TrimSpace(string(epoch)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.ModTime.Unix() != commit {
			t.Errorf("%s: owner %d:%d %q:%q, mtime %v; want 0:0, no names, mtime %d", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime, commit)
		}
		if strings.HasSuffix(h.Name, "_test.go") || strings.Contains(h.Name, "/testdata/") {
			t.Errorf("the context carries a test file: %s", h.Name)
		}
		if h.Name == "Dockerfile" {
			b, _ := io.ReadAll(tr)
			orig, err := os.ReadFile(dockerfilePath(t))
			if err != nil || !bytes.Equal(b, orig) {
				t.Error("the context's Dockerfile is not deploy/docker/Dockerfile")
			}
		}
	}
	for _, want := range []string{"Dockerfile", "go.mod", "go.sum", "cmd/costwarden/main.go", "web/web.go"} {
		if !slices.Contains(names, want) {
			t.Errorf("the context lacks %s", want)
		}
	}
	var src []string
	for _, n := range names {
		if n != "Dockerfile" {
			src = append(src, n)
		}
	}
	if !slices.IsSorted(src) {
		t.Error("the context's entries are not in name order")
	}
}

// TestBinaryIsStaticAndStarts builds the binary from the image context (above),
// then: ldd calls it static and it has no ELF interpreter; `go version -m` shows the
// Dockerfile's flags and none of the chart-testing modules; `version` prints the
// stamped version; and `serve --demo` starts as uid/gid 65532 with no new
// privileges and no capabilities, on a read-only root file system with only its
// data directory and a scratch directory writable (tmpfs), and answers /healthz over
// TLS 1.2+ with the certificate it announced.
func TestBinaryIsStaticAndStarts(t *testing.T) {
	_, bin := builtFromContext(t)

	ldd, err := exec.LookPath("ldd")
	if err != nil {
		t.Fatal("ldd is missing: install Debian's libc-bin (scripts/ensure-tools.sh)")
	}
	out, _ := exec.Command(ldd, bin).CombinedOutput() // ldd exits 1 for static binaries
	if !strings.Contains(string(out), "not a dynamic executable") {
		t.Errorf("ldd %s:\n%s\nwant \"not a dynamic executable\"", bin, out)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has an ELF %v segment: it is not static", p.Type)
		}
	}
	ef.Close()

	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	// (-trimpath keeps -ldflags out of the build information; `version` shows them.)
	for _, want := range []string{"build\t-trimpath=true", "build\tCGO_ENABLED=0", "build\tGOOS=linux"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("go version -m lacks %q:\n%s", want, info)
		}
	}
	for _, test := range []string{"helm.sh/helm", "k8s.io/pod-security-admission", "github.com/moby/buildkit", "github.com/cert-manager/cert-manager"} {
		if strings.Contains(string(info), test) {
			t.Errorf("the product binary links %s, which only the tests need", test)
		}
	}

	out, err = exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "costwarden 1.2.3-imagetest (revision abc1234)" {
		t.Errorf("version: %q, %v", out, err)
	}

	serveReadOnly(t, bin)
}

// serveReadOnly runs `serve --demo` as the image runs it in Kubernetes: uid and gid
// 65532, no new privileges, an empty capability bounding set, a read-only root
// (and /tmp), and tmpfs only at the data directory and the scratch directory.
func serveReadOnly(t *testing.T, bin string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to make a mount namespace with a read-only root (the CI machine runs as root)")
	}
	for _, tool := range []string{"unshare", "setpriv", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: install Debian's util-linux and mount", tool)
		}
	}
	work := t.TempDir()
	// uid 65532 must be able to walk to its directories (t.TempDir makes them 0700).
	for _, d := range []string{work, filepath.Dir(work)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, scratch := filepath.Join(work, "data"), filepath.Join(work, "scratch")
	for _, d := range []string{data, scratch} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := `set -e
mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp
mount --bind "$BINDIR" "$BINDIR" && mount -o remount,bind,ro "$BINDIR"
mount -o remount,bind,ro /
mount -t tmpfs -o size=256m,uid=65532,gid=65532,mode=0700 tmpfs "$DATA"
mount -t tmpfs -o size=64m,uid=65532,gid=65532,mode=0700 tmpfs "$SCRATCH"
for p in /costwarden-probe /tmp/costwarden-probe "$BINDIR/costwarden-probe"; do
  if touch "$p" 2>/dev/null; then echo "$p is writable: the root is not read-only" >&2; exit 97; fi
done
export TMPDIR="$SCRATCH" HOME=/nonexistent
exec setpriv --reuid 65532 --regid 65532 --clear-groups --no-new-privs --bounding-set -all -- \
  "$BIN" serve --demo --demo-pods 20 --demo-days 1 --data-dir "$DATA" --listen 127.0.0.1:0 --internal-listen ""
`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "BIN=" + bin, "BINDIR=" + filepath.Dir(bin), "DATA=" + data, "SCRATCH=" + scratch}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var logs bytes.Buffer
	var mu sync.Mutex
	serving := make(chan [2]string, 1) // url, certificate fingerprint
	go func() {
		var url, fp string
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			mu.Lock()
			logs.Write(sc.Bytes())
			logs.WriteByte('\n')
			mu.Unlock()
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			if s, ok := rec["sha256"].(string); ok {
				fp = s
			}
			if rec["msg"] == "costwarden is serving" {
				url, _ = rec["url"].(string)
				serving <- [2]string{url, fp}
			}
		}
		done <- cmd.Wait()
	}()
	logText := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	var got [2]string
	select {
	case got = <-serving:
	case err := <-done:
		t.Fatalf("the server stopped before serving: %v\n%s", err, logText())
	case <-ctx.Done():
		t.Fatalf("the server did not start:\n%s", logText())
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the server did not stop cleanly on SIGTERM: %v\n%s", err, logText())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the server did not stop within 30 s of SIGTERM")
		}
	}
	defer stop()
	if got[1] == "" {
		t.Fatalf("the server announced no certificate fingerprint:\n%s", logText())
	}

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`(?m)^Uid:\s+65532\s+65532\s+65532\s+65532$`, `(?m)^Gid:\s+65532\s+65532\s+65532\s+65532$`,
		`(?m)^NoNewPrivs:\s+1$`, `(?m)^CapBnd:\s+0+$`, `(?m)^CapEff:\s+0+$`, `(?m)^Groups:\s*$`} {
		if !regexp.MustCompile(want).Match(status) {
			t.Errorf("the server process does not match %s:\n%s", want, status)
		}
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified below: pinned to the fingerprint the server logged
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != got[1] {
				return fmt.Errorf("certificate %x is not the announced %s", sum, got[1])
			}
			pool := x509.NewCertPool()
			pool.AddCert(cs.PeerCertificates[0])
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"})
			return err
		},
	}}}
	resp, err := client.Get(got[0] + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v\n%s", err, logText())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("GET /healthz: %d %q over %v", resp.StatusCode, body, resp.TLS)
	}
	// Plain HTTP gets Go's TLS-handshake refusal (400), never the page.
	if resp, err := http.Get(strings.Replace(got[0], "https://", "http://", 1) + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP /healthz: %d, want the TLS server's 400", resp.StatusCode)
		}
	}
}
