package config

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// validateStorageAndKeys checks storage.*, keys.* and retention.*.
func (c *Config) validateStorageAndKeys(bad func(key, format string, args ...any)) {
	switch c.Storage.Driver {
	case "sqlite":
	case "postgres":
		p := c.Storage.Postgres
		if p.Host == "" {
			bad("storage.postgres.host", "must be set for driver postgres")
		}
		if p.Port < 1 || p.Port > 65535 {
			bad("storage.postgres.port", "must be 1-65535, got %d", p.Port)
		}
		if p.Database == "" {
			bad("storage.postgres.database", "must be set")
		}
		if p.User == "" {
			bad("storage.postgres.user", "must be set")
		}
		switch p.SSLMode {
		case "verify-full", "verify-ca":
		case "disable":
			if !isLoopbackHost(p.Host) {
				bad("storage.postgres.sslMode", "disable is refused for %q: only a loopback database may be reached without TLS", p.Host)
			}
		default:
			bad("storage.postgres.sslMode", "must be verify-full, verify-ca or disable, got %q", p.SSLMode)
		}
		if (p.CertFile == "") != (p.KeyFile == "") {
			bad("storage.postgres.certFile", "certFile and keyFile must be set together")
		}
		if p.MaxConns < 2 || p.MaxConns > 1000 {
			bad("storage.postgres.maxConns", "must lie between 2 and 1000, got %d", p.MaxConns)
		}
		if p.ConnectTimeout <= 0 {
			bad("storage.postgres.connectTimeout", "must be positive")
		}
	default:
		bad("storage.driver", "unknown driver %q (supported: sqlite, postgres)", c.Storage.Driver)
	}
	switch c.Keys.Provider {
	case "file":
	case "secret":
		if c.Keys.Secret.File == "" {
			bad("keys.secret.file", "must be set for provider secret (the path where the Secret is mounted)")
		}
	case "awskms":
		k := c.Keys.AWSKMS
		if k.KeyID == "" {
			bad("keys.awskms.keyID", "must be set for provider awskms")
		}
		if k.Endpoint != "" {
			u, err := url.Parse(k.Endpoint)
			switch {
			case err != nil || u.Host == "":
				bad("keys.awskms.endpoint", "not a URL: %q", k.Endpoint)
			case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
				bad("keys.awskms.endpoint", "plain http is allowed only on loopback; use https")
			case u.Scheme != "http" && u.Scheme != "https":
				bad("keys.awskms.endpoint", "scheme must be https")
			}
		}
		if k.Timeout <= 0 || k.Timeout > time.Minute {
			bad("keys.awskms.timeout", "must lie between 0 and 1m, got %s", k.Timeout)
		}
	default:
		bad("keys.provider", "unknown provider %q (supported: file, secret, awskms)", c.Keys.Provider)
	}
	if c.Keys.RotateEvery < 0 || (c.Keys.RotateEvery > 0 && c.Keys.RotateEvery < time.Hour) {
		bad("keys.rotateEvery", "must be 0 (off) or at least 1h, got %s", c.Keys.RotateEvery)
	}
	if c.Retention.HourlyDays < 0 || c.Retention.HourlyDays > 3650 {
		bad("retention.hourlyDays", "must lie between 0 and 3650, got %d", c.Retention.HourlyDays)
	}
	if c.Retention.DailyMonths < 0 || c.Retention.DailyMonths > 1200 {
		bad("retention.dailyMonths", "must lie between 0 and 1200, got %d", c.Retention.DailyMonths)
	}
	if c.Retention.Interval < time.Minute || c.Retention.Interval > 7*24*time.Hour {
		bad("retention.interval", "must lie between 1m and 168h, got %s", c.Retention.Interval)
	}
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}
