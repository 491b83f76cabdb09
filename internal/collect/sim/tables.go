package sim

import "github.com/costwarden/costwarden/internal/cost"

// The tables below are the demo cluster's "GitOps repository": what runs where and with
// which requests. They are read-only after package initialisation; New resolves them
// into a catalog for a given size and seed.

const (
	region = "us-east-1"
	gib    = 1 << 30
	mib    = 1 << 20

	// maxPodsPerNode is the EKS recommendation with VPC CNI prefix delegation; the
	// packer never puts more pods on a node.
	maxPodsPerNode = 110
)

var zones = [3]string{"us-east-1a", "us-east-1b", "us-east-1c"}

// instanceType carries AWS's published capacities (vCPU, GiB, GPUs).
type instanceType struct {
	name   string
	cpu    float64
	ramGiB float64
	gpus   float64
}

var (
	m6i2xlarge = instanceType{"m6i.2xlarge", 8, 32, 0}
	m6i4xlarge = instanceType{"m6i.4xlarge", 16, 64, 0}
	c6i4xlarge = instanceType{"c6i.4xlarge", 16, 32, 0}
	r6i2xlarge = instanceType{"r6i.2xlarge", 8, 64, 0}
	g52xlarge  = instanceType{"g5.2xlarge", 8, 32, 1} // 1 NVIDIA A10G
)

type poolID uint8

const (
	poolGeneral poolID = iota
	poolSpot
	poolMemory
	poolGPU
	numPools
)

type poolSpec struct {
	name      string // karpenter NodePool / managed node group name
	capacity  string // cost.CapacityOnDemand or cost.CapacitySpot
	types     []instanceType
	minBase   int   // always-on nodes even when the workloads would fit on fewer
	rotation  int64 // minutes an always-on node lives before it is replaced
	zoneShift int
	// fill is the fraction of capacity the packer aims to request on one node (the
	// rest is headroom for rollout surges, CronJobs and bin-packing slack).
	fillLo, fillHi float64
}

var pools = [numPools]poolSpec{
	// Replaced weekly (AMI updates, Karpenter drift).
	poolGeneral: {"general-od", cost.CapacityOnDemand, []instanceType{m6i2xlarge}, 3, 7 * minutesPerDay, 0, 0.58, 0.80},
	// Spot capacity is reclaimed by AWS every day or two. Listing m6i twice makes it
	// twice as likely as c6i: Karpenter picks the cheapest type that fits, and memory
	// usually decides.
	poolSpot:   {"spot-compute", cost.CapacitySpot, []instanceType{m6i4xlarge, m6i4xlarge, c6i4xlarge}, 1, 34 * 60, 1, 0.62, 0.82},
	poolMemory: {"memory-od", cost.CapacityOnDemand, []instanceType{r6i2xlarge}, 1, 14 * minutesPerDay, 2, 0.55, 0.78},
	poolGPU:    {"gpu-a10g", cost.CapacityOnDemand, []instanceType{g52xlarge}, 1, 21 * minutesPerDay, 0, 1, 1},
}

// Usage shapes, as fractions of the request. CPU follows the load curve between lo
// (night) and hi (weekday peak); memory starts at base, grows per hour of pod (or
// process) age up to max, and leaky processes are OOM-killed and restart when they get
// there.
type cpuClass uint8

const (
	cpuNormal  cpuClass = iota // 10–55 %
	cpuOver                    // over-provisioned: 3–12 %
	cpuBursty                  // peaks at 120–180 % of the request
	cpuSteady                  // databases: 30–50 %, flat
	cpuBatch                   // batch jobs: ~85 % flat
	cpuSidecar                 // proxies and agents: 5–35 %
	cpuDaemon                  // node agents: 10–30 %
	cpuTrain                   // GPU training: the CPU feeds the GPU, ~60 % flat
)

type memClass uint8

const (
	memSteady memClass = iota
	memOver
	memLeaky
	memCache // JVM heaps, databases: high and flat
	memBatch
	memSidecar
)

type ctrTpl struct {
	name  string
	milli int // CPU request, millicores
	mib   int // memory request, MiB
	gpu   int
	cpu   cpuClass
	mem   memClass
}

