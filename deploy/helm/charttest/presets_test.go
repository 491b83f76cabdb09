package charttest

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/costwarden/costwarden/internal/config"
)

// preset is one installation the chart must support, with what it must render.
type preset struct {
	name string
	// file is the preset in deploy/helm/examples; empty for test-only values.
	file string
	// extra values on top of the file (dotted path -> value).
	extra map[string]any
	// allow lists every connection the NetworkPolicies open, exactly.
	allow []string
	// kinds are the rendered object kinds, sorted.
	kinds []string
}

const (
	monitoringProm = "ns{kubernetes.io/metadata.name=monitoring}+pod{app.kubernetes.io/name=prometheus}"
	ingressNginx   = "ns{kubernetes.io/metadata.name=ingress-nginx}"
	kubeDNS        = "egress-dns: out UDP/53,TCP/53 to ns{kubernetes.io/metadata.name=kube-system}+pod{k8s-app=kube-dns}"
)

var presets = []preset{
	{
		// The chart's defaults plus the one value without a default: the KEK Secret.
		name:  "defaults",
		extra: map[string]any{"keys.secret.name": "costwarden-kek"},
		allow: []string{"allow-https: in TCP/8443 from any"},
		kinds: []string{"ConfigMap", "Deployment", "NetworkPolicy", "NetworkPolicy", "PersistentVolumeClaim", "Service", "ServiceAccount"},
	},
	{
		name: "single-cluster", file: "single-cluster.yaml",
		allow: []string{
			"allow-https: in TCP/8443 from " + ingressNginx,
			"allow-metrics: in TCP/9003 from " + monitoringProm,
			kubeDNS,
			"egress-kube-api-server: out TCP/443,TCP/6443 to cidr{10.0.0.10/32}",
			"egress-prometheus: out TCP/9090 to " + monitoringProm,
		},
		kinds: []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy",
			"NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "PersistentVolumeClaim", "Service", "ServiceAccount"},
	},
	{
		name: "ha-central", file: "ha-central.yaml",
		allow: []string{
			"allow-agents: in TCP/8444 from cidr{198.51.100.0/24}",
			"allow-https: in TCP/8443 from " + ingressNginx,
			kubeDNS,
			"egress-kms: out TCP/443 to cidr{10.20.0.0/24}",
			"egress-kube-api-server: out TCP/443,TCP/6443 to cidr{10.0.0.0/28}",
			"egress-oidc: out TCP/443 to cidr{192.0.2.10/32}",
			"egress-postgres: out TCP/5432 to ns{kubernetes.io/metadata.name=databases}+pod{app.kubernetes.io/name=costwarden-db}",
			"egress-prometheus: out TCP/9090 to ns{kubernetes.io/metadata.name=monitoring}+pod{app.kubernetes.io/name=thanos-query}",
			"egress-syslog: out TCP/6514 to cidr{192.0.2.30/32}",
		},
		kinds: []string{"Certificate", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "NetworkPolicy", "NetworkPolicy",
			"NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy",
			"PodDisruptionBudget", "Service", "Service", "ServiceAccount"},
	},
	{
		name: "agent", file: "agent.yaml",
		allow: []string{
			kubeDNS,
			"egress-central-server: out TCP/8444 to cidr{198.51.100.20/32}",
			"egress-kube-api-server: out TCP/443,TCP/6443 to cidr{10.1.0.10/32}",
			"egress-prometheus: out TCP/9090 to " + monitoringProm,
		},
		kinds: []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy",
			"NetworkPolicy", "NetworkPolicy", "PersistentVolumeClaim", "ServiceAccount"},
	},
	{
		name: "air-gapped", file: "air-gapped.yaml",
		allow: []string{
			"allow-https: in TCP/8443 from " + ingressNginx,
			kubeDNS,
			"egress-kube-api-server: out TCP/443,TCP/6443 to cidr{10.0.0.10/32}",
			"egress-prometheus: out TCP/9090 to " + monitoringProm,
		},
		kinds: []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy",
			"NetworkPolicy", "NetworkPolicy", "PersistentVolumeClaim", "Service", "ServiceAccount"},
	},
	{
		// Every Secret and CA reference at once (test only): each must be mounted
		// where the configuration points.
		name: "every-reference", file: "ha-central.yaml",
		extra: map[string]any{
			"metrics.enabled":                                  true,
			"metrics.tokenSecret.name":                         "costwarden-metrics-token",
			"metrics.from":                                     fromMonitoring(),
			"storage.postgres.clientCertSecret":                "costwarden-db-client",
			"storage.postgres.ca":                              map[string]any{"secret": "costwarden-db-ca", "key": "ca.crt"},
			"keys.awskms.credentialsSecret.name":               "costwarden-aws",
			"keys.awskms.endpoint":                             "https://vpce-1.kms.eu-west-1.vpce.amazonaws.com",
			"keys.awskms.ca":                                   map[string]any{"configMap": "kms-ca", "key": "ca.pem"},
			"collect.prometheus.bearerTokenSecret.name":        "",
			"collect.prometheus.basicAuth.username":            "costwarden",
			"collect.prometheus.basicAuth.passwordSecret.name": "costwarden-prometheus-basic",
			"tls.mode":           "existingSecret",
			"tls.existingSecret": "costwarden-tls",
			"audit.syslog.ca":    map[string]any{"secret": "costwarden-syslog-ca", "key": "ca.pem"},
		},
		allow: []string{
			"allow-agents: in TCP/8444 from cidr{198.51.100.0/24}",
			"allow-https: in TCP/8443 from " + ingressNginx,
			allowMetricsFromMonitoring,
			kubeDNS,
			"egress-kms: out TCP/443 to cidr{10.20.0.0/24}",
			"egress-kube-api-server: out TCP/443,TCP/6443 to cidr{10.0.0.0/28}",
			"egress-oidc: out TCP/443 to cidr{192.0.2.10/32}",
			"egress-postgres: out TCP/5432 to ns{kubernetes.io/metadata.name=databases}+pod{app.kubernetes.io/name=costwarden-db}",
			"egress-prometheus: out TCP/9090 to ns{kubernetes.io/metadata.name=monitoring}+pod{app.kubernetes.io/name=thanos-query}",
			"egress-syslog: out TCP/6514 to cidr{192.0.2.30/32}",
		},
		kinds: []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "NetworkPolicy", "NetworkPolicy",
			"NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy",
			"NetworkPolicy", "NetworkPolicy", "PodDisruptionBudget", "Service", "Service", "ServiceAccount"},
	},
}

