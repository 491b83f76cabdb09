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
	DataDir         string                `yaml:"dataDir" doc:"Directory holding the embedded database, the key file (unless keys.file says otherwise) and the generated TLS certificate. Created 0700."`
	TimeZone        string                `yaml:"timeZone" doc:"IANA time zone for calendar windows (today, week, month, ...). Stored data is always UTC."`
	Server          ServerConfig          `yaml:"server"`
	Storage         StorageConfig         `yaml:"storage"`
	Keys            KeysConfig            `yaml:"keys"`
	Auth            AuthConfig            `yaml:"auth"`
	Pricing         PricingConfig         `yaml:"pricing"`
	Allocation      AllocationConfig      `yaml:"allocation"`
	Collect         CollectConfig         `yaml:"collect"`
	Query           QueryConfig           `yaml:"query"`
	Recommendations RecommendationsConfig `yaml:"recommendations"`
	Runtime         RuntimeConfig         `yaml:"runtime"`
	Demo            DemoConfig            `yaml:"demo"`
	Log             LogConfig             `yaml:"log"`
	Retention       RetentionConfig       `yaml:"retention"`
	// Added for many clusters and several replicas (issue 9).
	Agents AgentsConfig `yaml:"agents"`
	Agent  AgentConfig  `yaml:"agent"`
	HA     HAConfig     `yaml:"ha"`
	Hosted HostedConfig `yaml:"hosted"`
	// Added with security operations (issue 7).
	Audit     AuditConfig     `yaml:"audit"`
	Telemetry TelemetryConfig `yaml:"telemetry"`
	Egress    EgressConfig    `yaml:"egress"`
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
	MetricsTokenFile  string        `yaml:"metricsTokenFile" doc:"File holding the bearer token Prometheus must send to scrape /metrics on the internal listener. Set: /metrics also carries the cost series OpenCost's Grafana dashboards read (node_cpu_hourly_cost, container_cpu_allocation, ...), and a scrape without the token gets 401. Empty: /metrics carries the server's own metrics only."`
	// Per-listener CIDR allowlists (issue 7; issue 9 uses them too).
	AllowCIDRs         []string `yaml:"allowCIDRs" doc:"Networks (CIDR, e.g. 10.0.0.0/8) allowed to connect to server.listen; connections from elsewhere are closed before TLS. Empty: every address."`
	InternalAllowCIDRs []string `yaml:"internalAllowCIDRs" doc:"Networks allowed to connect to server.internalListen (metrics). Empty: every address (it is bound to loopback by default)."`
	// Network controls and the agents listener (issue 9).
	AgentListen         string   `yaml:"agentListen" doc:"Address of the agents listener: agents enrol and push closed hourly windows there over TLS with client certificates from the internal CA (docs/multi-cluster.md). Empty: no agents listener."`
	AgentAllowCIDRs     []string `yaml:"agentAllowCIDRs" doc:"Networks allowed to connect to server.agentListen; connections from elsewhere are closed before TLS. Empty: every address."`
	TrustedProxies      []string `yaml:"trustedProxies" doc:"Networks (CIDR) of reverse proxies in front of server.listen. Only when a connection comes from one of them is its X-Forwarded-For header read, and the client is the rightmost address in it that is not itself a trusted proxy (used for login throttling, logs and server.allowCIDRs). Empty: X-Forwarded-For is ignored."`
	InternalPrivateOnly bool     `yaml:"internalPrivateOnly" doc:"Refuse to start when server.internalListen binds an address that is not loopback, RFC 1918, RFC 6598 (100.64.0.0/10), IPv6 unique-local or link-local (a wildcard or a host name included)."`
	InternalTLS         bool     `yaml:"internalTLS" doc:"Serve the internal listener (metrics) over HTTPS (TLS 1.2+) with the server's certificate (server.tls, or the self-signed one), so the scrape token and the cost series never cross the network in clear; Prometheus then scrapes with scheme https and that certificate's CA. Set it whenever server.internalListen is not loopback (the Helm chart does)."`
}

