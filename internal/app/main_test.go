package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/config"
)

// helperEnv, when set in the environment, makes the test binary run costwarden
// itself (app.Serve) instead of the tests, so a test can SIGKILL a real process.
const helperEnv = "COSTWARDEN_TEST_SERVE_PROCESS"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(serveProcess())
	}
	os.Exit(m.Run())
}

// serveProcess runs the server configured by COSTWARDEN_* variables, with the clock
// fixed at COSTWARDEN_TEST_NOW (RFC 3339), logging JSON to stderr.
func serveProcess() int {
	now, err := time.Parse(time.RFC3339, os.Getenv("COSTWARDEN_TEST_NOW"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "COSTWARDEN_TEST_NOW:", err)
		return 2
	}
	var environ []string
	for _, kv := range os.Environ() {
		if len(kv) > len("COSTWARDEN_TEST") && kv[:len("COSTWARDEN_TEST")] == "COSTWARDEN_TEST" {
			continue
		}
		environ = append(environ, kv)
	}
	cfg, err := config.Load(config.Sources{Environ: environ})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	e := app.Env{Now: func() time.Time { return now }, Stdout: os.Stdout, Stderr: os.Stderr,
		Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})), Build: app.Build{Version: "test"}}
	if err := app.Serve(ctx, cfg, e); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
