package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/config"
)

func TestCollectSourceErrorsNameTheKey(t *testing.T) {
	file := writeFile(t, `
collect:
  prometheus:
    url: "ftp://user:pw@prom:9090"
    clusterLabel: "bad label"
    matchers: ["env=prod", 'team=~"a|b"']
    basicAuthUsername: ops
    timeout: 0s
    concurrency: 0
    maxSamples: 10
    backfill: 90m
    password: hunter2
  kubernetes:
    deletedRetention: -1h
`)
	_, err := config.Load(config.Sources{File: file})
	errs := fieldErrors(t, err)
	for _, c := range []struct{ key, msg string }{
		{"collect.prometheus.url", "http:// or https://"},
		{"collect.prometheus.clusterName", "1-253"},
		{"collect.prometheus.clusterLabel", "label name"},
		{"collect.prometheus.matchers", `"env=prod" is not one label matcher`},
		{"collect.prometheus.basicAuthUsername", "together"},
		{"collect.prometheus.timeout", "between 1s and 1h"},
		{"collect.prometheus.concurrency", "between 1 and 64"},
		{"collect.prometheus.maxSamples", "at least 1000"},
		{"collect.prometheus.backfill", "whole hours"},
		{"collect.prometheus.password", "inline secrets are not accepted"},
		{"collect.kubernetes.deletedRetention", "negative"},
	} {
		if !hasKey(errs, c.key, c.msg) {
			t.Errorf("no error for %s containing %q; got:\n%v", c.key, c.msg, errs)
		}
	}
	if hasKey(errs, "collect.prometheus.matchers", `team=~`) {
		t.Errorf("a valid matcher was refused: %v", errs)
	}
}

func TestCollectSourceFlagsAndDefaults(t *testing.T) {
	cfg, err := config.Load(config.Sources{
		Environ: []string{"COSTWARDEN_COLLECT_PROMETHEUS_MATCHERS=env=\"prod\", region=~\"eu-.*\""},
		Flags:   map[string]string{"collect.prometheus.url": "https://prom.example:9090", "collect.prometheus.clusterName": "prod-eu1", "collect.kubernetes.enabled": "true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Collect.Prometheus
	if p.URL != "https://prom.example:9090" || p.ClusterName != "prod-eu1" || !cfg.Collect.Kubernetes.Enabled {
		t.Errorf("flags not applied: %+v", p)
	}
	if len(p.Matchers) != 2 || p.Matchers[1] != `region=~"eu-.*"` {
		t.Errorf("matchers from the environment: %q", p.Matchers)
	}
	if p.Backfill != 90*24*time.Hour || p.Timeout != 2*time.Minute || p.Concurrency != 4 || p.MaxSamples != 5_000_000 {
		t.Errorf("defaults: %+v", p)
	}
	if _, err := config.Load(config.Sources{Flags: map[string]string{"collect.kubernetes.enabled": "true"}}); !hasKey(fieldErrors(t, err), "collect.kubernetes.enabled", "collect.prometheus.url") {
		t.Errorf("the Kubernetes source without Prometheus was accepted: %v", err)
	}
}

func TestPrometheusURLWithCredentialsIsRefused(t *testing.T) {
	_, err := config.Load(config.Sources{Flags: map[string]string{
		"collect.prometheus.url": "https://ops:s3cr3t-pass@prom.example:9090", "collect.prometheus.clusterName": "c",
	}})
	errs := fieldErrors(t, err)
	if !hasKey(errs, "collect.prometheus.url", "must not contain credentials") {
		t.Errorf("credentials in the URL accepted: %v", errs)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("the error repeats the password: %v", err)
	}
}
