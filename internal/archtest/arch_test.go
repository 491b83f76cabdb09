package archtest

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/costwarden/costwarden"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// deps lists every package pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath", pkg)
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var all []string
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct{ ImportPath string }
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		all = append(all, p.ImportPath)
	}
	return all
}

// TestPurePackagesDoNoIO: the engine and pricing can be reproduced from their inputs
// alone, so they may not reach the network, a database, a process or the store.
func TestPurePackagesDoNoIO(t *testing.T) {
	forbidden := []string{"net", "net/http", "database/sql", "os/exec", "k8s.io/client-go", module + "/internal/store", module + "/internal/seal", "modernc.org/sqlite", "github.com/jackc/pgx"}
	for _, pkg := range []string{"internal/allocation", "internal/pricing", "internal/cost", "internal/rbac", "internal/codec"} {
		for _, d := range deps(t, module+"/"+pkg) {
			for _, f := range forbidden {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s imports %s (directly or through a dependency); it must stay pure", pkg, d)
				}
			}
		}
	}
}

// TestStoreSeesNoPlaintext: the store backends may not import the seal (they only
// ever see sealed bytes) nor the engine's types.
func TestStoreSeesNoPlaintext(t *testing.T) {
	for _, pkg := range []string{"internal/store", "internal/store/sqlite"} {
		for _, d := range deps(t, module+"/"+pkg) {
			if d == module+"/internal/seal" || d == module+"/internal/cost" || d == module+"/internal/codec" {
				t.Errorf("%s imports %s; the store handles opaque sealed bytes only", pkg, d)
			}
		}
	}
}

// TestAppImportedOnlyByMain: the composition root is a leaf.
func TestAppImportedOnlyByMain(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		for _, imp := range p.Imports {
			if imp == module+"/internal/app" && p.ImportPath != module+"/cmd/costwarden" {
				t.Errorf("%s imports internal/app; only cmd/costwarden may", p.ImportPath)
			}
		}
	}
}

// TestEveryPackageHasADocComment, as Tailscale's pkgdoc test does.
func TestEveryPackageHasADocComment(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Doc", "./...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct{ ImportPath, Doc string }
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		checked++
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d packages", checked)
	}
}
