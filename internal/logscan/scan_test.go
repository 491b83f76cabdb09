package logscan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/logscan"
)

// TestScanFindsAPlantedSecret: the scan is not blind: a secret or a
// credential-shaped string planted in a log is reported, a clean log is not.
func TestScanFindsAPlantedSecret(t *testing.T) {
	dir := t.TempDir()
	secret := "granite-" + strings.Repeat("x9", 8)
	cred := "cwt_" + strings.Repeat("A1b", 14) + "Z"
	os.WriteFile(filepath.Join(dir, logscan.SecretsPrefix+"T.txt"), []byte(secret+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "clean.log"), []byte(`{"msg":"request","status":200}`+"\n"), 0o600)
	r, err := logscan.Scan(dir)
	if err != nil || len(r.Leaks) != 0 || r.Logs != 1 || r.Secrets != 1 {
		t.Fatalf("clean: %+v %v", r, err)
	}
	os.WriteFile(filepath.Join(dir, "a.log"), []byte(`{"msg":"login","password":"`+secret+`"}`+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "b.jsonl"), []byte(`{"token":"`+cred+`"}`+"\n"), 0o600)
	r, err = logscan.Scan(dir)
	if err != nil || len(r.Leaks) != 2 {
		t.Fatalf("planted: %+v %v", r, err)
	}
	for _, l := range r.Leaks {
		if strings.Contains(l, secret) || strings.Contains(l, cred) {
			t.Errorf("the report repeats the secret: %s", l)
		}
	}
}