// TLSConfig configures HTTPS.
type TLSConfig struct {
	CertFile string `yaml:"certFile" doc:"PEM certificate chain. Reloaded when the file changes. Empty: a self-signed certificate is generated in dataDir (with a warning at every start)."`
	KeyFile  string `yaml:"keyFile" doc:"PEM private key for certFile (must not be readable by group or others)."`
}

// StorageConfig chooses and configures the store.
type StorageConfig struct {
	Driver   string         `yaml:"driver" doc:"Store backend: sqlite (embedded, the default) or postgres (several replicas on one database)."`
	SQLite   SQLiteConfig   `yaml:"sqlite"`
	Postgres PostgresConfig `yaml:"postgres"`
}

// PostgresConfig configures the PostgreSQL store (storage.driver: postgres).
type PostgresConfig struct {
	Host           string        `yaml:"host" doc:"PostgreSQL server host name or address."`
	Port           int           `yaml:"port" doc:"PostgreSQL server port."`
	Database       string        `yaml:"database" doc:"Database name."`
	User           string        `yaml:"user" doc:"Database user."`
	PasswordFile   string        `yaml:"passwordFile" doc:"File holding the user's password (empty: no password, e.g. client-certificate authentication)."`
	SSLMode        string        `yaml:"sslMode" doc:"TLS to the database: verify-full (default: CA-verified certificate and host name), verify-ca, or disable (refused unless the host is a loopback address)."`
	CAFile         string        `yaml:"caFile" doc:"PEM bundle of the certificate authorities trusted for the database server. Empty: the system roots."`
	CertFile       string        `yaml:"certFile" doc:"PEM client certificate for certificate authentication (optional)."`
	KeyFile        string        `yaml:"keyFile" doc:"PEM private key of certFile (must not be readable by group or others)."`
	MaxConns       int           `yaml:"maxConns" doc:"Largest number of pooled connections per replica."`
	ConnectTimeout time.Duration `yaml:"connectTimeout" doc:"Time allowed to connect, TLS handshake included."`
}

// SQLiteConfig configures the embedded store.
type SQLiteConfig struct {
	Path string `yaml:"path" doc:"Database file. Empty: <dataDir>/costwarden.db."`
}

// KeysConfig chooses the key-encryption key.
type KeysConfig struct {
	Provider    string          `yaml:"provider" doc:"Key-encryption key provider: file (a 256-bit key in a local file; the air-gapped default), secret (a key file mounted from a Kubernetes Secret) or awskms (a key in AWS KMS or a KMS-compatible server)."`
	File        string          `yaml:"file" doc:"Key file for provider file. Empty: <dataDir>/costwarden.key, created 0600 on first start. Keep a copy apart from the data: without it the data cannot be read."`
	Secret      SecretKeyConfig `yaml:"secret"`
	AWSKMS      AWSKMSConfig    `yaml:"awskms"`
	RotateEvery time.Duration   `yaml:"rotateEvery" doc:"Scheduled rotation: a tenant's data key older than this is replaced for new writes, and the background job re-encrypts older data. 0 disables scheduled rotation (keys still rotate long before 2^32 uses)."`
}

// SecretKeyConfig configures provider secret.
type SecretKeyConfig struct {
	File string `yaml:"file" doc:"Path of the key mounted from a Kubernetes Secret (never created; missing is an error). Holds the key file format, 32 raw bytes, or 32 bytes in base64."`
}

