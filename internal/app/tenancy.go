package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/store"
)

// openDataFor opens the data directory for an administration command acting
// on env's tenant. In hosted mode the tenant must be named (--tenant) and
// registered (costwarden tenant add); otherwise it must be the default one.
func openDataFor(ctx context.Context, cfg config.Config, env Env) (*data, error) {
	tenant := env.Tenant
	if !cfg.Hosted.Enabled {
		if tenant != "" && tenant != DefaultTenant {
			return nil, fmt.Errorf("--tenant %s: tenants other than %q exist only in hosted mode (hosted.enabled)", tenant, DefaultTenant)
		}
		tenant = DefaultTenant
	} else if tenant == "" {
		return nil, errors.New("hosted mode: name the tenant with --tenant ID (costwarden tenant list shows them)")
	}
	d, err := openData(ctx, cfg, env.Now)
	if err != nil {
		return nil, err
	}
	if cfg.Hosted.Enabled {
		if _, err := d.store.GetTenant(ctx, tenant); err != nil {
			d.Close(ctx)
			if errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("--tenant %s: no such tenant (costwarden tenant add %s --host NAME registers it)", tenant, tenant)
			}
			return nil, err
		}
	}
	d.tenant = tenant
	return d, nil
}

// tenantData is the store as d's tenant's services see it: bound to that tenant
// in hosted mode, so no code path of one tenant reaches another's rows.
func (d *data) tenantData() store.TenantData {
	if d.hosted {
		return store.ForTenant(d.store, d.tenant)
	}
	return d.store
}
