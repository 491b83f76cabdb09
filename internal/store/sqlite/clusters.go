package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/costwarden/costwarden/internal/store"
)

const clusterCols = "id, name_index, sealed, created_at"

func scanCluster(tenant string, sc rowScanner) (store.Cluster, error) {
	c := store.Cluster{Tenant: tenant}
	var created sql.NullInt64
	if err := sc.Scan(&c.ID, &c.NameIndex, &c.Sealed, &created); err != nil {
		return store.Cluster{}, err
	}
	c.CreatedAt = fromNanos(created)
	return c, nil
}

// EnsureCluster returns the cluster with c's (Tenant, NameIndex), inserting c when
// there is none. An existing ID with another name index is store.ErrConflict.
func (s *Store) EnsureCluster(ctx context.Context, c store.Cluster) (store.Cluster, error) {
	if c.Tenant == "" || c.ID == "" || len(c.NameIndex) == 0 {
		return store.Cluster{}, errors.New("store: ensuring cluster: tenant, id and name index are required")
	}
	c.CreatedAt = s.nowIfZero(c.CreatedAt)
	created, err := timeArg(c.CreatedAt)
	if err != nil {
		return store.Cluster{}, err
	}
	var out store.Cluster
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, "SELECT "+clusterCols+" FROM clusters WHERE tenant = ? AND name_index = ?", c.Tenant, c.NameIndex)
		existing, err := scanCluster(c.Tenant, row)
		if err == nil {
			out = existing
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return classify(err)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO clusters (tenant, "+clusterCols+") VALUES (?, ?, ?, ?, ?)",
			c.Tenant, c.ID, c.NameIndex, blobArg(c.Sealed), created)
		if err != nil {
			return conflictOr(err)
		}
		out = c
		out.CreatedAt = normTime(c.CreatedAt) // as a later read returns it
		out.Sealed = blobArg(c.Sealed)
		return nil
	})
	if err != nil {
		return store.Cluster{}, fmt.Errorf("store: ensuring cluster %q: %w", c.ID, err)
	}
	return out, nil
}

// ListClusters returns the tenant's clusters ordered by ID.
func (s *Store) ListClusters(ctx context.Context, tenant string) ([]store.Cluster, error) {
	scan := func(sc rowScanner) (store.Cluster, error) { return scanCluster(tenant, sc) }
	return queryAll(ctx, s.r, "listing clusters", scan, "SELECT "+clusterCols+" FROM clusters WHERE tenant = ? ORDER BY id", tenant)
}
