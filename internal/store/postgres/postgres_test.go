package postgres_test

import (
	"testing"

	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/postgres/pgtest"
	"github.com/costwarden/costwarden/internal/store/storetest"
)

// srv is the package's PostgreSQL server, started by TestMain.
var srv *pgtest.Server

func TestMain(m *testing.M) { pgtest.Run(m, &srv) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return srv.Open(t) })
}
