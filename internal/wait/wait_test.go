package wait_test

import (
	"context"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/wait"
)

func TestSleep(t *testing.T) {
	if !wait.Sleep(t.Context(), 0) || !wait.Sleep(t.Context(), time.Millisecond) {
		t.Error("a short sleep did not complete")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	if wait.Sleep(ctx, time.Hour) || time.Since(start) > time.Minute {
		t.Error("a sleep outlived its context")
	}
}
