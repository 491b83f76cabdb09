//go:build logscan

package logscan_test

import (
	"testing"

	"github.com/costwarden/costwarden/internal/logscan"
	"github.com/costwarden/costwarden/internal/testlog"
)

func TestSuiteLogsHoldNoSecrets(t *testing.T) {
	dir := testlog.Dir()
	if dir == "" {
		t.Fatalf("%s is not set: run this after the suite, as make test does", testlog.Env)
	}
	r, err := logscan.Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range r.Leaks {
		t.Error(l)
	}
	t.Logf("scanned %d log files (%d bytes) for %d secrets", r.Logs, r.Bytes, r.Secrets)
	if r.Logs < 10 || r.Bytes < 100000 || r.Secrets < 20 {
		t.Fatalf("too little to scan: %d log files, %d bytes, %d secrets; the harnesses did not keep their logs", r.Logs, r.Bytes, r.Secrets)
	}
}