func (p preset) values(t testing.TB) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if p.file != "" {
		vals = readValues(t, filepath.Join(repoRoot(t), "deploy", "helm", "examples", p.file))
	}
	keys := make([]string, 0, len(p.extra))
	for k := range p.extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals = set(vals, k, p.extra[k])
	}
	return vals
}

// TestEveryExampleIsAPreset: each file in deploy/helm/examples is tested here.
func TestEveryExampleIsAPreset(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "helm", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, p := range presets {
		if p.file != "" && p.name+".yaml" == p.file {
			tested[p.file] = true
		}
	}
	if len(files) < 4 {
		t.Errorf("%d example presets, want single-cluster, ha-central, agent and air-gapped", len(files))
	}
	for _, f := range files {
		if !tested[filepath.Base(f)] {
			t.Errorf("%s is not a tested preset", f)
		}
	}
}

// TestPresets renders every preset and checks, for each: strict decoding of every
// object, the restricted Pod Security Standard, the NetworkPolicies, the rendered
// costwarden configuration, the Secret mounts, probes, resources and RBAC.
func TestPresets(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range presets {
		t.Run(p.name, func(t *testing.T) {
			r := mustRender(t, p.values(t))
			if got := r.kinds(); !slices.Equal(got, p.kinds) {
				t.Errorf("kinds = %v\nwant    %v", got, p.kinds)
			}
			dep := r.deployment(t)
			checkRestricted(t, eval, dep)
			checkNetworkPolicies(t, r, dep, p.allow)
			cfg, raw := checkConfig(t, r)
			checkMounts(t, dep, raw)
			checkPod(t, r, dep, cfg)
			checkRBAC(t, r, cfg)
		})
	}
}

