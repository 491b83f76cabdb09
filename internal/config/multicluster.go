package config

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// AgentsConfig configures the server side of agents (issue 9): the internal
// CA's certificates and the join tokens (docs/multi-cluster.md).
type AgentsConfig struct {
	CertTTL        time.Duration `yaml:"certTTL" doc:"Lifetime of an agent's client certificate; agents renew at half of it, with a new key pair. An agent that cannot reach the server for longer needs a new join token."`
	JoinTokenTTL   time.Duration `yaml:"joinTokenTTL" doc:"Lifetime of a join token printed by cluster add / cluster token (it works once)."`
	MaxClockSkew   time.Duration `yaml:"maxClockSkew" doc:"An agent's clock may differ from the server's by this much before it is reported as a warning; a pushed window ending further than this in the server's future is refused until the server's clock reaches it (nothing is lost)."`
	MaxWindowBytes int64         `yaml:"maxWindowBytes" doc:"Largest accepted pushed window, in bytes."`
	ServerNames    []string      `yaml:"serverNames" doc:"Host names and addresses put in the agents listener's certificate besides the machine's host name, localhost and the listen address (agents verify the CA they pinned, not the name)."`
}

// AgentConfig configures costwarden agent: the agent mode that collects in a
// cluster and pushes to a central server.
type AgentConfig struct {
	Servers       []string      `yaml:"servers" doc:"URLs of the central server's agents listener (https://HOST:PORT), tried in order; the agent moves to the next when one cannot be reached (agent --server, comma-separated)."`
	JoinTokenFile string        `yaml:"joinTokenFile" doc:"File holding the one-time join token (from costwarden cluster add NAME), read when the agent is not enrolled yet (or the token changed). agent --join-token gives it directly."`
	Keep          time.Duration `yaml:"keep" doc:"How long delivered windows stay in the agent's outbox. 0: the backfill horizon and one day. Windows not yet delivered are never deleted."`
	RetryMax      time.Duration `yaml:"retryMax" doc:"Longest wait between two delivery attempts while the server cannot be reached (the wait doubles from 1s up to this)."`
}

// HAConfig configures several replicas on one PostgreSQL.
type HAConfig struct {
	LeaseRetry time.Duration `yaml:"leaseRetry" doc:"How often a replica tries to take a background job's lease (rollups, retention and keys, inactivity, local ingestion) held by no one; a job moves to another replica within about this long after its replica dies."`
	LeaseCheck time.Duration `yaml:"leaseCheck" doc:"How often a lease holder checks its database session (PostgreSQL); a holder that loses it stops the job within this long."`
}

// HostedConfig configures hosted (multi-tenant) mode.
type HostedConfig struct {
	Enabled          bool  `yaml:"enabled" doc:"Hosted mode: several tenants (organisations), each with its own keys, users, roles and clusters, told apart by the host name of the request (costwarden tenant add ID --host NAME). Clusters report through agents; the demo and local Prometheus sources, SSO and the cost metrics are not available."`
	TenantCacheBytes int64 `yaml:"tenantCacheBytes" doc:"Query-cache budget of each tenant, in bytes (hosted mode)."`
}

