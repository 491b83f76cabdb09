// Package config is costwarden's one configuration: the Config struct, its defaults,
// its validation, and loading with precedence flag > environment > file > default.
// Every key is declared once, as a struct field with a yaml name and a doc string;
// the file parser, the COSTWARDEN_* environment, the flag overrides, `config check`
// and docs/configuration.md are all derived from that declaration.
//
// Secrets never appear in the configuration: keys that name secrets end in File and
// hold a path; an inline secret is a validation error. The package must not read
// command-line flags itself (cmd/costwarden passes the ones the user set).
package config

import (
	"time"
)

// Config is the whole configuration.
type Config struct {
	DataDir    string           `yaml:"dataDir" doc:"Directory holding the embedded database, the key file (unless keys.file says otherwise) and the generated TLS certificate. Created 0700."`
	TimeZone   string           `yaml:"timeZone" doc:"IANA time zone for calendar windows (today, week, month, ...). Stored data is always UTC."`
	Server     ServerConfig     `yaml:"server"`
	Storage    StorageConfig    `yaml:"storage"`
	Keys       KeysConfig       `yaml:"keys"`
	Auth       AuthConfig       `yaml:"auth"`
	Pricing    PricingConfig    `yaml:"pricing"`
	Allocation AllocationConfig `yaml:"allocation"`
	Collect    CollectConfig    `yaml:"collect"`
	Demo       DemoConfig       `yaml:"demo"`
	Log        LogConfig        `yaml:"log"`
}

// ServerConfig configures the listeners.
type ServerConfig struct {
	Listen            string        `yaml:"listen" doc:"Address of the HTTPS listener serving the UI and API."`
	InternalListen    string        `yaml:"internalListen" doc:"Address of the internal listener serving /metrics. Loopback by default; empty disables it."`
	TLS               TLSConfig     `yaml:"tls"`
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout" doc:"Time allowed to read request headers."`
	ReadTimeout       time.Duration `yaml:"readTimeout" doc:"Time allowed to read a whole request."`
	WriteTimeout      time.Duration `yaml:"writeTimeout" doc:"Time allowed to write a response (long exports stream within it)."`
	IdleTimeout       time.Duration `yaml:"idleTimeout" doc:"Keep-alive idle timeout."`
	MaxHeaderBytes    int           `yaml:"maxHeaderBytes" doc:"Largest accepted request header block, in bytes."`
	MaxBodyBytes      int64         `yaml:"maxBodyBytes" doc:"Largest accepted request body, in bytes."`
	ShutdownTimeout   time.Duration `yaml:"shutdownTimeout" doc:"Time in-flight requests get to finish after SIGTERM."`
}

// TLSConfig configures HTTPS.
type TLSConfig struct {
	CertFile string `yaml:"certFile" doc:"PEM certificate chain. Reloaded when the file changes. Empty: a self-signed certificate is generated in dataDir (with a warning at every start)."`
	KeyFile  string `yaml:"keyFile" doc:"PEM private key for certFile (must not be readable by group or others)."`
}

// StorageConfig chooses and configures the store.
type StorageConfig struct {
	Driver string       `yaml:"driver" doc:"Store backend: sqlite (embedded, the default)."`
	SQLite SQLiteConfig `yaml:"sqlite"`
}

// SQLiteConfig configures the embedded store.
type SQLiteConfig struct {
	Path string `yaml:"path" doc:"Database file. Empty: <dataDir>/costwarden.db."`
}

// KeysConfig chooses the key-encryption key.
type KeysConfig struct {
	Provider string `yaml:"provider" doc:"Key-encryption key provider: file (a 256-bit key in a local file; the air-gapped default)."`
	File     string `yaml:"file" doc:"Key file for provider file. Empty: <dataDir>/costwarden.key, created 0600 on first start. Keep a copy apart from the data: without it the data cannot be read."`
}

// AuthConfig configures authentication.
type AuthConfig struct {
	TokenTTL    time.Duration `yaml:"tokenTTL" doc:"Default lifetime of API tokens created without --ttl."`
	MaxTokenTTL time.Duration `yaml:"maxTokenTTL" doc:"Longest lifetime an API token may be given."`
}

// PricingConfig configures prices.
type PricingConfig struct {
	Currency string       `yaml:"currency" doc:"ISO 4217 code of the currency the prices are in."`
	Custom   CustomPrices `yaml:"custom"`
}

// CustomPrices are COST_MODEL.md's custom prices.
type CustomPrices struct {
	CPU          float64 `yaml:"cpu" doc:"Price of one CPU core for one hour."`
	RAM          float64 `yaml:"ram" doc:"Price of one GiB (2^30 bytes) of memory for one hour."`
	GPU          float64 `yaml:"gpu" doc:"Price of one GPU for one hour."`
	Storage      float64 `yaml:"storage" doc:"Price of one GiB of persistent volume for one month (hourly = monthly / 730)."`
	LoadBalancer float64 `yaml:"loadBalancer" doc:"Price of one LoadBalancer service for one hour."`
	SpotCPU      float64 `yaml:"spotCPU" doc:"Price of one CPU core-hour on spot nodes (0: same as cpu)."`
	SpotRAM      float64 `yaml:"spotRAM" doc:"Price of one GiB-hour of memory on spot nodes (0: same as ram)."`
}

// AllocationConfig configures how costs are reported.
type AllocationConfig struct {
	BusinessLabels map[string]string `yaml:"businessLabels" doc:"Label read by each business aggregation key (team, department, product, environment, owner); the pod's label wins, then the namespace's. Default: the key's own name."`
}