// AWSKMSConfig configures provider awskms. Credentials come from the AWS SDK's
// sources (environment, a shared credentials file, a web identity token), never
// from this file.
type AWSKMSConfig struct {
	KeyID               string        `yaml:"keyID" doc:"KMS key: key id, key ARN, alias (alias/costwarden) or alias ARN."`
	Region              string        `yaml:"region" doc:"AWS region. Empty: AWS_REGION from the environment."`
	Endpoint            string        `yaml:"endpoint" doc:"KMS endpoint URL (a VPC endpoint or a KMS-compatible server). Must be https except on loopback. Empty: the region's public endpoint."`
	CredentialsFile     string        `yaml:"credentialsFile" doc:"AWS shared credentials file. Empty: the SDK's default chain (environment variables, ~/.aws/credentials, web identity token for EKS)."`
	Profile             string        `yaml:"profile" doc:"Profile of the shared credentials and config files."`
	CAFile              string        `yaml:"caFile" doc:"PEM bundle of the certificate authorities trusted for the endpoint. Empty: the system roots."`
	UseInstanceMetadata bool          `yaml:"useInstanceMetadata" doc:"Allow credentials from the EC2 instance metadata service (the node's role)."`
	Timeout             time.Duration `yaml:"timeout" doc:"Time allowed for one KMS call."`
}

// RetentionConfig says how long cost windows are kept; expired windows are
// deleted for real (zeroed and vacuumed), not hidden.
type RetentionConfig struct {
	HourlyDays  int           `yaml:"hourlyDays" doc:"Days hourly windows are kept (0: forever)."`
	DailyMonths int           `yaml:"dailyMonths" doc:"Months daily windows are kept (0: forever)."`
	Interval    time.Duration `yaml:"interval" doc:"How often the server applies retention and checks for due key rotation and re-encryption."`
}

// AuthConfig configures authentication.
type AuthConfig struct {
	TokenTTL    time.Duration `yaml:"tokenTTL" doc:"Default lifetime of API tokens created without --ttl."`
	MaxTokenTTL time.Duration `yaml:"maxTokenTTL" doc:"Longest lifetime an API token may be given."`
	// The keys below were added for identity and access (issue 5).
	PasswordLogin     bool           `yaml:"passwordLogin" doc:"Allow password + TOTP login. false removes the login form's password fields and every password and setup route (404), leaving SSO (auth.oidc) and API tokens; it then requires auth.oidc.issuer."`
	SessionIdle       time.Duration  `yaml:"sessionIdleTimeout" doc:"A browser session unused for this long ends."`
	SessionLifetime   time.Duration  `yaml:"sessionLifetime" doc:"A browser session ends this long after login, however busy."`
	SetupCodeTTL      time.Duration  `yaml:"setupCodeTTL" doc:"Lifetime of a one-time setup code (first password and TOTP enrolment, or a reset)."`
	InactivityDisable time.Duration  `yaml:"inactivityDisable" doc:"Accounts (users and service accounts) not seen for this long are disabled; 0 never disables."`
	Lockout           LockoutConfig  `yaml:"lockout"`
	OIDC              OIDCConfig     `yaml:"oidc"`
	WebAuthn          WebAuthnConfig `yaml:"webauthn"`
}

// WebAuthnConfig enables passkeys as a second factor next to TOTP.
type WebAuthnConfig struct {
	RPID    string   `yaml:"rpID" doc:"WebAuthn relying-party ID: the host name users reach costwarden at (e.g. costwarden.example.com). Empty disables passkeys."`
	Origins []string `yaml:"origins" doc:"Origins passkey ceremonies may come from (e.g. https://costwarden.example.com:8443). Default: https://<rpID>."`
}

// LockoutConfig configures login throttling (stored in the database).
type LockoutConfig struct {
	AccountFailures int           `yaml:"accountFailures" doc:"Failed logins for one account name within window that lock it for duration."`
	AddressFailures int           `yaml:"addressFailures" doc:"Failed logins from one source address (IPv6: one /64) within window that lock it for duration."`
	Window          time.Duration `yaml:"window" doc:"Period over which failed logins are counted."`
	Duration        time.Duration `yaml:"duration" doc:"How long a locked account or address is refused (429 with Retry-After)."`
}

