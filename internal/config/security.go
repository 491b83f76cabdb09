package config

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// AuditConfig configures the audit trail's copies outside the database and
// its signed checkpoints (issue 7).
type AuditConfig struct {
	File               string            `yaml:"file" doc:"Also append every audit record, as one JSON line, to this file (created 0600) for a log shipper. Empty: no file."`
	FileRequired       bool              `yaml:"fileRequired" doc:"Refuse state-changing requests when audit.file cannot be written (fail closed), as for the database."`
	Stdout             bool              `yaml:"stdout" doc:"Also write every audit record as one JSON line to standard output (logs go to standard error)."`
	Syslog             AuditSyslogConfig `yaml:"syslog"`
	CheckpointEvery    int               `yaml:"checkpointEvery" doc:"Sign a checkpoint of the hash chain after every this many records."`
	CheckpointInterval time.Duration     `yaml:"checkpointInterval" doc:"Sign a checkpoint at least this often while records are written (and at shutdown), so at most this much of the trail is not yet signed."`
}

// AuditSyslogConfig sends audit records to a syslog collector.
type AuditSyslogConfig struct {
	Address  string        `yaml:"address" doc:"host:port of a syslog collector receiving RFC 5424 messages over TCP (octet-counted). Empty: no syslog. Not allowed in air-gapped mode."`
	TLS      bool          `yaml:"tls" doc:"Use TLS (RFC 5425), verifying the collector's certificate against audit.syslog.caFile or the system roots."`
	CAFile   string        `yaml:"caFile" doc:"PEM bundle of the certificate authorities trusted for the collector."`
	Facility string        `yaml:"facility" doc:"Syslog facility name: authpriv, auth, local0 ... local7."`
	Required bool          `yaml:"required" doc:"Refuse state-changing requests while the collector cannot be reached (fail closed)."`
	Timeout  time.Duration `yaml:"timeout" doc:"Time allowed to connect and to write one record."`
}

// TelemetryConfig configures opt-in usage reporting. It is off until an
// administrator consents (PUT /api/v1/telemetry/consent); nothing here turns it on.
type TelemetryConfig struct {
	Endpoint string        `yaml:"endpoint" doc:"HTTPS URL reports are sent to once an administrator consents. Empty: telemetry cannot be enabled."`
	Interval time.Duration `yaml:"interval" doc:"Time between two reports while consent holds."`
}

// EgressConfig controls every outbound connection.
type EgressConfig struct {
	AirGapped bool     `yaml:"airGapped" doc:"Air-gapped mode: only the configured Prometheus, Kubernetes API, database, KMS and OIDC issuer may be reached; telemetry and syslog cannot be enabled, and the bundled price catalog is used."`
	Allow     []string `yaml:"allow" doc:"Extra host:port destinations outbound connections may reach (e.g. an OIDC provider's token endpoint on another host). Every other destination not named by the configuration is refused."`
}

// SyslogFacilities maps facility names to codes.
var SyslogFacilities = map[string]int{"auth": 4, "authpriv": 10, "local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23}

func (c *Config) validateSecurity(bad func(key, format string, args ...any)) {
	for _, l := range []struct {
		key  string
		list []string
	}{{"server.allowCIDRs", c.Server.AllowCIDRs}, {"server.internalAllowCIDRs", c.Server.InternalAllowCIDRs}} {
		for _, s := range l.list {
			if _, err := netip.ParsePrefix(strings.TrimSpace(s)); err != nil {
				bad(l.key, "%q is not a CIDR network such as 10.0.0.0/8 or 2001:db8::/32", s)
			}
		}
	}
	if c.Audit.CheckpointEvery < 1 || c.Audit.CheckpointEvery > 100000 {
		bad("audit.checkpointEvery", "must lie between 1 and 100000, got %d", c.Audit.CheckpointEvery)
	}
	if c.Audit.CheckpointInterval < time.Second {
		bad("audit.checkpointInterval", "must be at least 1s, got %s", c.Audit.CheckpointInterval)
	}
	s := c.Audit.Syslog
	if s.Address != "" {
		if _, _, err := net.SplitHostPort(s.Address); err != nil {
			bad("audit.syslog.address", "must be host:port, got %q", s.Address)
		}
		if c.Egress.AirGapped {
			bad("audit.syslog.address", "syslog is not reachable in air-gapped mode (egress.airGapped); use audit.file and ship the file")
		}
	}
	if _, ok := SyslogFacilities[s.Facility]; !ok {
		bad("audit.syslog.facility", "unknown facility %q (authpriv, auth, local0 ... local7)", s.Facility)
	}
	if s.Timeout <= 0 {
		bad("audit.syslog.timeout", "must be positive")
	}
	if e := c.Telemetry.Endpoint; e != "" {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
			bad("telemetry.endpoint", "must be an https URL, got %q", e)
		}
	}
	if c.Telemetry.Interval < time.Minute {
		bad("telemetry.interval", "must be at least 1m, got %s", c.Telemetry.Interval)
	}
	for _, a := range c.Egress.Allow {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("egress.allow", "%q is not host:port", a)
		}
	}
}