// checkRestricted evaluates the pod template with the upstream Pod Security
// admission library at level restricted, latest version.
func checkRestricted(t *testing.T, eval policy.Evaluator, dep *appsv1.Deployment) {
	t.Helper()
	lv := psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}
	for _, res := range eval.EvaluatePod(lv, &dep.Spec.Template.ObjectMeta, &dep.Spec.Template.Spec) {
		if !res.Allowed {
			t.Errorf("Pod Security restricted: %s: %s", res.ForbiddenReason, res.ForbiddenDetail)
		}
	}
}

// TestRestrictedCheckCanFail shows the evaluator refuses the chart's pod once any
// one of its protections is removed: the checks above are not vacuous.
func TestRestrictedCheckCanFail(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	dep := mustRender(t, presets[0].values(t)).deployment(t)
	f := false
	for name, weaken := range map[string]func(*corev1.PodSpec){
		"escalation allowed": func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil },
		"capabilities kept":  func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Capabilities = nil },
		"root allowed": func(s *corev1.PodSpec) {
			s.SecurityContext.RunAsNonRoot = nil
			s.Containers[0].SecurityContext.RunAsNonRoot = &f
		},
		"no seccomp": func(s *corev1.PodSpec) {
			s.SecurityContext.SeccompProfile = nil
			s.Containers[0].SecurityContext.SeccompProfile = nil
		},
		"host path": func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		},
	} {
		spec := dep.Spec.Template.Spec.DeepCopy()
		weaken(spec)
		allowed := true
		lv := psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}
		for _, res := range eval.EvaluatePod(lv, &dep.Spec.Template.ObjectMeta, spec) {
			allowed = allowed && res.Allowed
		}
		if allowed {
			t.Errorf("%s: still passes restricted", name)
		}
	}
}

