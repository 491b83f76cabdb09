package charttest

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/policy"

	"github.com/costwarden/costwarden/internal/config"
)

// setting is one value (or a few that belong together) rendered on top of a base,
// with everything it must produce: configuration keys, mounts, ports, Services
// and NetworkPolicy allowances.
type setting struct {
	name string
	// base is an example preset; empty: the chart's defaults plus the KEK Secret.
	base string
	set  map[string]any
	// config: dotted configuration keys and their rendered values.
	config map[string]any
	// absent: configuration keys that must not be rendered.
	absent []string
	// mounts: mount directory -> "secret|configMap/NAME KEY->PATH".
	mounts map[string]string
	// ports: the container's ports, "name/port", exactly.
	ports []string
	// services: Service name -> its ports, "name port->target", exactly.
	services map[string][]string
	// allow: the NetworkPolicy allowances, exactly (nil: not checked here).
	allow []string
	check func(t *testing.T, r *rendered, cfg config.Config)
}

var agentAllow = []string{
	kubeDNS,
	"egress-central-server: out TCP/8444 to cidr{198.51.100.20/32}",
	"egress-kube-api-server: out TCP/443,TCP/6443 to cidr{10.1.0.10/32}",
	"egress-prometheus: out TCP/9090 to " + monitoringProm,
}

var agentsPeer = []any{map[string]any{"ipBlock": map[string]any{"cidr": "203.0.113.0/24"}}}