func (c *Config) validateMulticluster(bad func(key, format string, args ...any)) {
	if c.Server.AgentListen != "" {
		if err := checkAddr(c.Server.AgentListen); err != nil {
			bad("server.agentListen", "%v", err)
		}
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"server.allowCIDRs", c.Server.AllowCIDRs}, {"server.internalAllowCIDRs", c.Server.InternalAllowCIDRs},
		{"server.agentAllowCIDRs", c.Server.AgentAllowCIDRs}, {"server.trustedProxies", c.Server.TrustedProxies}} {
		for _, s := range l.list {
			if _, err := netip.ParsePrefix(strings.TrimSpace(s)); err != nil {
				bad(l.key, "%q is not a CIDR network such as 10.0.0.0/8 or 2001:db8::/32", s)
			}
		}
	}
	if c.Server.InternalPrivateOnly && c.Server.InternalListen != "" {
		if !PrivateBind(c.Server.InternalListen) {
			bad("server.internalListen", "%q is not a loopback, RFC 1918, RFC 6598, unique-local or link-local address, and server.internalPrivateOnly is set (a wildcard address listens on every interface)", c.Server.InternalListen)
		}
	}
	a := c.Agents
	if a.CertTTL < 10*time.Minute || a.CertTTL > 90*24*time.Hour {
		bad("agents.certTTL", "must lie between 10m and 2160h, got %s", a.CertTTL)
	}
	if a.JoinTokenTTL < time.Minute || a.JoinTokenTTL > 7*24*time.Hour {
		bad("agents.joinTokenTTL", "must lie between 1m and 168h, got %s", a.JoinTokenTTL)
	}
	if a.MaxClockSkew < time.Second || a.MaxClockSkew > 24*time.Hour {
		bad("agents.maxClockSkew", "must lie between 1s and 24h, got %s", a.MaxClockSkew)
	}
	if a.MaxWindowBytes < 1<<20 || a.MaxWindowBytes > 1<<30 {
		bad("agents.maxWindowBytes", "must lie between 1048576 and 1073741824, got %d", a.MaxWindowBytes)
	}
	for _, n := range a.ServerNames {
		if n == "" || strings.ContainsAny(n, " /:") && net.ParseIP(n) == nil {
			bad("agents.serverNames", "%q is not a host name or address", n)
		}
	}
	for _, s := range c.Agent.Servers {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("agent.servers", "%q must be an https://HOST:PORT URL of the agents listener", s)
		}
	}
	if c.Agent.Keep < 0 {
		bad("agent.keep", "must not be negative")
	}
	if c.Agent.RetryMax < time.Second || c.Agent.RetryMax > 24*time.Hour {
		bad("agent.retryMax", "must lie between 1s and 24h, got %s", c.Agent.RetryMax)
	}
	if c.HA.LeaseRetry < 100*time.Millisecond || c.HA.LeaseRetry > time.Hour {
		bad("ha.leaseRetry", "must lie between 100ms and 1h, got %s", c.HA.LeaseRetry)
	}
	if c.HA.LeaseCheck < 100*time.Millisecond || c.HA.LeaseCheck > time.Minute {
		bad("ha.leaseCheck", "must lie between 100ms and 1m, got %s", c.HA.LeaseCheck)
	}
	if c.Hosted.Enabled {
		if c.Demo.Enabled {
			bad("hosted.enabled", "hosted mode serves tenants' agents only; turn demo.enabled off")
		}
		if c.Collect.Prometheus.URL != "" {
			bad("hosted.enabled", "hosted mode serves tenants' agents only; clusters report through agents, not collect.prometheus.url")
		}
		if c.Auth.OIDC.Issuer != "" {
			bad("hosted.enabled", "single sign-on (auth.oidc) is one provider for the installation and is not available in hosted mode")
		}
		if c.Server.MetricsTokenFile != "" {
			bad("hosted.enabled", "the cost metrics (server.metricsTokenFile) would mix tenants and are not available in hosted mode")
		}
	}
	if c.Hosted.TenantCacheBytes < 0 || c.Hosted.TenantCacheBytes > 16<<30 {
		bad("hosted.tenantCacheBytes", "must lie between 0 and 17179869184, got %d", c.Hosted.TenantCacheBytes)
	}
}

// PrivateBind reports whether a listen address binds only private addresses:
// loopback, RFC 1918, RFC 6598, IPv6 unique-local (fc00::/7) or link-local. A wildcard
// (":9003", "0.0.0.0", "::") and host names are not private: they may bind
// public interfaces.
func PrivateBind(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || sharedAddressSpace.Contains(ip)
}

// sharedAddressSpace is RFC 6598's 100.64.0.0/10: not routed on the internet,
// and the pod network of many clusters (EKS custom networking, GKE).
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")
