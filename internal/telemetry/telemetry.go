// Package telemetry is costwarden's opt-in product usage reporting. It is off
// by default: nothing is sent until an administrator gives consent, which is
// recorded (who, when, which payload version) and audited. The payload holds
// product usage counters only — the version, how often each feature was used,
// and a bucket of the number of clusters — never names, labels, costs,
// addresses or e-mails; Preview shows exactly what the next report will send.
// Withdrawing consent stops reporting at once, a report in flight included.
//
// It must not send anything without recorded consent, and it reaches the
// network only through the guarded dialer it is given (internal/egress).
package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// PayloadVersion is the version of the payload's shape. Consent is given to
// one version; a binary whose payload changes asks again.
const PayloadVersion = 1

// Features are the usage counters a payload holds, always all of them.
func Features() []string {
	return []string{"allocation", "assets", "recommendations", "export", "audit-log", "posture", "login-password", "login-sso",
		"login-passkey", "api-tokens", "scim", "user-admin"}
}

// feature maps a served route pattern to its usage counter ("" for none).
func feature(pattern string) string {
	method, path, _ := strings.Cut(pattern, " ")
	switch {
	case path == "/allocation" || path == "/allocation/compute":
		return "allocation"
	case path == "/assets":
		return "assets"
	case path == "/api/v1/recommendations":
		return "recommendations"
	case strings.HasPrefix(path, "/api/v1/export") || strings.HasPrefix(path, "/api/v1/reports"):
		return "export"
	case strings.HasPrefix(path, "/api/v1/audit"):
		return "audit-log"
	case path == "/api/v1/security/posture":
		return "posture"
	case pattern == "POST /login/mfa":
		return "login-password"
	case pattern == "GET /login/oidc/callback":
		return "login-sso"
	case pattern == "POST /login/passkey/finish":
		return "login-passkey"
	case method == "POST" && strings.HasSuffix(path, "/tokens"):
		return "api-tokens"
	case strings.HasPrefix(path, "/scim/"):
		return "scim"
	case strings.HasPrefix(path, "/api/v1/users") || strings.HasPrefix(path, "/admin/users"):
		return "user-admin"
	}
	return ""
}

// Payload is exactly what a report sends.
type Payload struct {
	PayloadVersion int               `json:"payloadVersion"`
	Version        string            `json:"version"`
	Clusters       string            `json:"clusters"` // a bucket: 0, 1, 2-5, 6-20, 21-100, 101+
	Features       map[string]uint64 `json:"features"`
}

// ClusterBucket turns a count into its bucket.
func ClusterBucket(n int) string {
	switch {
	case n <= 0:
		return "0"
	case n == 1:
		return "1"
	case n <= 5:
		return "2-5"
	case n <= 20:
		return "6-20"
	case n <= 100:
		return "21-100"
	}
	return "101+"
}

// Consent is the recorded decision.
type Consent struct {
	Enabled        bool      `json:"enabled"`
	By             string    `json:"by"` // principal id, or local-cli:USER
	At             time.Time `json:"at"`
	PayloadVersion int       `json:"payloadVersion"`
}

// Errors callers test with errors.Is.
var (
	// ErrAirGapped: consent cannot be given in air-gapped mode.
	ErrAirGapped = errors.New("telemetry cannot be enabled in air-gapped mode")
	// ErrVersion: consent names another payload version than this binary's.
	ErrVersion = errors.New("consent must name the current payload version")
	// ErrNoEndpoint: telemetry.endpoint is empty, so there is nowhere to report.
	ErrNoEndpoint = errors.New("telemetry.endpoint is not configured")
)

// Store is what telemetry needs from the store.
type Store interface {
	store.Meta
	ListClusters(ctx context.Context, tenant string) ([]store.Cluster, error)
}

const consentKey = "telemetry/consent"

// Options configure a Service.
type Options struct {
	Version   string        // the binary's version
	Endpoint  string        // https URL reports are POSTed to
	Interval  time.Duration // between reports; default 24h
	AirGapped bool
	Client    *http.Client // its transport dials through the guarded dialer
	Now       func() time.Time
	Log       *slog.Logger
}

// Service counts feature use and, with consent, reports it.
type Service struct {
	st     Store
	tenant string
	o      Options

	mu       sync.Mutex
	counts   map[string]uint64
	inflight context.CancelFunc
}