var settings = []setting{
	{
		name: "agent: servers and join token",
		base: "agent.yaml",
		set: map[string]any{
			"agent.servers":         []any{"https://a.example.com:8444", "https://b.example.com:8444/"},
			"agent.joinTokenSecret": map[string]any{"name": "cw-join", "key": "join-token"},
		},
		config: map[string]any{
			"agent.servers":       []any{"https://a.example.com:8444", "https://b.example.com:8444/"},
			"agent.joinTokenFile": "/etc/costwarden/join-token/token",
		},
		absent: []string{"server", "audit", "agents", "telemetry"},
		mounts: map[string]string{"/etc/costwarden/join-token": "secret/cw-join join-token->token"},
		ports:  []string{},
		allow:  agentAllow,
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			c := r.deployment(t).Spec.Template.Spec.Containers[0]
			if c.Args[0] != "agent" || c.StartupProbe == nil || c.StartupProbe.Exec == nil || c.LivenessProbe == nil || c.LivenessProbe.Exec == nil || c.ReadinessProbe != nil {
				t.Errorf("agent container args %v with probes %v %v %v", c.Args, c.StartupProbe, c.LivenessProbe, c.ReadinessProbe)
			}
			if !slices.Equal(cfg.Agent.Servers, []string{"https://a.example.com:8444", "https://b.example.com:8444/"}) {
				t.Errorf("agent.servers loaded as %v", cfg.Agent.Servers)
			}
			if !strings.Contains(r.notes, "Secret cw-join") || !strings.Contains(r.notes, "https://a.example.com:8444, https://b.example.com:8444/") {
				t.Errorf("NOTES do not name the join-token Secret and the servers:\n%s", r.notes)
			}
		},
	},
	{
		name: "agent: a server on 443 without a port in its URL",
		base: "agent.yaml",
		set: map[string]any{
			"agent.servers": []any{"https://agents.example.com"},
			"networkPolicy.egress.centralServer.ports": []any{map[string]any{"port": 443, "protocol": "TCP"}},
		},
		config: map[string]any{"agent.servers": []any{"https://agents.example.com"}},
		ports:  []string{},
		allow: []string{
			kubeDNS,
			"egress-central-server: out TCP/443 to cidr{198.51.100.20/32}",
			"egress-kube-api-server: out TCP/443,TCP/6443 to cidr{10.1.0.10/32}",
			"egress-prometheus: out TCP/9090 to " + monitoringProm,
		},
	},
	{
		name: "agents listener",
		set: map[string]any{
			"agents.enabled":     true,
			"agents.from":        agentsPeer,
			"agents.allowCIDRs":  []any{"203.0.113.0/24"},
			"agents.serverNames": []any{"agents.example.com", "198.51.100.7"},
		},
		config: map[string]any{
			"server.agentListen":     ":8444",
			"server.agentAllowCIDRs": []any{"203.0.113.0/24"},
			"agents.serverNames":     []any{"agents.example.com", "198.51.100.7"},
			"server.listen":          ":8443",
		},
		ports: []string{"https/8443", "agents/8444"},
		services: map[string][]string{
			"costwarden":        {"https 443->https"},
			"costwarden-agents": {"agents 8444->agents"},
		},
		allow: []string{
			"allow-agents: in TCP/8444 from cidr{203.0.113.0/24}",
			"allow-https: in TCP/8443 from any",
		},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			if svc := service(r, "costwarden-agents"); svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.ExternalTrafficPolicy != "" {
				t.Errorf("agents Service type %s, externalTrafficPolicy %q", svc.Spec.Type, svc.Spec.ExternalTrafficPolicy)
			}
			if !strings.Contains(r.notes, "costwarden-agents, port 8444") || !strings.Contains(r.notes, "costwarden cluster add NAME") {
				t.Errorf("NOTES do not say how agents connect and enrol:\n%s", r.notes)
			}
		},
	},
	{
		name: "agents listener on its own load balancer and port",
		set: map[string]any{
			"agents.enabled": true,
			"agents.port":    9444,
			"agents.from":    agentsPeer,
			"agents.service": map[string]any{
				"type": "LoadBalancer", "port": 443,
				"annotations":              map[string]any{"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
				"loadBalancerSourceRanges": []any{"203.0.113.0/24"},
			},
		},
		config: map[string]any{"server.agentListen": ":9444"},
		absent: []string{"server.agentAllowCIDRs", "agents"},
		ports:  []string{"https/8443", "agents/9444"},
		services: map[string][]string{
			"costwarden":        {"https 443->https"},
			"costwarden-agents": {"agents 443->agents"},
		},
		allow: []string{
			"allow-agents: in TCP/9444 from cidr{203.0.113.0/24}",
			"allow-https: in TCP/8443 from any",
		},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			svc := service(r, "costwarden-agents")
			if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal ||
				!slices.Equal(svc.Spec.LoadBalancerSourceRanges, []string{"203.0.113.0/24"}) ||
				svc.Annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] != "internal" {
				t.Errorf("agents Service %+v: want a LoadBalancer keeping source addresses, with its source ranges and annotations", svc.Spec)
			}
			// The dashboard's Service is not touched.
			if main := service(r, "costwarden"); main.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("the dashboard's Service became %s", main.Spec.Type)
			}
		},
	},
	{
		name: "agents listener without NetworkPolicies needs no peers",
		set: map[string]any{
			"agents.enabled":        true,
			"networkPolicy.enabled": false,
		},
		config:   map[string]any{"server.agentListen": ":8444"},
		ports:    []string{"https/8443", "agents/8444"},
		services: map[string][]string{"costwarden": {"https 443->https"}, "costwarden-agents": {"agents 8444->agents"}},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			if nps := r.networkPolicies(); len(nps) != 0 {
				t.Errorf("%d NetworkPolicies with networkPolicy.enabled false", len(nps))
			}
			if !strings.Contains(r.notes, "networkPolicy.enabled is false") {
				t.Error("NOTES do not warn that every pod can reach costwarden")
			}
		},
	},
	{
		name: "listener allowlists and trusted proxies",
		set: map[string]any{
			"server.allowCIDRs":     []any{"10.0.0.0/8", "2001:db8::/32"},
			"server.trustedProxies": []any{"10.244.0.0/16"},
			"metrics.enabled":       true,
			"metrics.from":          fromMonitoring(),
			"metrics.allowCIDRs":    []any{"10.244.0.0/16"},
		},
		config: map[string]any{
			"server.allowCIDRs":          []any{"10.0.0.0/8", "2001:db8::/32"},
			"server.trustedProxies":      []any{"10.244.0.0/16"},
			"server.internalAllowCIDRs":  []any{"10.244.0.0/16"},
			"server.internalTLS":         true,
			"server.internalPrivateOnly": true,
		},
		// The address is the pod's, from the environment.
		absent:   []string{"server.agentListen", "server.agentAllowCIDRs", "server.internalListen"},
		ports:    []string{"https/8443", "metrics/9003"},
		services: metricsServices(),
		allow:    []string{"allow-https: in TCP/8443 from any", allowMetricsFromMonitoring},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			if !slices.Equal(cfg.Server.TrustedProxies, []string{"10.244.0.0/16"}) || len(cfg.Server.AllowCIDRs) != 2 {
				t.Errorf("loaded trustedProxies %v, allowCIDRs %v", cfg.Server.TrustedProxies, cfg.Server.AllowCIDRs)
			}
			if cfg.Server.InternalListen != "["+samplePodIP+"]:9003" || !cfg.Server.InternalPrivateOnly {
				t.Errorf("internal listener %q, private only %v: want the pod's address, checked private", cfg.Server.InternalListen, cfg.Server.InternalPrivateOnly)
			}
			// An RFC 6598 pod network is private; a public pod address is refused at start.
			if _, _, err := loadConfigAt(t, r, "100.64.12.9"); err != nil {
				t.Errorf("a pod at 100.64.12.9: %v", err)
			}
			if _, _, err := loadConfigAt(t, r, "203.0.113.7"); err == nil || !strings.Contains(err.Error(), "server.internalListen") || !strings.Contains(err.Error(), "203.0.113.7") {
				t.Errorf("a pod at the public address 203.0.113.7 loads (%v); want an error naming server.internalListen", err)
			}
		},
	},
	{
		name: "metrics on pods with public addresses",
		set: map[string]any{
			"metrics.enabled":               true,
			"metrics.requirePrivateAddress": false,
			"metrics.from":                  fromMonitoring(),
		},
		config:   map[string]any{"server.internalTLS": true},
		absent:   []string{"server.internalListen", "server.internalPrivateOnly"},
		ports:    []string{"https/8443", "metrics/9003"},
		services: metricsServices(),
		allow:    []string{"allow-https: in TCP/8443 from any", allowMetricsFromMonitoring},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			c, _, err := loadConfigAt(t, r, "2600:1f14::17")
			if err != nil || c.Server.InternalListen != "[2600:1f14::17]:9003" {
				t.Errorf("a pod at 2600:1f14::17: %q, %v", c.Server.InternalListen, err)
			}
		},
	},
	{
		name:   "audit: stdout by default, no syslog",
		config: map[string]any{"audit.stdout": true},
		absent: []string{"audit.syslog", "audit.file", "egress", "telemetry"},
		ports:  []string{"https/8443"},
		allow:  []string{"allow-https: in TCP/8443 from any"},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			if !cfg.Audit.Stdout || cfg.Audit.Syslog.Address != "" || cfg.Audit.File != "" {
				t.Errorf("audit sinks %+v: want stdout only", cfg.Audit)
			}
			if strings.Contains(r.notes, "audit trail has no copy") {
				t.Error("NOTES warn about the audit trail although stdout carries it")
			}
		},
	},
	{
		name:   "audit: stdout off",
		set:    map[string]any{"audit.stdout": false},
		config: map[string]any{"audit.stdout": false},
		ports:  []string{"https/8443"},
		allow:  []string{"allow-https: in TCP/8443 from any"},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			if cfg.Audit.Stdout || !strings.Contains(r.notes, "the audit trail has no copy outside the database") {
				t.Errorf("audit.stdout %v; NOTES:\n%s", cfg.Audit.Stdout, r.notes)
			}
		},
	},
	{
		name: "audit: syslog over TLS with a CA Secret",
		set: map[string]any{
			"audit.syslog.address":           "syslog.logging.svc:6514",
			"audit.syslog.ca":                map[string]any{"secret": "syslog-ca", "key": "ca.pem"},
			"networkPolicy.egress.syslog.to": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "logging"}}}},
		},
		config: map[string]any{
			"audit.stdout":          true,
			"audit.syslog.address":  "syslog.logging.svc:6514",
			"audit.syslog.tls":      true,
			"audit.syslog.caFile":   "/etc/costwarden/syslog-ca/ca.crt",
			"audit.syslog.facility": "authpriv",
			"audit.syslog.required": false,
			"audit.syslog.timeout":  "5s",
		},
		mounts: map[string]string{"/etc/costwarden/syslog-ca": "secret/syslog-ca ca.pem->ca.crt"},
		ports:  []string{"https/8443"},
		allow: []string{
			"allow-https: in TCP/8443 from any",
			kubeDNS,
			"egress-syslog: out TCP/6514 to ns{kubernetes.io/metadata.name=logging}",
		},
	},
	{
		name: "audit: syslog required, CA from a ConfigMap, a port range",
		set: map[string]any{
			"audit.syslog": map[string]any{
				"address": "10.9.8.7:10514", "tls": true, "facility": "local3", "required": true, "timeout": "10s",
				"ca": map[string]any{"configMap": "siem-ca", "key": "ca.crt"},
			},
			"networkPolicy.egress.syslog": map[string]any{
				"to":    []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.9.8.7/32"}}},
				"ports": []any{map[string]any{"port": 10000, "endPort": 10999, "protocol": "TCP"}},
			},
		},
		config: map[string]any{
			"audit.syslog.address":  "10.9.8.7:10514",
			"audit.syslog.facility": "local3",
			"audit.syslog.required": true,
			"audit.syslog.timeout":  "10s",
			"audit.syslog.caFile":   "/etc/costwarden/syslog-ca/ca.crt",
		},
		mounts: map[string]string{"/etc/costwarden/syslog-ca": "configMap/siem-ca ca.crt->ca.crt"},
		ports:  []string{"https/8443"},
		allow: []string{
			"allow-https: in TCP/8443 from any",
			kubeDNS,
			"egress-syslog: out TCP/10000 to cidr{10.9.8.7/32}",
		},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			if s := cfg.Audit.Syslog; !s.TLS || !s.Required || s.Facility != "local3" || s.Timeout.String() != "10s" {
				t.Errorf("loaded syslog settings %+v", s)
			}
		},
	},
	{
		name: "audit: syslog verified against the system roots",
		set: map[string]any{
			"audit.syslog.address":           "siem.example.com:6514",
			"networkPolicy.egress.syslog.to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.30/32"}}},
		},
		config: map[string]any{"audit.syslog.address": "siem.example.com:6514", "audit.syslog.tls": true},
		absent: []string{"audit.syslog.caFile"},
		mounts: map[string]string{},
		ports:  []string{"https/8443"},
		allow: []string{
			"allow-https: in TCP/8443 from any",
			kubeDNS,
			"egress-syslog: out TCP/6514 to cidr{192.0.2.30/32}",
		},
	},
	{
		name:   "egress: air-gapped",
		set:    map[string]any{"egress.airGapped": true},
		config: map[string]any{"egress.airGapped": true},
		absent: []string{"egress.allow"},
		ports:  []string{"https/8443"},
		allow:  []string{"allow-https: in TCP/8443 from any"},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			if !cfg.Egress.AirGapped {
				t.Error("egress.airGapped did not load")
			}
		},
	},
	{
		name: "egress: extra destinations",
		set: map[string]any{
			"egress.allow":                  []any{"login.example.com:443", "[2001:db8::1]:8443"},
			"networkPolicy.egress.allow.to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.50/32"}}, map[string]any{"ipBlock": map[string]any{"cidr": "2001:db8::1/128"}}},
			"networkPolicy.egress.allow.ports": []any{
				map[string]any{"port": 443, "protocol": "TCP"}, map[string]any{"port": 8443, "protocol": "TCP"},
			},
		},
		config: map[string]any{"egress.allow": []any{"login.example.com:443", "[2001:db8::1]:8443"}},
		absent: []string{"egress.airGapped"},
		ports:  []string{"https/8443"},
		allow: []string{
			"allow-https: in TCP/8443 from any",
			kubeDNS,
			"egress-allow: out TCP/443,TCP/8443 to cidr{192.0.2.50/32} | cidr{2001:db8::1/128}",
		},
	},
	{
		name: "hosted mode behind the agents listener",
		set: map[string]any{
			"config.hosted":  map[string]any{"enabled": true, "tenantCacheBytes": 16777216},
			"agents.enabled": true,
			"agents.from":    agentsPeer,
		},
		config: map[string]any{"hosted.enabled": true, "hosted.tenantCacheBytes": 16777216, "server.agentListen": ":8444"},
		ports:  []string{"https/8443", "agents/8444"},
		allow: []string{
			"allow-agents: in TCP/8444 from cidr{203.0.113.0/24}",
			"allow-https: in TCP/8443 from any",
		},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			if !cfg.Hosted.Enabled {
				t.Error("hosted.enabled did not load")
			}
		},
	},
	{
		name: "agents and lease timing pass through config",
		set: map[string]any{
			"config.ha":     map[string]any{"leaseRetry": "2s", "leaseCheck": "1s"},
			"config.agents": map[string]any{"certTTL": "48h"},
			"config.audit":  map[string]any{"checkpointEvery": 50},
			"agents":        map[string]any{"enabled": true, "from": agentsPeer, "serverNames": []any{"agents.example.com"}},
		},
		config: map[string]any{
			"ha.leaseRetry": "2s", "ha.leaseCheck": "1s", "agents.certTTL": "48h",
			"agents.serverNames": []any{"agents.example.com"}, "audit.checkpointEvery": 50, "audit.stdout": true,
		},
		ports: []string{"https/8443", "agents/8444"},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			if cfg.HA.LeaseRetry.String() != "2s" || cfg.Agents.CertTTL.String() != "48h0m0s" || cfg.Audit.CheckpointEvery != 50 {
				t.Errorf("loaded ha %+v, agents.certTTL %s, audit.checkpointEvery %d", cfg.HA, cfg.Agents.CertTTL, cfg.Audit.CheckpointEvery)
			}
		},
	},
	{
		name:   "ha-central: agents listener, syslog and proxies; leases at their defaults",
		base:   "ha-central.yaml",
		absent: []string{"ha", "hosted", "egress"},
		config: map[string]any{
			"server.agentListen":    ":8444",
			"server.trustedProxies": []any{"10.244.0.0/16"},
			"audit.syslog.address":  "siem.example.com:6514",
		},
		ports: []string{"https/8443", "agents/8444"},
		check: func(t *testing.T, r *rendered, cfg config.Config) {
			if cfg.HA != config.Default().HA {
				t.Errorf("ha %+v, want the defaults %+v", cfg.HA, config.Default().HA)
			}
		},
	},
	{
		name:   "air-gapped preset",
		base:   "air-gapped.yaml",
		config: map[string]any{"egress.airGapped": true, "audit.stdout": true},
		absent: []string{"audit.syslog", "egress.allow"},
		ports:  []string{"https/8443"},
	},
}