// OIDCConfig configures single sign-on with an OpenID Connect provider.
type OIDCConfig struct {
	Issuer           string   `yaml:"issuer" doc:"Issuer URL of the OpenID Connect provider (exactly as in its discovery document). Empty disables SSO."`
	ClientID         string   `yaml:"clientID" doc:"Client ID registered at the provider; ID tokens must name it as audience."`
	ClientSecretFile string   `yaml:"clientSecretFile" doc:"File holding the client secret (empty: a public client, PKCE only)."`
	RedirectURL      string   `yaml:"redirectURL" doc:"This server's callback URL as registered at the provider: https://HOST/login/oidc/callback."`
	Scopes           []string `yaml:"scopes" doc:"Scopes requested besides openid."`
	UsernameClaim    string   `yaml:"usernameClaim" doc:"ID-token claim holding the costwarden username."`
	GroupsClaim      string   `yaml:"groupsClaim" doc:"ID-token claim holding the user's groups."`
	GroupRoles       []string `yaml:"groupRoles" doc:"Group mappings, first match wins: GROUP=ROLE, optionally followed by ;namespaces=A,B ;clusters=C ;selector=team=x (in the environment, where commas separate list items, separate names with a vertical bar). A user matching none keeps the role an admin gave them (new users wait as pending)."`
	RequireAMR       []string `yaml:"requireAMR" doc:"If set, the ID token's amr claim must contain one of these (e.g. mfa, otp, hwk): the provider asserted MFA."`
	RequireACR       []string `yaml:"requireACR" doc:"If set, the ID token's acr claim must be one of these."`
	Algorithms       []string `yaml:"algorithms" doc:"ID-token signature algorithms accepted (never none or HMAC)."`
	DisplayName      string   `yaml:"displayName" doc:"Name of the provider on the login button."`
}

// PricingConfig configures prices.
type PricingConfig struct {
	Currency       string            `yaml:"currency" doc:"ISO 4217 code of the currency the prices are in."`
	Custom         CustomPrices      `yaml:"custom"`
	Catalog        CatalogConfig     `yaml:"catalog"`
	Discounts      DiscountConfig    `yaml:"discounts"`
	StorageClasses map[string]string `yaml:"storageClasses" doc:"Price of one GiB-month of persistent volume per storage class (e.g. gp3: 0.08); other classes use pricing.custom.storage."`
}

// CatalogConfig configures the bundled list-price catalogs.
type CatalogConfig struct {
	Enabled bool `yaml:"enabled" doc:"Price nodes whose labels name a provider, region and instance type from the bundled list-price catalogs (nodes not in a catalog fall back to custom prices with a warning). Off: custom prices for every node."`
}