// checkNetworkPolicies: one default-deny policy for both directions; every other
// policy selects the same pods and opens exactly the listed connections.
func checkNetworkPolicies(t *testing.T, r *rendered, dep *appsv1.Deployment, want []string) {
	t.Helper()
	podLabels := dep.Spec.Template.Labels
	var got []string
	denies := 0
	for _, np := range r.networkPolicies() {
		if !reflect.DeepEqual(np.Spec.PodSelector.MatchLabels, dep.Spec.Selector.MatchLabels) || len(np.Spec.PodSelector.MatchExpressions) != 0 {
			t.Errorf("%s selects %v, not costwarden's pods %v", np.Name, np.Spec.PodSelector, dep.Spec.Selector.MatchLabels)
		}
		for k, v := range np.Spec.PodSelector.MatchLabels {
			if podLabels[k] != v {
				t.Errorf("%s selects %s=%s, which the pods do not carry", np.Name, k, v)
			}
		}
		short := strings.TrimPrefix(np.Name, dep.Name+"-")
		if short == "default-deny" {
			denies++
			types := fmt.Sprint(np.Spec.PolicyTypes)
			if types != "[Ingress Egress]" || len(np.Spec.Ingress) != 0 || len(np.Spec.Egress) != 0 {
				t.Errorf("default-deny: types %s, %d ingress and %d egress rules; want both types and no rule", types, len(np.Spec.Ingress), len(np.Spec.Egress))
			}
			continue
		}
		for _, rule := range np.Spec.Ingress {
			got = append(got, fmt.Sprintf("%s: in %s from %s", short, ports(rule.Ports), peers(rule.From)))
		}
		for _, rule := range np.Spec.Egress {
			got = append(got, fmt.Sprintf("%s: out %s to %s", short, ports(rule.Ports), peers(rule.To)))
		}
		wantTypes := []networkingv1.PolicyType{}
		if len(np.Spec.Ingress) > 0 {
			wantTypes = append(wantTypes, networkingv1.PolicyTypeIngress)
		}
		if len(np.Spec.Egress) > 0 {
			wantTypes = append(wantTypes, networkingv1.PolicyTypeEgress)
		}
		if !slices.Equal(np.Spec.PolicyTypes, wantTypes) {
			t.Errorf("%s: policy types %v, want exactly %v", np.Name, np.Spec.PolicyTypes, wantTypes)
		}
	}
	if denies != 1 {
		t.Errorf("%d default-deny policies, want 1", denies)
	}
	sort.Strings(got)
	want = slices.Clone(want)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("NetworkPolicy allowances:\n  %s\nwant exactly:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func ports(ps []networkingv1.NetworkPolicyPort) string {
	if len(ps) == 0 {
		return "any-port"
	}
	var out []string
	for _, p := range ps {
		proto := "TCP"
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		port := "any"
		if p.Port != nil {
			port = p.Port.String()
		}
		out = append(out, proto+"/"+port)
	}
	return strings.Join(out, ",")
}

func peers(ps []networkingv1.NetworkPolicyPeer) string {
	if len(ps) == 0 {
		return "any"
	}
	var out []string
	for _, p := range ps {
		var parts []string
		if p.IPBlock != nil {
			parts = append(parts, fmt.Sprintf("cidr{%s}", p.IPBlock.CIDR))
			if len(p.IPBlock.Except) > 0 {
				parts = append(parts, fmt.Sprintf("except{%s}", strings.Join(p.IPBlock.Except, ",")))
			}
		}
		if p.NamespaceSelector != nil {
			parts = append(parts, "ns"+selector(p.NamespaceSelector.MatchLabels, len(p.NamespaceSelector.MatchExpressions)))
		}
		if p.PodSelector != nil {
			parts = append(parts, "pod"+selector(p.PodSelector.MatchLabels, len(p.PodSelector.MatchExpressions)))
		}
		out = append(out, strings.Join(parts, "+"))
	}
	return strings.Join(out, " | ")
}

func selector(m map[string]string, exprs int) string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	if exprs > 0 {
		kv = append(kv, fmt.Sprintf("+%d expressions", exprs))
	}
	return "{" + strings.Join(kv, ",") + "}"
}

// fromMonitoring is a metrics.from admitting the monitoring namespace.
func fromMonitoring() []any {
	return []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}}
}

// allowMetricsFromMonitoring is the policy fromMonitoring renders.
const allowMetricsFromMonitoring = "allow-metrics: in TCP/9003 from ns{kubernetes.io/metadata.name=monitoring}"

// metricsServices is the Service with the metrics port beside HTTPS.
func metricsServices() map[string][]string {
	return map[string][]string{"costwarden": {"https 443->https", "metrics 9003->metrics"}}
}

// samplePodIP is the address the kubelet gives the pod in these tests.
const samplePodIP = "10.244.3.17"

// podEnviron resolves the costwarden container's environment as the kubelet
// does: downward-API fields from the pod (status.podIP = podIP) and $(VAR)
// references to the variables before them. Other sources are errors: secrets
// go through mounted files.
func podEnviron(t *testing.T, dep *appsv1.Deployment, podIP string) []string {
	t.Helper()
	seen := map[string]string{}
	var out []string
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
			for name, val := range seen {
				v = strings.ReplaceAll(v, "$("+name+")", val)
			}
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP":
			v = podIP
		default:
			t.Fatalf("environment variable %s comes from %+v: only the pod's address may come from the downward API", e.Name, e.ValueFrom)
		}
		seen[e.Name] = v
		out = append(out, e.Name+"="+v)
	}
	return out
}