func (s setting) values(t testing.TB) map[string]any {
	t.Helper()
	p := preset{file: s.base, extra: s.set}
	if s.base == "" {
		p.extra = map[string]any{"keys.secret.name": "costwarden-kek"}
		for k, v := range s.set {
			p.extra[k] = v
		}
	}
	return p.values(t)
}

// TestSettings renders each setting and checks what it must produce, besides
// everything TestPresets checks of any rendering (Pod Security, mounts, the
// configuration loaded by costwarden's strict loader, probes, RBAC).
func TestSettings(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		t.Run(s.name, func(t *testing.T) {
			r := mustRender(t, s.values(t))
			dep := r.deployment(t)
			checkRestricted(t, eval, dep)
			cfg, raw := checkConfig(t, r)
			checkMounts(t, dep, raw)
			checkPod(t, r, dep, cfg)
			checkRBAC(t, r, cfg)
			if s.allow != nil {
				checkNetworkPolicies(t, r, dep, s.allow)
			}
			for key, want := range s.config {
				got, ok := lookup(raw, key)
				if !ok {
					t.Errorf("config %s is not rendered, want %v", key, want)
					continue
				}
				if g, w := yamlText(t, got), yamlText(t, want); g != w {
					t.Errorf("config %s = %s, want %s", key, g, w)
				}
			}
			for _, key := range s.absent {
				if got, ok := lookup(raw, key); ok {
					t.Errorf("config %s = %v is rendered, want it absent", key, got)
				}
			}
			for dir, want := range s.mounts {
				if got := mountAt(dep, dir); got != want {
					t.Errorf("mount %s = %q, want %q", dir, got, want)
				}
			}
			if s.mounts != nil && len(s.mounts) == 0 {
				for _, m := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
					if strings.HasSuffix(m.MountPath, "-ca") {
						t.Errorf("unexpected CA mount %s", m.MountPath)
					}
				}
			}
			if s.ports != nil {
				var got []string
				for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
					got = append(got, fmt.Sprintf("%s/%d", p.Name, p.ContainerPort))
				}
				if !slices.Equal(got, s.ports) && !(len(got) == 0 && len(s.ports) == 0) {
					t.Errorf("container ports %v, want %v", got, s.ports)
				}
			}
			if s.services != nil {
				got := map[string][]string{}
				for _, d := range r.docs {
					if svc, ok := d.obj.(*corev1.Service); ok {
						for _, p := range svc.Spec.Ports {
							got[svc.Name] = append(got[svc.Name], fmt.Sprintf("%s %d->%s", p.Name, p.Port, p.TargetPort.String()))
						}
					}
				}
				if !reflect.DeepEqual(got, s.services) {
					t.Errorf("Services %v, want %v", got, s.services)
				}
			}
			if s.check != nil {
				s.check(t, r, cfg)
			}
		})
	}
}