// CollectConfig configures ingestion.
type CollectConfig struct {
	Resolution time.Duration    `yaml:"resolution" doc:"Sampling resolution of the collectors (each sample stands for this long)."`
	CloseDelay time.Duration    `yaml:"closeDelay" doc:"How long after an hour ends it is closed and stored, so late samples land."`
	Prometheus PrometheusConfig `yaml:"prometheus"`
	Kubernetes KubernetesConfig `yaml:"kubernetes"`
}

// PrometheusConfig configures the Prometheus source (docs/collectors.md).
type PrometheusConfig struct {
	URL                   string        `yaml:"url" doc:"Base URL of the Prometheus HTTP API holding kube-state-metrics v2 and cAdvisor series (serve --prometheus). Empty: no Prometheus source."`
	ClusterName           string        `yaml:"clusterName" doc:"Name of the cluster the Prometheus source observes (serve --cluster-name)."`
	ClusterLabel          string        `yaml:"clusterLabel" doc:"Label that tells clusters apart in a multi-cluster Prometheus (for example cluster or cluster_id). Empty: the Prometheus holds one cluster."`
	ClusterLabelValue     string        `yaml:"clusterLabelValue" doc:"Value of clusterLabel for this cluster. Empty: clusterName."`
	Matchers              []string      `yaml:"matchers" doc:"Extra label matchers added to every series selector, such as env=\"prod\" (one PromQL matcher each)."`
	CAFile                string        `yaml:"caFile" doc:"PEM file of the CA(s) trusted for an https URL (instead of the system roots)."`
	BearerTokenFile       string        `yaml:"bearerTokenFile" doc:"File holding a bearer token sent to Prometheus; re-read on every request."`
	BasicAuthUsername     string        `yaml:"basicAuthUsername" doc:"User name for HTTP basic authentication (with basicAuthPasswordFile)."`
	BasicAuthPasswordFile string        `yaml:"basicAuthPasswordFile" doc:"File holding the basic-authentication password; re-read on every request."`
	Timeout               time.Duration `yaml:"timeout" doc:"Time one query may take."`
	Concurrency           int           `yaml:"concurrency" doc:"Queries sent to Prometheus at once (1-64)."`
	MaxSamples            int           `yaml:"maxSamples" doc:"Most samples one query may return; longer queries are cut into chunks."`
	ReplicaLabel          string        `yaml:"replicaLabel" doc:"Label that tells the members of an HA Prometheus pair apart (for example prometheus_replica); their duplicate series are read once."`
	Backfill              time.Duration `yaml:"backfill" doc:"History replayed on first start and kept free of gaps, as far as Prometheus still holds it (0-9600h)."`
}

// KubernetesConfig configures the Kubernetes API source (docs/collectors.md).
type KubernetesConfig struct {
	Enabled          bool          `yaml:"enabled" doc:"Read labels, annotations, owners, selectors and node labels from the Kubernetes API (read-only list/watch; serve --kubernetes)."`
	Kubeconfig       string        `yaml:"kubeconfig" doc:"Kubeconfig file. Empty: the in-cluster service account."`
	Context          string        `yaml:"context" doc:"Context of the kubeconfig to use. Empty: its current context."`
	DeletedRetention time.Duration `yaml:"deletedRetention" doc:"How long the metadata of deleted objects is kept, so hours closed after a pod ended still get its real labels."`
}

// DemoConfig configures the simulated demo cluster.
type DemoConfig struct {
	Enabled     bool   `yaml:"enabled" doc:"Serve the simulated demo cluster (serve --demo)."`
	ClusterName string `yaml:"clusterName" doc:"Name of the demo cluster."`
	Seed        int64  `yaml:"seed" doc:"Seed of the simulation: the same seed gives the same cluster."`
	Pods        int    `yaml:"pods" doc:"Pods at peak load (20-50000)."`
	Days        int    `yaml:"days" doc:"Days of history backfilled on first start (0-400)."`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `yaml:"level" doc:"debug, info, warn or error."`
	Format string `yaml:"format" doc:"json (for log collection) or text."`
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		DataDir:  "/var/lib/costwarden",
		TimeZone: "UTC",
		Server: ServerConfig{
			Listen:            ":8443",
			InternalListen:    "127.0.0.1:9003",
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      5 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    32 << 10,
			MaxBodyBytes:      1 << 20,
			ShutdownTimeout:   20 * time.Second,
		},
		Storage: StorageConfig{Driver: "sqlite"},
		Keys:    KeysConfig{Provider: "file"},
		Auth:    AuthConfig{TokenTTL: 24 * time.Hour, MaxTokenTTL: 90 * 24 * time.Hour},
		Pricing: PricingConfig{
			Currency: "USD",
			Custom: CustomPrices{
				CPU: 0.031611, RAM: 0.004237, GPU: 0.95, Storage: 0.04, LoadBalancer: 0.025,
				SpotCPU: 0.006655, SpotRAM: 0.000892,
			},
		},
		Collect: CollectConfig{
			Resolution: time.Minute, CloseDelay: 2 * time.Minute,
			Prometheus: PrometheusConfig{
				Timeout: 2 * time.Minute, Concurrency: 4, MaxSamples: 5_000_000, Backfill: 90 * 24 * time.Hour,
			},
			Kubernetes: KubernetesConfig{DeletedRetention: 3 * time.Hour},
		},
		Demo: DemoConfig{ClusterName: "demo", Seed: 1, Pods: 300, Days: 30},
		Log:  LogConfig{Level: "info", Format: "json"},
	}
}