// checkConfig loads the rendered configuration file with costwarden's own strict
// loader (unknown keys and inline secrets are errors), in the environment the
// container gets, and returns it.
func checkConfig(t *testing.T, r *rendered) (config.Config, map[string]any) {
	t.Helper()
	cfg, text, err := loadConfigAt(t, r, samplePodIP)
	if err != nil {
		t.Fatalf("costwarden refuses the rendered configuration:\n%v\n%s", err, text)
	}
	var raw map[string]any
	if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
		t.Fatal(err)
	}
	return cfg, raw
}

// loadConfigAt loads the rendered configuration as the container would in a
// pod at podIP, and returns the file's text.
func loadConfigAt(t *testing.T, r *rendered, podIP string) (config.Config, string, error) {
	t.Helper()
	cm := r.configMap(t)
	text, ok := cm.Data["config.yaml"]
	if !ok || len(cm.Data) != 1 || len(cm.BinaryData) != 0 {
		t.Fatalf("the ConfigMap holds %d keys, want config.yaml only", len(cm.Data)+len(cm.BinaryData))
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{File: file, Environ: podEnviron(t, r.deployment(t), podIP)})
	return cfg, text, err
}

// fileKeys lists the configuration keys that name files, with their values.
func fileKeys(prefix string, m map[string]any, out map[string]string) {
	for k, v := range m {
		full := k
		if prefix != "" {
			full = prefix + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			fileKeys(full, x, out)
		case string:
			if strings.HasSuffix(k, "File") || k == "file" {
				out[full] = x
			}
		}
	}
}

// checkMounts: every file the configuration names is an item of a volume mounted
// read-only at its directory; secrets come from Secret volumes, CA bundles from a
// Secret or a ConfigMap; nothing is mounted that the configuration does not use.
func checkMounts(t *testing.T, dep *appsv1.Deployment, raw map[string]any) {
	t.Helper()
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	files := map[string]string{}
	fileKeys("", raw, files)
	used := map[string]bool{"config": true, "data": true, "tmp": true}
	for key, p := range files {
		var mount *corev1.VolumeMount
		for i := range c.VolumeMounts {
			if c.VolumeMounts[i].MountPath == path.Dir(p) {
				mount = &c.VolumeMounts[i]
			}
		}
		if mount == nil {
			t.Errorf("%s = %s: no volume is mounted at %s", key, p, path.Dir(p))
			continue
		}
		used[mount.Name] = true
		if !mount.ReadOnly {
			t.Errorf("%s: volume %s is mounted writable", key, mount.Name)
		}
		v := volumes[mount.Name]
		var items []corev1.KeyToPath
		secret := strings.HasSuffix(key, "caFile") == false && !strings.HasSuffix(key, "tls.certFile") && !strings.HasSuffix(key, "postgres.certFile")
		switch {
		case v.Secret != nil:
			items = v.Secret.Items
			if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o400 {
				mode := "unset"
				if v.Secret.DefaultMode != nil {
					mode = fmt.Sprintf("%04o", *v.Secret.DefaultMode)
				}
				t.Errorf("%s: Secret volume %s has mode %s, want 0400", key, v.Name, mode)
			}
		case v.ConfigMap != nil && !secret:
			items = v.ConfigMap.Items
		default:
			t.Errorf("%s = %s comes from volume %s, which is not a Secret%s", key, p, v.Name, map[bool]string{true: "", false: " or ConfigMap"}[secret])
		}
		found := false
		for _, it := range items {
			found = found || it.Path == path.Base(p)
		}
		if !found {
			t.Errorf("%s = %s: volume %s has no item %s", key, p, v.Name, path.Base(p))
		}
	}
	for _, m := range c.VolumeMounts {
		if !used[m.Name] {
			t.Errorf("volume %s is mounted at %s but the configuration names no file in it", m.Name, m.MountPath)
		}
	}
	if len(spec.Volumes) != len(c.VolumeMounts) {
		t.Errorf("%d volumes, %d mounts", len(spec.Volumes), len(c.VolumeMounts))
	}
}

