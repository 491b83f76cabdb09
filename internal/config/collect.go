package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// promMatcher is one PromQL label matcher: name, operator, double-quoted value.
var promMatcher = regexp.MustCompile(`^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*$`)

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// validateSources checks collect.prometheus.* and collect.kubernetes.*.
func (c *CollectConfig) validateSources(demo DemoConfig) Errors {
	var errs Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	p := c.Prometheus
	if p.URL != "" {
		u, err := url.Parse(p.URL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("collect.prometheus.url", "must be an http:// or https:// URL, got %q", p.URL)
		case u.User != nil:
			bad("collect.prometheus.url", "must not contain credentials; use basicAuthPasswordFile or bearerTokenFile")
		case u.RawQuery != "" || u.Fragment != "":
			bad("collect.prometheus.url", "must be the server's base URL, without query or fragment")
		}
		if p.ClusterName == "" || len(p.ClusterName) > 253 {
			bad("collect.prometheus.clusterName", "must be 1-253 characters when collect.prometheus.url is set (serve --cluster-name)")
		}
		if demo.Enabled && p.ClusterName == demo.ClusterName {
			bad("collect.prometheus.clusterName", "%q is also demo.clusterName; two sources cannot share a cluster name", p.ClusterName)
		}
		if p.CAFile != "" && u != nil && u.Scheme != "https" {
			bad("collect.prometheus.caFile", "is only used with an https URL")
		}
	} else if c.Kubernetes.Enabled {
		bad("collect.kubernetes.enabled", "the Kubernetes API source enriches the Prometheus source: set collect.prometheus.url too")
	}
	if p.ClusterLabel != "" && !labelName.MatchString(p.ClusterLabel) {
		bad("collect.prometheus.clusterLabel", "%q is not a Prometheus label name", p.ClusterLabel)
	}
	if p.ReplicaLabel != "" && !labelName.MatchString(p.ReplicaLabel) {
		bad("collect.prometheus.replicaLabel", "%q is not a Prometheus label name", p.ReplicaLabel)
	}
	for _, m := range p.Matchers {
		if !promMatcher.MatchString(m) {
			bad("collect.prometheus.matchers", "%q is not one label matcher such as env=\"prod\"", m)
		}
	}
	if (p.BasicAuthUsername == "") != (p.BasicAuthPasswordFile == "") {
		bad("collect.prometheus.basicAuthUsername", "basicAuthUsername and basicAuthPasswordFile must be set together")
	}
	if p.BearerTokenFile != "" && p.BasicAuthPasswordFile != "" {
		bad("collect.prometheus.bearerTokenFile", "use either bearerTokenFile or basic authentication, not both")
	}
	if p.Timeout < time.Second || p.Timeout > time.Hour {
		bad("collect.prometheus.timeout", "must lie between 1s and 1h, got %s", p.Timeout)
	}
	if p.Concurrency < 1 || p.Concurrency > 64 {
		bad("collect.prometheus.concurrency", "must lie between 1 and 64, got %d", p.Concurrency)
	}
	if p.MaxSamples < 1000 {
		bad("collect.prometheus.maxSamples", "must be at least 1000, got %d", p.MaxSamples)
	}
	if p.Backfill < 0 || p.Backfill > 400*24*time.Hour || p.Backfill%time.Hour != 0 {
		bad("collect.prometheus.backfill", "must be whole hours between 0 and 9600h, got %s", p.Backfill)
	}
	if c.Kubernetes.DeletedRetention < 0 {
		bad("collect.kubernetes.deletedRetention", "must not be negative")
	}
	return errs
}