type kind uint8

const (
	kindDeployment kind = iota
	kindStatefulSet
	kindDaemonSet
	kindCronJob  // periodic short Jobs on the always-on general nodes
	kindNightly  // a CronJob whose parallel pods get their own spot nodes at night
	kindTraining // GPU training Jobs on the GPU node
)

// controllerKind is what kube-state-metrics reports as the top owner.
func (k kind) controllerKind() string {
	switch k {
	case kindDeployment:
		return "deployment"
	case kindStatefulSet:
		return "statefulset"
	case kindDaemonSet:
		return "daemonset"
	case kindCronJob, kindNightly:
		return "cronjob"
	case kindTraining:
		return "job"
	}
	return ""
}

type wlTpl struct {
	ns   string
	name string
	kind kind
	pool poolID
	// min, max are replicas at scale 1 (HPA bounds for Deployments, replicas of a
	// StatefulSet, parallelism of a nightly job). They grow with scale^exp.
	min, max int
	exp      float64
	// grow marks a product service the namespace clones into more services as the
	// cluster grows (a bigger company has more microservices, not just more replicas).
	grow bool
	// reqExp makes requests grow with scale^reqExp (Prometheus needs more memory in a
	// bigger cluster).
	reqExp float64
	ctrs   []ctrTpl
	// StatefulSet volume claim template.
	claimClass string
	claimGiB   float64
	// CronJob schedule in local time: every period minutes at offset (minutes after
	// local midnight, modulo period); runs last durMin..durMax minutes.
	period, offset, durMin, durMax int64
	gpuOnly                        bool // DaemonSet that only runs on GPU nodes
	rolloutP                       float64
	labels                         map[string]string // extra pod labels
	annotations                    map[string]string
}

type nsTpl struct {
	name, team, env, dept string
	mesh                  bool // istio-injection: every pod gets an istio-proxy sidecar
	// names for services cloned as the cluster grows
	names []string
}

var namespaceTable = []nsTpl{
	{"payments", "payments", "production", "commerce", true, []string{"invoicing", "tax-calculator", "reconciliation", "webhooks-dispatcher", "wallet-service", "currency-rates", "chargeback-handler", "settlement", "risk-engine", "kyc-verifier", "billing-api", "subscriptions"}},
	{"checkout", "storefront", "production", "commerce", true, []string{"shipping-quotes", "inventory-reservations", "order-service", "gift-cards", "address-validation", "tax-estimator", "loyalty-points", "wishlist", "returns-api"}},
	{"frontend", "storefront", "production", "commerce", true, []string{"product-pages", "mobile-bff", "seo-renderer", "recommendations-widget", "ab-testing", "session-api", "cms-preview", "reviews-api"}},
	{"checkout-staging", "storefront", "staging", "commerce", true, nil},
	{"search", "search", "production", "discovery", true, []string{"ranking-service", "synonyms-api", "catalog-sync", "spellcheck", "facets-api", "autocomplete-cache"}},
	{"auth", "identity", "production", "platform-engineering", true, []string{"mfa-service", "oauth-gateway", "user-profile", "permissions-api", "audit-log-writer", "scim-sync"}},
	{"data-pipeline", "data", "production", "data-science", false, []string{"cdc-debezium", "events-enricher", "clickstream-consumer", "dbt-runner", "schema-registry", "orders-sink", "feature-backfill"}},
	{"ml-training", "ml", "production", "data-science", false, []string{"embedding-service", "model-registry", "mlflow-tracking", "drift-monitor"}},
	{"monitoring", "platform", "production", "platform-engineering", false, nil},
	{"logging", "platform", "production", "platform-engineering", false, nil},
	{"ingress-nginx", "platform", "production", "platform-engineering", false, nil},
	{"kube-system", "platform", "production", "platform-engineering", false, nil},
}

// cloneSuffixes name further clones once a namespace's name list is used up.
var cloneSuffixes = []string{"", "-worker", "-consumer", "-sync", "-gateway", "-cache", "-v2", "-internal", "-admin", "-scheduler", "-reporter", "-exporter"}

