package auth_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/auth"
)

// TestQRCodeDecodes reads the enrolment QR code back with zbarimg (Debian
// package zbar-tools), an independent decoder: it must hold exactly the
// otpauth:// URI an authenticator app needs.
func TestQRCodeDecodes(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatal("zbarimg is not installed: apt-get install zbar-tools (scripts/ensure-tools.sh installs it)")
	}
	secret, err := auth.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	uri := auth.TOTPURI("costwarden", "alice@example.com", secret)
	png, err := auth.QRCodePNG(uri)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--quiet", "--raw", path).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != uri {
		t.Errorf("QR code holds %q, want %q", got, uri)
	}
}