// New returns a Service.
func New(st Store, tenant string, o Options) *Service {
	if o.Interval <= 0 {
		o.Interval = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Service{st: st, tenant: tenant, o: o, counts: map[string]uint64{}}
}

// Count records one use of the route pattern's feature (whether or not
// telemetry is enabled: counters never leave the process without consent).
func (s *Service) Count(pattern string) {
	if f := feature(pattern); f != "" {
		s.mu.Lock()
		s.counts[f]++
		s.mu.Unlock()
	}
}

// Payload builds what a report would send now.
func (s *Service) Payload(ctx context.Context) (Payload, error) {
	cs, err := s.st.ListClusters(ctx, s.tenant)
	if err != nil {
		return Payload{}, fmt.Errorf("telemetry: %w", err)
	}
	p := Payload{PayloadVersion: PayloadVersion, Version: s.o.Version, Clusters: ClusterBucket(len(cs)), Features: map[string]uint64{}}
	s.mu.Lock()
	for _, f := range Features() {
		p.Features[f] = s.counts[f]
	}
	s.mu.Unlock()
	return p, nil
}

// Consent returns the recorded decision (disabled when none was made).
// Available reports whether consent could turn telemetry on here, and if not,
// why (air-gapped mode, or no telemetry.endpoint): pages say so up front.
func (s *Service) Available() (bool, string) {
	switch {
	case s.o.AirGapped:
		return false, "air-gapped mode (egress.airGapped) allows no telemetry"
	case s.o.Endpoint == "":
		return false, "telemetry.endpoint is not configured"
	}
	return true, ""
}

func (s *Service) Consent(ctx context.Context) (Consent, error) {
	b, err := s.st.GetMeta(ctx, consentKey)
	if errors.Is(err, store.ErrNotFound) {
		return Consent{PayloadVersion: PayloadVersion}, nil
	}
	if err != nil {
		return Consent{}, fmt.Errorf("telemetry: %w", err)
	}
	var c Consent
	if err := json.Unmarshal(b, &c); err != nil {
		return Consent{}, fmt.Errorf("telemetry: the stored consent is unreadable: %w", err)
	}
	return c, nil
}

// Enabled reports whether reports may be sent: consent given to this
// binary's payload version, and not air-gapped.
func (s *Service) Enabled(ctx context.Context) (bool, error) {
	c, err := s.Consent(ctx)
	return err == nil && c.Enabled && c.PayloadVersion == PayloadVersion && !s.o.AirGapped, err
}

// SetConsent records a decision by `by`. Enabling needs the current payload
// version (the one the admin previewed); disabling cancels a report in flight.
func (s *Service) SetConsent(ctx context.Context, enabled bool, version int, by string) (Consent, error) {
	if enabled && s.o.AirGapped {
		return Consent{}, ErrAirGapped
	}
	if enabled && version != PayloadVersion {
		return Consent{}, fmt.Errorf("%w (%d)", ErrVersion, PayloadVersion)
	}
	if enabled && s.o.Endpoint == "" {
		return Consent{}, ErrNoEndpoint
	}
	c := Consent{Enabled: enabled, By: by, At: s.o.Now().UTC(), PayloadVersion: PayloadVersion}
	b, _ := json.Marshal(c)
	if err := s.st.PutMeta(ctx, consentKey, b); err != nil {
		return Consent{}, fmt.Errorf("telemetry: %w", err)
	}
	if !enabled {
		s.mu.Lock()
		if s.inflight != nil {
			s.inflight()
		}
		s.mu.Unlock()
	}
	return c, nil
}

// Run reports every Interval while consent holds, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.ReportOnce(ctx); err != nil && ctx.Err() == nil {
			s.o.Log.Warn("telemetry report not sent", "error", err)
		}
	}
}

// ReportOnce sends one report if consent holds (and does nothing otherwise).
func (s *Service) ReportOnce(ctx context.Context) error {
	ok, err := s.Enabled(ctx)
	if err != nil || !ok {
		return err
	}
	p, err := s.Payload(ctx)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(p)
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.inflight = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight = nil
		s.mu.Unlock()
		cancel()
	}()
	// Consent may have been withdrawn while the payload was built.
	if ok, err := s.Enabled(ctx); err != nil || !ok {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("telemetry: the collector answered %d", resp.StatusCode)
	}
	s.mu.Lock()
	for f, n := range p.Features {
		s.counts[f] -= min(n, s.counts[f])
	}
	s.mu.Unlock()
	return nil
}

// FeatureNames is Features sorted, for documentation.
func FeatureNames() []string { return slices.Sorted(slices.Values(Features())) }