// Requests are the ones real teams write: round numbers, sidecars trimmed down by the
// platform team, JVMs asking for a lot and using little.
var (
	istioProxy = ctrTpl{"istio-proxy", 20, 64, 0, cpuSidecar, memSidecar}
	vaultAgent = ctrTpl{"vault-agent", 10, 32, 0, cpuSidecar, memSidecar}
	otelAgent  = ctrTpl{"otel-collector", 20, 64, 0, cpuSidecar, memSidecar}
)

func exporterCtr(name string) ctrTpl { return ctrTpl{name, 10, 32, 0, cpuSidecar, memSidecar} }

func app(milli, mb int, c cpuClass, m memClass) ctrTpl { return ctrTpl{"app", milli, mb, 0, c, m} }

// workloadTable lists the seed workloads. Within a namespace, grow services come first
// in order of importance: small clusters keep the first ones only.
var workloadTable = []wlTpl{
	// payments: on-demand, the money path.
	{ns: "payments", name: "payments-api", pool: poolGeneral, min: 2, max: 6, exp: 0.5, grow: true, ctrs: []ctrTpl{app(150, 256, cpuNormal, memSteady), vaultAgent}, rolloutP: 0.4, annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
		// Annotation values are free text that anyone who can deploy writes: the
		// demo carries markup so that every view shows it is rendered as text.
		"costwarden.dev/note": `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`}},
	{ns: "payments", name: "ledger-service", pool: poolGeneral, min: 2, max: 2, exp: 0.5, grow: true, ctrs: []ctrTpl{app(500, 1536, cpuOver, memCache), vaultAgent}, rolloutP: 0.2},
	{ns: "payments", name: "fraud-scorer", pool: poolGeneral, min: 1, max: 5, exp: 0.5, grow: true, ctrs: []ctrTpl{app(100, 256, cpuBursty, memSteady)}, rolloutP: 0.3},
	{ns: "payments", name: "payouts-worker", pool: poolGeneral, min: 1, max: 3, exp: 0.5, grow: true, ctrs: []ctrTpl{app(50, 192, cpuNormal, memLeaky)}, rolloutP: 0.2},
	{ns: "payments", name: "refunds-api", pool: poolGeneral, min: 2, max: 2, exp: 0.5, grow: true, ctrs: []ctrTpl{app(100, 256, cpuOver, memOver)}, rolloutP: 0.1},
	{ns: "payments", name: "payments-postgres", kind: kindStatefulSet, pool: poolMemory, min: 3, ctrs: []ctrTpl{{"postgres", 1000, 4096, 0, cpuSteady, memCache}, exporterCtr("postgres-exporter")}, claimClass: "io2", claimGiB: 200, rolloutP: 0.02, annotations: map[string]string{"karpenter.sh/do-not-disrupt": "true"}},
	{ns: "payments", name: "pg-backup", kind: kindCronJob, pool: poolGeneral, ctrs: []ctrTpl{{"pg-dump", 250, 512, 0, cpuBatch, memBatch}}, period: minutesPerDay, offset: 5 * 60, durMin: 14, durMax: 26},

	// checkout and frontend: stateless, on spot, follow the traffic.
	{ns: "checkout", name: "checkout-api", pool: poolSpot, min: 2, max: 10, exp: 0.5, grow: true, ctrs: []ctrTpl{app(100, 256, cpuNormal, memSteady), otelAgent}, rolloutP: 0.5},
	{ns: "checkout", name: "cart-service", pool: poolSpot, min: 2, max: 8, exp: 0.5, grow: true, ctrs: []ctrTpl{app(50, 128, cpuNormal, memSteady)}, rolloutP: 0.3},
	{ns: "checkout", name: "pricing-engine", pool: poolSpot, min: 2, max: 8, exp: 0.5, grow: true, ctrs: []ctrTpl{app(100, 256, cpuBursty, memSteady)}, rolloutP: 0.3},
	{ns: "checkout", name: "promotions", pool: poolSpot, min: 2, max: 3, exp: 0.5, grow: true, ctrs: []ctrTpl{app(200, 384, cpuOver, memOver)}, rolloutP: 0.2},
	{ns: "checkout", name: "redis-cart", kind: kindStatefulSet, pool: poolMemory, min: 3, exp: 0.2, ctrs: []ctrTpl{{"redis", 200, 1024, 0, cpuSteady, memCache}, exporterCtr("redis-exporter")}, claimClass: "gp3", claimGiB: 20, rolloutP: 0.02},

	{ns: "frontend", name: "storefront-web", pool: poolSpot, min: 3, max: 15, exp: 0.5, grow: true, ctrs: []ctrTpl{app(150, 256, cpuBursty, memSteady), otelAgent}, rolloutP: 0.6},
	{ns: "frontend", name: "bff-graphql", pool: poolSpot, min: 2, max: 10, exp: 0.5, grow: true, ctrs: []ctrTpl{app(100, 256, cpuNormal, memLeaky)}, rolloutP: 0.5},
	{ns: "frontend", name: "image-resizer", pool: poolSpot, min: 1, max: 6, exp: 0.5, grow: true, ctrs: []ctrTpl{app(100, 192, cpuBursty, memSteady)}, rolloutP: 0.2},
	{ns: "frontend", name: "static-assets", pool: poolSpot, min: 2, max: 3, exp: 0.5, grow: true, ctrs: []ctrTpl{app(50, 64, cpuOver, memOver)}, rolloutP: 0.1},

	// staging mirrors production at minimum size and nobody looks at its requests.
	{ns: "checkout-staging", name: "checkout-api", pool: poolSpot, min: 1, max: 1, exp: 0.25, ctrs: []ctrTpl{app(250, 512, cpuOver, memOver)}, rolloutP: 0.8},
	{ns: "checkout-staging", name: "cart-service", pool: poolSpot, min: 1, max: 1, exp: 0.25, ctrs: []ctrTpl{app(250, 512, cpuOver, memOver)}, rolloutP: 0.6},
	{ns: "checkout-staging", name: "pricing-engine", pool: poolSpot, min: 1, max: 1, exp: 0.25, ctrs: []ctrTpl{app(250, 512, cpuOver, memOver)}, rolloutP: 0.6},

	{ns: "search", name: "search-api", pool: poolSpot, min: 2, max: 10, exp: 0.5, grow: true, ctrs: []ctrTpl{app(100, 384, cpuNormal, memSteady)}, rolloutP: 0.4},
	{ns: "search", name: "query-suggest", pool: poolSpot, min: 2, max: 6, exp: 0.5, grow: true, ctrs: []ctrTpl{app(50, 192, cpuBursty, memSteady)}, rolloutP: 0.3},
	{ns: "search", name: "indexer-worker", pool: poolGeneral, min: 1, max: 2, exp: 0.5, grow: true, ctrs: []ctrTpl{app(200, 768, cpuNormal, memLeaky)}, rolloutP: 0.2},
	{ns: "search", name: "elasticsearch", kind: kindStatefulSet, pool: poolMemory, min: 3, exp: 0.2, ctrs: []ctrTpl{{"elasticsearch", 1000, 8192, 0, cpuSteady, memCache}}, claimClass: "gp3", claimGiB: 300, rolloutP: 0.02, annotations: map[string]string{"karpenter.sh/do-not-disrupt": "true"}},

	{ns: "auth", name: "identity-api", pool: poolGeneral, min: 2, max: 6, exp: 0.5, grow: true, ctrs: []ctrTpl{app(100, 256, cpuNormal, memSteady), vaultAgent}, rolloutP: 0.3},
	{ns: "auth", name: "token-service", pool: poolGeneral, min: 2, max: 6, exp: 0.5, grow: true, ctrs: []ctrTpl{app(50, 192, cpuBursty, memSteady), vaultAgent}, rolloutP: 0.3},
	{ns: "auth", name: "session-cleanup", kind: kindCronJob, pool: poolGeneral, ctrs: []ctrTpl{{"cleanup", 50, 128, 0, cpuBatch, memBatch}}, period: 30, offset: 5, durMin: 1, durMax: 3},

	{ns: "data-pipeline", name: "stream-processor", pool: poolSpot, min: 2, max: 6, exp: 0.5, grow: true, ctrs: []ctrTpl{app(250, 1024, cpuBursty, memSteady)}, rolloutP: 0.2},
	{ns: "data-pipeline", name: "kafka-connect", pool: poolGeneral, min: 2, max: 2, exp: 0.5, grow: true, ctrs: []ctrTpl{app(500, 1536, cpuOver, memCache)}, rolloutP: 0.1},
	{ns: "data-pipeline", name: "airflow-scheduler", pool: poolGeneral, min: 1, max: 1, ctrs: []ctrTpl{{"scheduler", 500, 1024, 0, cpuNormal, memLeaky}}, rolloutP: 0.1},
	{ns: "data-pipeline", name: "airflow-webserver", pool: poolGeneral, min: 1, max: 1, ctrs: []ctrTpl{{"webserver", 250, 1024, 0, cpuOver, memSteady}}, rolloutP: 0.1},
	{ns: "data-pipeline", name: "kafka", kind: kindStatefulSet, pool: poolMemory, min: 3, exp: 0.2, ctrs: []ctrTpl{{"kafka", 1000, 6144, 0, cpuSteady, memCache}, exporterCtr("jmx-exporter")}, claimClass: "gp3", claimGiB: 500, rolloutP: 0.02, annotations: map[string]string{"karpenter.sh/do-not-disrupt": "true"}},
	{ns: "data-pipeline", name: "nightly-etl", kind: kindNightly, pool: poolSpot, min: 3, exp: 0.5, ctrs: []ctrTpl{{"spark-executor", 2000, 8192, 0, cpuBatch, memBatch}}},
	{ns: "data-pipeline", name: "report-sync", kind: kindCronJob, pool: poolGeneral, ctrs: []ctrTpl{{"sync", 100, 256, 0, cpuBatch, memBatch}}, period: 15, offset: 2, durMin: 2, durMax: 5},

	{ns: "ml-training", name: "recsys-serving", pool: poolSpot, min: 1, max: 3, exp: 0.5, grow: true, ctrs: []ctrTpl{app(250, 1024, cpuNormal, memCache)}, rolloutP: 0.2},
	{ns: "ml-training", name: "feature-store-api", pool: poolGeneral, min: 1, max: 2, exp: 0.5, grow: true, ctrs: []ctrTpl{app(200, 512, cpuOver, memSteady)}, rolloutP: 0.2},
	{ns: "ml-training", name: "train-recsys", kind: kindTraining, pool: poolGPU, min: 1, ctrs: []ctrTpl{{"trainer", 6000, 24576, 1, cpuTrain, memBatch}}},

	{ns: "monitoring", name: "prometheus", kind: kindStatefulSet, pool: poolMemory, min: 2, reqExp: 0.4, ctrs: []ctrTpl{{"prometheus", 500, 4096, 0, cpuSteady, memCache}, exporterCtr("config-reloader")}, claimClass: "gp3", claimGiB: 200, rolloutP: 0.03},
	{ns: "monitoring", name: "alertmanager", kind: kindStatefulSet, pool: poolMemory, min: 2, ctrs: []ctrTpl{{"alertmanager", 50, 128, 0, cpuOver, memSteady}, exporterCtr("config-reloader")}, claimClass: "gp3", claimGiB: 10, rolloutP: 0.03},
	{ns: "monitoring", name: "grafana", pool: poolGeneral, min: 1, max: 1, ctrs: []ctrTpl{{"grafana", 100, 256, 0, cpuOver, memSteady}}, rolloutP: 0.05},
	{ns: "monitoring", name: "kube-state-metrics", pool: poolGeneral, min: 1, max: 1, reqExp: 0.4, ctrs: []ctrTpl{{"kube-state-metrics", 100, 256, 0, cpuNormal, memSteady}}, rolloutP: 0.03},
	{ns: "monitoring", name: "node-exporter", kind: kindDaemonSet, ctrs: []ctrTpl{{"node-exporter", 100, 128, 0, cpuDaemon, memSteady}, {"kube-rbac-proxy", 10, 20, 0, cpuSidecar, memSidecar}}},
	{ns: "monitoring", name: "dcgm-exporter", kind: kindDaemonSet, gpuOnly: true, ctrs: []ctrTpl{{"dcgm-exporter", 100, 512, 0, cpuDaemon, memSteady}}},
	{ns: "monitoring", name: "cert-expiry-check", kind: kindCronJob, pool: poolGeneral, ctrs: []ctrTpl{{"check", 50, 64, 0, cpuBatch, memBatch}}, period: 60, offset: 7, durMin: 1, durMax: 2},

	{ns: "logging", name: "fluent-bit", kind: kindDaemonSet, ctrs: []ctrTpl{{"fluent-bit", 100, 128, 0, cpuDaemon, memSteady}}},

	{ns: "ingress-nginx", name: "ingress-nginx-controller", pool: poolGeneral, min: 2, max: 4, exp: 0.5, ctrs: []ctrTpl{{"controller", 200, 256, 0, cpuNormal, memSteady}}, rolloutP: 0.05,
		labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller", "app.kubernetes.io/instance": "ingress-nginx"}},

	{ns: "kube-system", name: "coredns", pool: poolGeneral, min: 2, max: 2, exp: 0.4, ctrs: []ctrTpl{{"coredns", 100, 70, 0, cpuDaemon, memSteady}}, rolloutP: 0.02, labels: map[string]string{"k8s-app": "kube-dns"}},
	{ns: "kube-system", name: "karpenter", pool: poolGeneral, min: 2, max: 2, ctrs: []ctrTpl{{"controller", 1000, 1024, 0, cpuOver, memSteady}}, rolloutP: 0.02},
	{ns: "kube-system", name: "metrics-server", pool: poolGeneral, min: 1, max: 1, ctrs: []ctrTpl{{"metrics-server", 100, 200, 0, cpuDaemon, memSteady}}, rolloutP: 0.02, labels: map[string]string{"k8s-app": "metrics-server"}},
	{ns: "kube-system", name: "ebs-csi-controller", pool: poolGeneral, min: 2, max: 2, ctrs: []ctrTpl{{"ebs-plugin", 10, 40, 0, cpuDaemon, memSidecar}, {"csi-provisioner", 10, 40, 0, cpuSidecar, memSidecar}, {"csi-attacher", 10, 40, 0, cpuSidecar, memSidecar}}, rolloutP: 0.02},
	{ns: "kube-system", name: "aws-node", kind: kindDaemonSet, ctrs: []ctrTpl{{"aws-node", 25, 64, 0, cpuDaemon, memSteady}, {"aws-eks-nodeagent", 25, 64, 0, cpuSidecar, memSidecar}}, labels: map[string]string{"k8s-app": "aws-node"}},
	{ns: "kube-system", name: "kube-proxy", kind: kindDaemonSet, ctrs: []ctrTpl{{"kube-proxy", 100, 64, 0, cpuDaemon, memSteady}}, labels: map[string]string{"k8s-app": "kube-proxy"}},
	{ns: "kube-system", name: "ebs-csi-node", kind: kindDaemonSet, ctrs: []ctrTpl{{"ebs-plugin", 10, 40, 0, cpuDaemon, memSidecar}, {"node-driver-registrar", 10, 40, 0, cpuSidecar, memSidecar}, {"liveness-probe", 10, 40, 0, cpuSidecar, memSidecar}}},
	{ns: "kube-system", name: "nvidia-device-plugin", kind: kindDaemonSet, gpuOnly: true, ctrs: []ctrTpl{{"nvidia-device-plugin-ctr", 50, 64, 0, cpuDaemon, memSidecar}}},
}

// The LoadBalancer Services. The third one is the classic forgotten load balancer: its
// Deployment was deleted a year ago and the NLB still costs money every hour.
var serviceTable = []struct {
	ns, name string
	selector map[string]string
}{
	{"ingress-nginx", "ingress-nginx-controller", map[string]string{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}},
	{"payments", "payments-api-public", map[string]string{"app": "payments-api"}},
	{"checkout-staging", "promo-banner-legacy", map[string]string{"app": "promo-banner-v1"}},
}