// checkPod: image, arguments, probes over HTTPS, resources, read-only root with
// writable data and /tmp, service-account token only for the Kubernetes collector.
func checkPod(t *testing.T, r *rendered, dep *appsv1.Deployment, cfg config.Config) {
	t.Helper()
	spec := dep.Spec.Template.Spec
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("%d containers and %d init containers, want one container", len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	server := c.Args[0] == "serve"
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the root filesystem is writable")
	}
	if ps := spec.SecurityContext; ps.RunAsUser == nil || *ps.RunAsUser == 0 || ps.RunAsGroup == nil || *ps.RunAsGroup == 0 || ps.FSGroup == nil {
		t.Error("the pod does not run as a numeric non-root user and group with an fsGroup")
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	if m, ok := mounts[cfg.DataDir]; !ok || m.ReadOnly {
		t.Errorf("dataDir %s is not a writable volume", cfg.DataDir)
	}
	if m, ok := mounts["/tmp"]; !ok || m.ReadOnly {
		t.Error("/tmp is not a writable volume")
	}
	// Configuration goes through the file and secrets through mounted files;
	// only the metrics listener's address, the pod's own, comes from the
	// environment (the kubelet alone knows it).
	wantEnv := []string{"COSTWARDEN_CONFIG=/etc/costwarden/config/config.yaml"}
	if server && slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" }) {
		wantEnv = append(wantEnv, "POD_IP="+samplePodIP, fmt.Sprintf("COSTWARDEN_SERVER_INTERNAL_LISTEN=[%s]:%d", samplePodIP, c.Ports[slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })].ContainerPort))
	}
	if got := podEnviron(t, dep, samplePodIP); !slices.Equal(got, wantEnv) {
		t.Errorf("environment %v, want %v: configuration goes through the file, secrets through mounted files", got, wantEnv)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
		t.Errorf("resources %v: requests for cpu and memory and a memory limit are required", c.Resources)
	}
	if got := *spec.AutomountServiceAccountToken; got != cfg.Collect.Kubernetes.Enabled {
		t.Errorf("automountServiceAccountToken = %v with collect.kubernetes.enabled = %v", got, cfg.Collect.Kubernetes.Enabled)
	}
	if cfg.Demo.Enabled {
		t.Error("the demo cluster is on")
	}
	if !server {
		// The agent opens no port: no container port, no readiness probe, no
		// Service; its startup and liveness probes run `costwarden agent check`.
		agentProbe := func(p *corev1.Probe) bool {
			return p != nil && p.Exec != nil && strings.Join(p.Exec.Command, " ") == "costwarden agent check --max-age 10m" && p.HTTPGet == nil
		}
		if c.Args[0] != "agent" || len(c.Ports) != 0 || c.ReadinessProbe != nil || !agentProbe(c.LivenessProbe) || !agentProbe(c.StartupProbe) {
			t.Errorf("agent container: args %v, ports %v, probes %v/%v/%v", c.Args, c.Ports, c.StartupProbe, c.LivenessProbe, c.ReadinessProbe)
		}
		for _, d := range r.docs {
			if s, ok := d.obj.(*corev1.Service); ok {
				t.Errorf("agent mode renders Service %s: an agent accepts no connection", s.Name)
			}
		}
		// It cannot run without a central server and its join token.
		if len(cfg.Agent.Servers) == 0 || cfg.Agent.JoinTokenFile == "" || cfg.Collect.Prometheus.URL == "" {
			t.Errorf("agent.servers %v, agent.joinTokenFile %q, collect.prometheus.url %q: the agent cannot run",
				cfg.Agent.Servers, cfg.Agent.JoinTokenFile, cfg.Collect.Prometheus.URL)
		}
		if cfg.Server.AgentListen != "" || cfg.Audit.Syslog.Address != "" {
			t.Errorf("agent mode configures server.agentListen %q or audit.syslog %q", cfg.Server.AgentListen, cfg.Audit.Syslog.Address)
		}
		return
	}
	checkAgentsListener(t, r, dep, cfg)
	if c.Ports[0].Name != "https" || c.Ports[0].ContainerPort != 8443 || cfg.Server.Listen != ":8443" {
		t.Errorf("HTTPS port %v, server.listen %q", c.Ports[0], cfg.Server.Listen)
	}
	for name, probe := range map[string]*corev1.Probe{"/healthz": c.StartupProbe, "/healthz ": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Scheme != corev1.URISchemeHTTPS || probe.HTTPGet.Path != strings.TrimSpace(name) || probe.HTTPGet.Port != intstr.FromString("https") {
			t.Errorf("probe %s: %+v, want HTTPS GET on the https port", name, probe)
		}
	}
	metrics := slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })
	if loopback := strings.HasPrefix(cfg.Server.InternalListen, "127.0.0.1:"); loopback == metrics {
		t.Errorf("internal listener %q with a metrics port exposed = %v: it leaves loopback only when metrics are enabled", cfg.Server.InternalListen, metrics)
	}
	if metrics && (!strings.HasPrefix(cfg.Server.InternalListen, "["+samplePodIP+"]:") || !cfg.Server.InternalTLS) {
		t.Errorf("metrics enabled: internal listener %q (TLS %v), want the pod's own address over TLS", cfg.Server.InternalListen, cfg.Server.InternalTLS)
	}
	if (cfg.Server.TLS.CertFile == "") != strings.Contains(r.notes, "SELF-SIGNED") {
		t.Errorf("self-signed TLS (certFile %q) and the NOTES warning disagree:\n%s", cfg.Server.TLS.CertFile, r.notes)
	}
	if cert := r.certificate(); cert != nil {
		var secret string
		for _, v := range spec.Volumes {
			if v.Name == "tls" && v.Secret != nil {
				secret = v.Secret.SecretName
			}
		}
		if cert.Spec.SecretName != secret || cert.Spec.PrivateKey == nil || cert.Spec.PrivateKey.RotationPolicy != "Always" {
			t.Errorf("Certificate writes %s, the pod mounts %q", cert.Spec.SecretName, secret)
		}
	}
	checkAvailability(t, r, dep, cfg)
}

