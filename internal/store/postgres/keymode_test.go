package postgres

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPrivateKeyMode: the client key may be readable by its owner only, or be a
// root-owned, group-readable Kubernetes Secret mount (fsGroup, 0440); never by others.
func TestPrivateKeyMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tls.key")
	if err := os.WriteFile(path, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	for _, c := range []struct {
		mode os.FileMode
		uid  int
		ok   bool
	}{{0o600, -1, true}, {0o400, -1, true}, {0o644, -1, false}, {0o604, -1, false}, {0o440, 0, true}, {0o444, 0, false}, {0o440, 65532, false}} {
		if c.uid == 0 && !root {
			continue // a non-root process cannot make a root-owned file; the other cases still run
		}
		if c.uid >= 0 && root {
			if err := os.Chown(path, c.uid, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := privateKeyMode(fi); got != c.ok {
			t.Errorf("mode %04o uid %d: private = %v, want %v", c.mode, c.uid, got, c.ok)
		}
	}
}
