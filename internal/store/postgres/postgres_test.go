package postgres_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/postgres/pgtest"
	"github.com/costwarden/costwarden/internal/store/storetest"
)

// srv is the package's PostgreSQL server, started by TestMain.
var srv *pgtest.Server

func TestMain(m *testing.M) {
	s, err := pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return srv.Open(t) })
}