// checkAgentsListener: server.agentListen set exactly when the pod exposes the
// agents port, its own Service routes to that port, and one NetworkPolicy lets
// named peers in on it.
func checkAgentsListener(t *testing.T, r *rendered, dep *appsv1.Deployment, cfg config.Config) {
	t.Helper()
	c := dep.Spec.Template.Spec.Containers[0]
	var port *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "agents" {
			port = &c.Ports[i]
		}
	}
	var svc *corev1.Service
	for _, d := range r.docs {
		if s, ok := d.obj.(*corev1.Service); ok && s.Name == dep.Name+"-agents" {
			svc = s
		}
	}
	if cfg.Server.AgentListen == "" {
		if port != nil || svc != nil {
			t.Errorf("no server.agentListen, but agents port %v and Service %v", port, svc)
		}
		return
	}
	if port == nil || cfg.Server.AgentListen != fmt.Sprintf(":%d", port.ContainerPort) {
		t.Fatalf("server.agentListen %q, agents container port %v", cfg.Server.AgentListen, port)
	}
	if svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != intstr.FromString("agents") ||
		!reflect.DeepEqual(svc.Spec.Selector, dep.Spec.Selector.MatchLabels) {
		t.Fatalf("agents Service %+v does not route to the agents port of costwarden's pods", svc)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP && svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("agents Service of type %s loses the agents' source addresses (externalTrafficPolicy %q)", svc.Spec.Type, svc.Spec.ExternalTrafficPolicy)
	}
	for _, np := range r.networkPolicies() {
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if p.Port != nil && p.Port.IntValue() == int(port.ContainerPort) && len(rule.From) == 0 && np.Name == dep.Name+"-allow-agents" {
					t.Errorf("%s lets any source reach the agents port", np.Name)
				}
			}
		}
	}
}