// DiscountConfig holds discounts off catalog list prices, in percent.
type DiscountConfig struct {
	AWS        float64 `yaml:"aws" doc:"Discount in percent off AWS on-demand list prices (savings plans, EDP)."`
	GCP        float64 `yaml:"gcp" doc:"Discount in percent off GCP on-demand list prices (committed use)."`
	Azure      float64 `yaml:"azure" doc:"Discount in percent off Azure on-demand list prices (reservations, MACC)."`
	Negotiated float64 `yaml:"negotiated" doc:"Further negotiated discount in percent off every catalog price, spot included."`
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

// QueryConfig configures cost queries.
type QueryConfig struct {
	CacheBytes int64 `yaml:"cacheBytes" doc:"Memory budget, in bytes, of the cache of partial query results (one aggregated stored window per query shape). 0 disables it."`
}

// RecommendationsConfig configures right-sizing recommendations.
type RecommendationsConfig struct {
	CPUPercentile float64 `yaml:"cpuPercentile" doc:"Percentile of observed CPU usage (hourly averages of each replica) that the recommended CPU request covers."`
	CPUHeadroom   float64 `yaml:"cpuHeadroom" doc:"Headroom in percent added to the CPU percentile."`
	RAMHeadroom   float64 `yaml:"ramHeadroom" doc:"Headroom in percent added to the peak observed memory (the memory recommendation is never below the peak)."`
	MinHours      float64 `yaml:"minHours" doc:"Container-hours of data a workload needs before it gets a recommendation."`
}

// RuntimeConfig tunes the Go runtime of the server.
type RuntimeConfig struct {
	MemoryLimitBytes int64 `yaml:"memoryLimitBytes" doc:"Soft memory limit of the server process (Go's GOMEMLIMIT): above it the garbage collector works harder so the process stays near it. 0 disables it; the GOMEMLIMIT environment variable, when set, wins."`
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
		Storage: StorageConfig{Driver: "sqlite", Postgres: PostgresConfig{
			Port: 5432, Database: "costwarden", User: "costwarden", SSLMode: "verify-full", MaxConns: 10, ConnectTimeout: 10 * time.Second,
		}},
		Keys: KeysConfig{Provider: "file", RotateEvery: 90 * 24 * time.Hour,
			AWSKMS: AWSKMSConfig{Timeout: 10 * time.Second}},
		Retention: RetentionConfig{HourlyDays: 15, DailyMonths: 24, Interval: time.Hour},
		Auth: AuthConfig{
			TokenTTL: 90 * 24 * time.Hour, MaxTokenTTL: 365 * 24 * time.Hour,
			PasswordLogin: true, SessionIdle: 30 * time.Minute, SessionLifetime: 12 * time.Hour,
			SetupCodeTTL: 24 * time.Hour, InactivityDisable: 90 * 24 * time.Hour,
			Lockout: LockoutConfig{AccountFailures: 5, AddressFailures: 50, Window: 15 * time.Minute, Duration: 15 * time.Minute},
			OIDC: OIDCConfig{UsernameClaim: "preferred_username", GroupsClaim: "groups", Algorithms: []string{"RS256", "ES256"},
				Scopes: []string{"profile", "email"}, DisplayName: "single sign-on"},
		},
		Pricing: PricingConfig{
			Currency: "USD",
			Custom: CustomPrices{
				CPU: 0.031611, RAM: 0.004237, GPU: 0.95, Storage: 0.04, LoadBalancer: 0.025,
				SpotCPU: 0.006655, SpotRAM: 0.000892,
			},
			Catalog: CatalogConfig{Enabled: true},
		},
		Collect: CollectConfig{
			Resolution: time.Minute, CloseDelay: 2 * time.Minute,
			Prometheus: PrometheusConfig{
				Timeout: 2 * time.Minute, Concurrency: 4, MaxSamples: 5_000_000, Backfill: 90 * 24 * time.Hour,
			},
			Kubernetes: KubernetesConfig{DeletedRetention: 3 * time.Hour},
		},
		Query:   QueryConfig{CacheBytes: 128 << 20},
		Runtime: RuntimeConfig{MemoryLimitBytes: 480 << 20},
		Recommendations: RecommendationsConfig{
			CPUPercentile: 95, CPUHeadroom: 15, RAMHeadroom: 15, MinHours: 24,
		},
		Demo: DemoConfig{ClusterName: "demo", Seed: 1, Pods: 300, Days: 30},
		Audit: AuditConfig{CheckpointEvery: 100, CheckpointInterval: time.Minute,
			Syslog: AuditSyslogConfig{Facility: "authpriv", Timeout: 5 * time.Second}},
		Telemetry: TelemetryConfig{Endpoint: "https://telemetry.costwarden.dev/v1/report", Interval: 24 * time.Hour},
		Log:       LogConfig{Level: "info", Format: "json"},
		Agents:    AgentsConfig{CertTTL: 72 * time.Hour, JoinTokenTTL: time.Hour, MaxClockSkew: 5 * time.Minute, MaxWindowBytes: 64 << 20},
		Agent:     AgentConfig{RetryMax: 5 * time.Minute},
		HA:        HAConfig{LeaseRetry: 5 * time.Second, LeaseCheck: 3 * time.Second},
		Hosted:    HostedConfig{TenantCacheBytes: 32 << 20},
	}
}
