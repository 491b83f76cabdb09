package supplychain_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const root = "../.."

// tool returns the path of a go.mod tool, building it if needed.
func tool(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command("go", "tool", "-n", name)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go tool -n %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// run runs a command and returns its combined output and exit code.
func run(t *testing.T, dir string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out), 0
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// randomUpper returns n random characters of A-Z2-7.
func randomUpper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// entropy is the Shannon entropy of s in bits per character, as gitleaks
// computes it for a rule's entropy threshold.
func entropy(s string) float64 {
	counts := map[rune]float64{}
	for _, r := range s {
		counts[r]++
	}
	n, h := float64(len(s)), 0.0
	for _, c := range counts {
		h -= c / n * math.Log2(c/n)
	}
	return h
}

func TestVulncheckFailsOnPlantedVulnerability(t *testing.T) {
	if testing.Short() {
		t.Skip("runs govulncheck")
	}
	// The offline database, built as make vulndb builds it.
	out, code := run(t, root, "go", "mod", "download", "-json", "golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018")
	var mod struct{ Dir string }
	if code != 0 || json.Unmarshal([]byte(out), &mod) != nil || mod.Dir == "" {
		t.Fatalf("downloading golang.org/x/vulndb: %s", out)
	}
	db := filepath.Join(t.TempDir(), "vulndb")
	if out, code := run(t, root, "go", "run", "./internal/vulndb", "-src", filepath.Join(mod.Dir, "data", "osv"), "-out", db); code != 0 {
		t.Fatalf("building the database: %s", out)
	}
	// A module requiring golang.org/x/text v0.3.6 and calling language.Parse
	// (GO-2021-0113, fixed in v0.3.7).
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"go.mod":  "module example.com/planted\n\ngo 1.22\n\nrequire golang.org/x/text v0.3.6\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(language.Parse(\"en-US\")) }\n",
	})
	if out, code := run(t, dir, "go", "mod", "tidy"); code != 0 {
		t.Fatalf("go mod tidy: %s", out)
	}
	govulncheck := tool(t, "govulncheck")
	out, code = run(t, dir, govulncheck, "-db", "file://"+db, "./...")
	if code != 3 || !strings.Contains(out, "GO-2021-0113") {
		t.Errorf("govulncheck on the planted module: exit %d, want 3 naming GO-2021-0113:\n%s", code, out)
	}
	// The same module at the fixed version passes: the failure was the vulnerability.
	if out, code := run(t, dir, "go", "get", "golang.org/x/text@v0.3.7"); code != 0 {
		t.Fatalf("go get: %s", out)
	}
	if out, code := run(t, dir, govulncheck, "-db", "file://"+db, "./..."); code != 0 {
		t.Errorf("govulncheck after the fix: exit %d\n%s", code, out)
	}
}

func TestSecretScanFailsOnPlantedKey(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gitleaks")
	}
	script, err := filepath.Abs(filepath.Join(root, "scripts", "secretscan.sh"))
	if err != nil {
		t.Fatal(err)
	}
	env := "GITLEAKS=" + tool(t, "gitleaks")
	// Made at test time, so no key-shaped string is committed. gitleaks ignores
	// an AWS key id whose Shannon entropy is below 3 (about 1 draw in 7,000 has
	// that many repeated letters): draw again until it is clearly a key.
	key := "AKIA" + randomUpper(16)
	for entropy(key) < 3.5 {
		key = "AKIA" + randomUpper(16)
	}
	secret := randomUpper(20) + strings.ToLower(randomUpper(20))
	clean, planted := t.TempDir(), t.TempDir()
	writeFiles(t, clean, map[string]string{"README": "nothing to see\n"})
	writeFiles(t, planted, map[string]string{"deploy.env": "AWS_ACCESS_KEY_ID=" + key + "\nAWS_SECRET_ACCESS_KEY=" + secret + "\n"})
	bins := t.TempDir()
	cleanBin, plantedBin := filepath.Join(bins, "clean"), filepath.Join(bins, "planted")
	os.WriteFile(cleanBin, append([]byte("\x7fELF\x00\x01\x02"), bytes.Repeat([]byte("costwarden\x00"), 100)...), 0o700)
	os.WriteFile(plantedBin, []byte("\x7fELF\x00\x01\x02aws_access_key_id = "+key+"\x00\x00\xff"), 0o700)
	scan := func(tree, bin string) (string, int) {
		cmd := exec.Command(script, tree, bin)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := scan(clean, cleanBin); code != 0 {
		t.Fatalf("clean tree and binary: exit %d\n%s", code, out)
	}
	if out, code := scan(planted, cleanBin); code == 0 || !strings.Contains(out, "leaks found") {
		t.Errorf("a key planted in the tree passed: exit %d\n%s", code, out)
	}
	if out, code := scan(clean, plantedBin); code == 0 || !strings.Contains(out, "leaks found") {
		t.Errorf("a key planted in the binary passed: exit %d\n%s", code, out)
	}
	if out, _ := scan(planted, cleanBin); strings.Contains(out, key) {
		t.Error("the scan printed the key (it must redact)")
	}
}

func TestGosecFailsOnPlantedConstruct(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gosec")
	}
	exclusions, err := os.ReadFile(filepath.Join(root, ".ci", "gosec-exclusions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, l := range strings.Split(string(exclusions), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "G") {
			rules = append(rules, f[0])
		}
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"go.mod": "module example.com/planted\n\ngo 1.22\n",
		"main.go": `package main

import (
	"crypto/tls"
	"net/http"
)

func main() {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	_, _ = c.Get("https://example.com")
}
`,
	})
	gosec := tool(t, "gosec")
	out, code := run(t, dir, gosec, "-quiet", "-exclude="+strings.Join(rules, ","), "./...")
	if code == 0 || !strings.Contains(out, "G402") {
		t.Errorf("gosec on the planted construct: exit %d, want a G402 finding\n%s", code, out)
	}
	// Without the construct it passes: the failure was the planted line.
	writeFiles(t, dir, map[string]string{"main.go": "package main\n\nfunc main() {}\n"})
	if out, code := run(t, dir, gosec, "-quiet", "-exclude="+strings.Join(rules, ","), "./..."); code != 0 {
		t.Errorf("gosec on a clean module: exit %d\n%s", code, out)
	}
}