// lookup finds a dotted key in the rendered configuration.
func lookup(m map[string]any, key string) (any, bool) {
	var cur any = m
	for _, part := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func yamlText(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// mountAt describes the volume mounted at dir: "secret|configMap/NAME KEY->PATH".
func mountAt(dep *appsv1.Deployment, dir string) string {
	spec := dep.Spec.Template.Spec
	for _, m := range spec.Containers[0].VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			var kind, name string
			var items []corev1.KeyToPath
			switch {
			case v.Secret != nil:
				kind, name, items = "secret", v.Secret.SecretName, v.Secret.Items
			case v.ConfigMap != nil:
				kind, name, items = "configMap", v.ConfigMap.Name, v.ConfigMap.Items
			default:
				return "volume " + v.Name + " is neither a Secret nor a ConfigMap"
			}
			var its []string
			for _, it := range items {
				its = append(its, it.Key+"->"+it.Path)
			}
			sort.Strings(its)
			ro := ""
			if !m.ReadOnly {
				ro = " (writable)"
			}
			return fmt.Sprintf("%s/%s %s%s", kind, name, strings.Join(its, ","), ro)
		}
	}
	return ""
}

func service(r *rendered, name string) *corev1.Service {
	for _, d := range r.docs {
		if svc, ok := d.obj.(*corev1.Service); ok && svc.Name == name {
			return svc
		}
	}
	return &corev1.Service{}
}

