package config

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Validate checks every key and returns all problems.
func (c *Config) Validate() Errors {
	var errs Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	if c.DataDir == "" {
		bad("dataDir", "must be set")
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		bad("timeZone", "unknown time zone %q (use an IANA name such as Europe/Berlin, or UTC)", c.TimeZone)
	}
	if err := checkAddr(c.Server.Listen); err != nil {
		bad("server.listen", "%v", err)
	}
	if c.Server.InternalListen != "" {
		if err := checkAddr(c.Server.InternalListen); err != nil {
			bad("server.internalListen", "%v", err)
		}
	}
	if (c.Server.TLS.CertFile == "") != (c.Server.TLS.KeyFile == "") {
		bad("server.tls", "certFile and keyFile must be set together")
	}
	if c.Server.MetricsTokenFile != "" && c.Server.InternalListen == "" {
		bad("server.metricsTokenFile", "needs server.internalListen (the metrics are served there)")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"server.readHeaderTimeout", c.Server.ReadHeaderTimeout}, {"server.readTimeout", c.Server.ReadTimeout},
		{"server.writeTimeout", c.Server.WriteTimeout}, {"server.idleTimeout", c.Server.IdleTimeout},
		{"server.shutdownTimeout", c.Server.ShutdownTimeout},
	} {
		if d.v <= 0 {
			bad(d.key, "must be a positive duration (a listener without timeouts can be held open forever)")
		}
	}
	if c.Server.MaxHeaderBytes < 1024 || c.Server.MaxHeaderBytes > 1<<20 {
		bad("server.maxHeaderBytes", "must be between 1024 and 1048576, got %d", c.Server.MaxHeaderBytes)
	}
	if c.Server.MaxBodyBytes < 1024 || c.Server.MaxBodyBytes > 64<<20 {
		bad("server.maxBodyBytes", "must be between 1024 and 67108864, got %d", c.Server.MaxBodyBytes)
	}
	c.validateStorageAndKeys(bad)
	c.validateMulticluster(bad)
	if c.Auth.TokenTTL <= 0 {
		bad("auth.tokenTTL", "must be positive")
	}
	if c.Auth.MaxTokenTTL < c.Auth.TokenTTL {
		bad("auth.maxTokenTTL", "must be at least auth.tokenTTL (%s)", c.Auth.TokenTTL)
	}
	c.validateAuth(bad)
	c.validateSecurity(bad)
	if len(c.Pricing.Currency) != 3 || strings.ToUpper(c.Pricing.Currency) != c.Pricing.Currency {
		bad("pricing.currency", "must be a three-letter ISO 4217 code such as USD, got %q", c.Pricing.Currency)
	}
	p := c.Pricing.Custom
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"cpu", p.CPU}, {"ram", p.RAM}, {"gpu", p.GPU}, {"storage", p.Storage}, {"loadBalancer", p.LoadBalancer},
		{"spotCPU", p.SpotCPU}, {"spotRAM", p.SpotRAM},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			bad("pricing.custom."+f.key, "must be a finite, non-negative price, got %v", f.v)
		}
	}
	if p.CPU == 0 && p.RAM == 0 && p.GPU == 0 {
		bad("pricing.custom", "cpu, ram and gpu are all 0: every node would cost nothing")
	}
	for _, d := range []struct {
		key string
		v   float64
	}{
		{"aws", c.Pricing.Discounts.AWS}, {"gcp", c.Pricing.Discounts.GCP}, {"azure", c.Pricing.Discounts.Azure}, {"negotiated", c.Pricing.Discounts.Negotiated},
	} {
		if math.IsNaN(d.v) || d.v < 0 || d.v >= 100 {
			bad("pricing.discounts."+d.key, "must be a percentage in [0, 100), got %v", d.v)
		}
	}
	for class, v := range c.Pricing.StorageClasses {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			bad("pricing.storageClasses."+class, "must be a non-negative price per GiB-month, got %q", v)
		}
	}
	if m := c.Runtime.MemoryLimitBytes; m != 0 && (m < 64<<20 || m > 1<<40) {
		bad("runtime.memoryLimitBytes", "must be 0 (off) or between 67108864 and 1099511627776, got %d", m)
	}
	if c.Query.CacheBytes < 0 || c.Query.CacheBytes > 64<<30 {
		bad("query.cacheBytes", "must lie between 0 and 68719476736, got %d", c.Query.CacheBytes)
	}
	if r := c.Recommendations; math.IsNaN(r.CPUPercentile) || r.CPUPercentile <= 0 || r.CPUPercentile > 100 {
		bad("recommendations.cpuPercentile", "must lie in (0, 100], got %v", r.CPUPercentile)
	}
	for _, h := range []struct {
		key string
		v   float64
	}{{"cpuHeadroom", c.Recommendations.CPUHeadroom}, {"ramHeadroom", c.Recommendations.RAMHeadroom}} {
		if math.IsNaN(h.v) || h.v < 0 || h.v > 1000 {
			bad("recommendations."+h.key, "must be a percentage between 0 and 1000, got %v", h.v)
		}
	}
	if m := c.Recommendations.MinHours; math.IsNaN(m) || m < 1 || m > 24*400 {
		bad("recommendations.minHours", "must lie between 1 and 9600, got %v", m)
	}
	for k, label := range c.Allocation.BusinessLabels {
		switch k {
		case "team", "department", "product", "environment", "owner":
		default:
			bad("allocation.businessLabels."+k, "unknown business key (team, department, product, environment, owner)")
		}
		if label == "" {
			bad("allocation.businessLabels."+k, "label name must not be empty")
		}
	}
	if c.Collect.Resolution < time.Second || c.Collect.Resolution > 10*time.Minute || time.Hour%c.Collect.Resolution != 0 {
		bad("collect.resolution", "must divide an hour and lie between 1s and 10m, got %s", c.Collect.Resolution)
	}
	if c.Collect.CloseDelay < 0 || c.Collect.CloseDelay > time.Hour {
		bad("collect.closeDelay", "must lie between 0 and 1h, got %s", c.Collect.CloseDelay)
	}
	errs = append(errs, c.Collect.validateSources(c.Demo)...)
	if c.Demo.Pods < 20 || c.Demo.Pods > 50000 {
		bad("demo.pods", "must lie between 20 and 50000, got %d", c.Demo.Pods)
	}
	if c.Demo.Days < 0 || c.Demo.Days > 400 {
		bad("demo.days", "must lie between 0 and 400, got %d", c.Demo.Days)
	}
	if c.Demo.ClusterName == "" || len(c.Demo.ClusterName) > 253 {
		bad("demo.clusterName", "must be 1-253 characters")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("log.format", "must be json or text, got %q", c.Log.Format)
	}
	return errs
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not a host:port address: %q", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be 0-65535 in %q", addr)
	}
	if host != "" && net.ParseIP(strings.Trim(host, "[]")) == nil && strings.ContainsAny(host, " /") {
		return fmt.Errorf("bad host in %q", addr)
	}
	return nil
}
