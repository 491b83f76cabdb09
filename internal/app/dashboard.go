package app

import (
	"context"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/rekey"
)

// settingsView is the effective configuration the settings page shows: what
// an administrator needs to know, never a secret or a secret's path contents.
func settingsView(cfg config.Config) *httpapi.SettingsView {
	dur := func(d time.Duration) string {
		if d == 0 {
			return "off"
		}
		return d.String()
	}
	tlsMode := "self-signed (generated)"
	if cfg.Server.TLS.CertFile != "" {
		tlsMode = "certificate files (reloaded on change)"
	}
	return &httpapi.SettingsView{
		TimeZone: cfg.TimeZone, Currency: cfg.Pricing.Currency, BusinessLabels: cfg.Allocation.BusinessLabels,
		Recommendations: map[string]any{"cpuPercentile": cfg.Recommendations.CPUPercentile, "cpuHeadroomPercent": cfg.Recommendations.CPUHeadroom,
			"ramHeadroomPercent": cfg.Recommendations.RAMHeadroom, "minContainerHours": cfg.Recommendations.MinHours},
		Auth: map[string]any{"passwordLogin": cfg.Auth.PasswordLogin, "sso": cfg.Auth.OIDC.Issuer != "", "ssoIssuer": cfg.Auth.OIDC.Issuer,
			"passkeys": cfg.Auth.WebAuthn.RPID != "", "sessionIdleTimeout": dur(cfg.Auth.SessionIdle), "sessionLifetime": dur(cfg.Auth.SessionLifetime),
			"tokenTTL": dur(cfg.Auth.TokenTTL), "maxTokenTTL": dur(cfg.Auth.MaxTokenTTL), "inactivityDisable": dur(cfg.Auth.InactivityDisable),
			"lockoutAccountFailures": cfg.Auth.Lockout.AccountFailures, "lockoutAddressFailures": cfg.Auth.Lockout.AddressFailures},
		Server: map[string]any{"listen": cfg.Server.Listen, "internalListen": cfg.Server.InternalListen, "tls": tlsMode,
			"costMetrics": cfg.Server.MetricsTokenFile != ""},
		Storage:   map[string]any{"driver": cfg.Storage.Driver},
		Keys:      map[string]any{"provider": cfg.Keys.Provider, "rotateEvery": dur(cfg.Keys.RotateEvery)},
		Retention: map[string]any{"hourlyDays": cfg.Retention.HourlyDays, "dailyMonths": cfg.Retention.DailyMonths},
		Demo:      cfg.Demo.Enabled,
	}
}

// keysStatus reports the key status for /api/v1/keys, as `keys status` prints it.
func keysStatus(d *data, cfg config.Config) httpapi.KeysFunc { return keysStatusOf(d, cfg, "") }

// keysStatusOf reports one tenant's keys ("": every tenant's).
func keysStatusOf(d *data, cfg config.Config, tenant string) httpapi.KeysFunc {
	return func(ctx context.Context) (httpapi.KeysStatus, error) {
		out := httpapi.KeysStatus{KEK: d.kek.ID(), Provider: cfg.Keys.Provider, RotateEvery: "off"}
		if cfg.Keys.RotateEvery > 0 {
			out.RotateEvery = cfg.Keys.RotateEvery.String()
		}
		tenants, err := d.tenantsOf(ctx, tenant)
		if err != nil {
			return out, err
		}
		for _, t := range tenants {
			infos, err := d.keyring.Status(ctx, t)
			if err != nil {
				return out, err
			}
			tk := httpapi.TenantKeys{Tenant: t, Versions: []httpapi.KeyVersion{}}
			for _, k := range infos {
				tk.Versions = append(tk.Versions, httpapi.KeyVersion{Version: k.Version, State: k.State, KEK: k.KEKID, Created: k.Created.UTC(), Uses: k.Uses})
			}
			st, err := rekey.LoadState(ctx, d.store, t)
			if err != nil {
				return out, err
			}
			switch {
			case st.Target == 0:
				tk.Reencryption = "never run"
			case st.Done:
				tk.Reencryption = fmt.Sprintf("every blob at version >= %d (finished %s)", st.Target, st.Updated.UTC().Format(time.RFC3339))
			default:
				tk.Reencryption = fmt.Sprintf("in progress to version %d (%d scanned, %d re-encrypted)", st.Target, st.Scanned, st.Resealed)
			}
			out.Tenants = append(out.Tenants, tk)
		}
		return out, nil
	}
}