// TestTelemetryIsNeverConfigured: telemetry is consent-gated in the product, and
// the chart neither enables nor configures it. No values path reaches a
// telemetry key, no preset or setting renders one, and the loaded configuration
// keeps the product's defaults (off until an administrator consents). No
// NetworkPolicy of a preset opens a connection to anything but its listed
// destinations, so even consent reaches nothing without a deliberate
// egress.allow and networkPolicy.egress.allow.
func TestTelemetryIsNeverConfigured(t *testing.T) {
	base := map[string]any{"keys": map[string]any{"secret": map[string]any{"name": "costwarden-kek"}}}
	for path, v := range map[string]any{
		"telemetry":                 map[string]any{"endpoint": "https://telemetry.example.com/v1"},
		"config.telemetry":          map[string]any{"endpoint": "https://telemetry.example.com/v1"},
		"config.telemetry.interval": "1h",
		"audit.telemetry":           true,
	} {
		if _, err := renderChart(t, set(base, path, v)); err == nil || !strings.Contains(err.Error(), "telemetry") {
			t.Errorf("%s: accepted (or refused without naming it): %v", path, err)
		}
	}
	var rendered []*rendered
	for _, p := range presets {
		rendered = append(rendered, mustRender(t, p.values(t)))
	}
	for _, s := range settings {
		rendered = append(rendered, mustRender(t, s.values(t)))
	}
	for i, r := range rendered {
		cfg, raw := checkConfig(t, r)
		if _, ok := raw["telemetry"]; ok {
			t.Errorf("rendering %d configures telemetry: %v", i, raw["telemetry"])
		}
		if cfg.Telemetry != config.Default().Telemetry {
			t.Errorf("rendering %d: telemetry %+v, want the product's defaults", i, cfg.Telemetry)
		}
		if strings.Contains(strings.ToLower(r.configMap(t).Data["config.yaml"]), "telemetry") {
			t.Errorf("rendering %d: the configuration mentions telemetry", i)
		}
	}
	if len(rendered) < len(presets)+10 {
		t.Fatalf("only %d renderings checked", len(rendered))
	}
}
