package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/config"
)

func TestStorageKeysRetentionDefaults(t *testing.T) {
	cfg, err := config.Load(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Keys.RotateEvery != 90*24*time.Hour || cfg.Retention.HourlyDays != 15 || cfg.Retention.DailyMonths != 24 {
		t.Errorf("defaults: rotateEvery %s, hourlyDays %d, dailyMonths %d", cfg.Keys.RotateEvery, cfg.Retention.HourlyDays, cfg.Retention.DailyMonths)
	}
	if cfg.Storage.Postgres.SSLMode != "verify-full" {
		t.Errorf("postgres sslMode default = %q, want verify-full", cfg.Storage.Postgres.SSLMode)
	}
}

func TestStorageKeysValidation(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     []string
		wantKey string
	}{
		{"postgres without host", []string{"COSTWARDEN_STORAGE_DRIVER=postgres"}, "storage.postgres.host"},
		{"postgres without TLS off loopback", []string{"COSTWARDEN_STORAGE_DRIVER=postgres", "COSTWARDEN_STORAGE_POSTGRES_HOST=db.internal", "COSTWARDEN_STORAGE_POSTGRES_SSL_MODE=disable"}, "storage.postgres.sslMode"},
		{"postgres bad ssl mode", []string{"COSTWARDEN_STORAGE_DRIVER=postgres", "COSTWARDEN_STORAGE_POSTGRES_HOST=db", "COSTWARDEN_STORAGE_POSTGRES_SSL_MODE=prefer"}, "storage.postgres.sslMode"},
		{"unknown driver", []string{"COSTWARDEN_STORAGE_DRIVER=mysql"}, "storage.driver"},
		{"unknown provider", []string{"COSTWARDEN_KEYS_PROVIDER=vault"}, "keys.provider"},
		{"secret without file", []string{"COSTWARDEN_KEYS_PROVIDER=secret"}, "keys.secret.file"},
		{"awskms without key", []string{"COSTWARDEN_KEYS_PROVIDER=awskms"}, "keys.awskms.keyID"},
		{"awskms plain http", []string{"COSTWARDEN_KEYS_PROVIDER=awskms", "COSTWARDEN_KEYS_AWSKMS_KEY_ID=alias/x", "COSTWARDEN_KEYS_AWSKMS_ENDPOINT=http://kms.example.com"}, "keys.awskms.endpoint"},
		{"rotation too often", []string{"COSTWARDEN_KEYS_ROTATE_EVERY=5m"}, "keys.rotateEvery"},
		{"negative retention", []string{"COSTWARDEN_RETENTION_HOURLY_DAYS=-1"}, "retention.hourlyDays"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Load(config.Sources{Environ: c.env})
			if err == nil || !strings.Contains(err.Error(), c.wantKey) {
				t.Errorf("err = %v, want one naming %s", err, c.wantKey)
			}
		})
	}
	// Inline secrets are refused: there is no password key, only passwordFile.
	_, err := config.Load(config.Sources{Environ: []string{"COSTWARDEN_STORAGE_POSTGRES_PASSWORD=hunter2"}})
	if err == nil || !strings.Contains(err.Error(), "inline secrets") {
		t.Errorf("inline postgres password: %v", err)
	}
	good := []string{"COSTWARDEN_STORAGE_DRIVER=postgres", "COSTWARDEN_STORAGE_POSTGRES_HOST=127.0.0.1", "COSTWARDEN_STORAGE_POSTGRES_SSL_MODE=disable",
		"COSTWARDEN_KEYS_PROVIDER=awskms", "COSTWARDEN_KEYS_AWSKMS_KEY_ID=alias/costwarden", "COSTWARDEN_KEYS_AWSKMS_ENDPOINT=http://127.0.0.1:4599"}
	if _, err := config.Load(config.Sources{Environ: good}); err != nil {
		t.Errorf("valid postgres + awskms config refused: %v", err)
	}
}
