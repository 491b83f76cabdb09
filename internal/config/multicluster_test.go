package config_test

import (
	"testing"

	"github.com/costwarden/costwarden/internal/config"
)

// TestMulticlusterKeys: the agents, agent, HA, hosted and network-control keys
// are validated and every problem names its key.
func TestMulticlusterKeys(t *testing.T) {
	file := writeFile(t, `
server:
  agentListen: "nowhere"
  agentAllowCIDRs: ["10.0.0.0/8", "ten"]
  trustedProxies: ["192.168.0.0/33"]
  allowCIDRs: ["::1/129"]
  internalListen: "0.0.0.0:9003"
  internalPrivateOnly: true
agents:
  certTTL: 1m
  joinTokenTTL: 30d
  maxClockSkew: 0s
  maxWindowBytes: 10
agent:
  servers: ["http://central:8444", "https://central:8444/path"]
  retryMax: 0s
ha:
  leaseRetry: 1ms
hosted:
  enabled: true
demo:
  enabled: true
`)
	_, err := config.Load(config.Sources{File: file, Environ: []string{"COSTWARDEN_AGENT_JOIN_TOKEN=cwj1.x"}})
	errs := fieldErrors(t, err)
	for _, c := range []struct{ key, msg string }{
		{"server.agentListen", "host:port"},
		{"server.agentAllowCIDRs", `"ten" is not a CIDR`},
		{"server.trustedProxies", "not a CIDR"},
		{"server.allowCIDRs", "not a CIDR"},
		{"server.internalListen", "internalPrivateOnly"},
		{"agents.certTTL", "between 10m"},
		{"agents.maxClockSkew", "between 1s"},
		{"agents.maxWindowBytes", "between"},
		{"agent.servers", "https://HOST:PORT"},
		{"agent.retryMax", "between 1s"},
		{"ha.leaseRetry", "between 100ms"},
		{"hosted.enabled", "demo.enabled"},
		{"COSTWARDEN_AGENT_JOIN_TOKEN", "inline secrets"},
	} {
		if !hasKey(errs, c.key, c.msg) {
			t.Errorf("no error for %s containing %q in:\n%v", c.key, c.msg, errs)
		}
	}
	if hasKey(errs, "server.agentAllowCIDRs", `"10.0.0.0/8"`) {
		t.Error("a good network was refused")
	}
}

func TestPrivateBind(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9003": true, "localhost:9003": true, "10.1.2.3:9003": true, "172.16.0.1:1": true, "192.168.1.1:1": true,
		"[::1]:9003": true, "[fd00::1]:9003": true, "[fe80::1]:1": true,
		// A pod's address as the Helm chart writes it, and RFC 6598 pod networks.
		"[10.244.3.17]:9003": true, "[100.64.0.9]:9003": true, "[100.127.255.1]:9003": true, "[100.128.0.1]:9003": false,
		"[203.0.113.7]:9003": false,
		":9003":              false, "0.0.0.0:9003": false, "[::]:9003": false, "8.8.8.8:9003": false, "[2001:db8::1]:9003": false,
		"metrics.example.com:9003": false, "nonsense": false,
	} {
		if got := config.PrivateBind(addr); got != want {
			t.Errorf("PrivateBind(%q) = %v, want %v", addr, got, want)
		}
	}
}