// checkAvailability: one replica on the embedded store (replaced, never doubled);
// several on PostgreSQL, spread over zones, with a PodDisruptionBudget.
func checkAvailability(t *testing.T, r *rendered, dep *appsv1.Deployment, cfg config.Config) {
	t.Helper()
	var pdb *policyv1.PodDisruptionBudget
	var pvc *corev1.PersistentVolumeClaim
	for _, d := range r.docs {
		switch o := d.obj.(type) {
		case *policyv1.PodDisruptionBudget:
			pdb = o
		case *corev1.PersistentVolumeClaim:
			pvc = o
		}
	}
	replicas := *dep.Spec.Replicas
	spec := dep.Spec.Template.Spec
	if cfg.Storage.Driver == "sqlite" {
		if replicas != 1 || dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("embedded store: %d replicas, strategy %s; want 1, Recreate", replicas, dep.Spec.Strategy.Type)
		}
		if pvc == nil || pvc.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Error("embedded store without a kept PersistentVolumeClaim")
		}
		return
	}
	if pvc != nil {
		t.Error("a PersistentVolumeClaim for stateless replicas")
	}
	if replicas < 2 {
		return
	}
	if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 ||
		!reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget %+v, want maxUnavailable 1 over the replicas", pdb)
	}
	zones := false
	for _, c := range spec.TopologySpreadConstraints {
		if c.TopologyKey == "topology.kubernetes.io/zone" && c.WhenUnsatisfiable == corev1.DoNotSchedule && c.MaxSkew == 1 &&
			reflect.DeepEqual(c.LabelSelector.MatchLabels, dep.Spec.Selector.MatchLabels) {
			zones = true
		}
	}
	if !zones {
		t.Errorf("%d replicas without a zone spread that refuses to stack them: %+v", replicas, spec.TopologySpreadConstraints)
	}
	if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		t.Error("no pod anti-affinity between replicas")
	}
	if s := dep.Spec.Strategy.RollingUpdate; s == nil || s.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v takes a replica away before its replacement is ready", s)
	}
}

// checkRBAC: the ClusterRole is exactly the read-only one docs/collectors.md lists,
// bound to the pod's service account, and exists only with the Kubernetes collector.
func checkRBAC(t *testing.T, r *rendered, cfg config.Config) {
	t.Helper()
	var role *rbacv1.ClusterRole
	var binding *rbacv1.ClusterRoleBinding
	for _, d := range r.docs {
		switch o := d.obj.(type) {
		case *rbacv1.ClusterRole:
			role = o
		case *rbacv1.ClusterRoleBinding:
			binding = o
		case *rbacv1.Role, *rbacv1.RoleBinding:
			t.Errorf("unexpected %T", o)
		}
	}
	if !cfg.Collect.Kubernetes.Enabled {
		if role != nil || binding != nil {
			t.Error("RBAC rendered without the Kubernetes collector")
		}
		return
	}
	if role == nil || binding == nil {
		t.Fatal("the Kubernetes collector has no ClusterRole and binding")
	}
	if want := documentedRules(t); !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("ClusterRole rules\n  %+v\nwant docs/collectors.md's\n  %+v", role.Rules, want)
	}
	dep := r.deployment(t)
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 || binding.Subjects[0].Kind != "ServiceAccount" ||
		binding.Subjects[0].Name != dep.Spec.Template.Spec.ServiceAccountName || binding.Subjects[0].Namespace != namespace {
		t.Errorf("binding %+v does not bind %s to the pod's service account", binding, role.Name)
	}
}

// documentedRules reads the ClusterRole from docs/collectors.md.
func documentedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "collectors.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	for _, blk := range blocks {
		for _, part := range strings.Split(blk[1], "\n---\n") {
			if !strings.Contains(part, "kind: ClusterRole\n") {
				continue
			}
			var role rbacv1.ClusterRole
			if err := sigsyaml.UnmarshalStrict([]byte(part), &role); err != nil {
				t.Fatal(err)
			}
			return role.Rules
		}
	}
	t.Fatal("docs/collectors.md shows no ClusterRole")
	return nil
}
