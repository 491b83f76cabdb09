package prom_test

import (
	"os"
	"sync"
	"testing"
)

var (
	cleanupMu sync.Mutex
	cleanups  []func()
	tmpRoot   string
)

func registerCleanup(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func tempDir(t *testing.T) string {
	d, err := os.MkdirTemp(tmpRoot, "shared-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestMain stops the shared Prometheus and removes its files after every test.
func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "costwarden-prom-test-")
	if err != nil {
		panic(err)
	}
	tmpRoot = d
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.RemoveAll(d)
	os.Exit(code)
}
