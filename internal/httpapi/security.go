package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/doctor"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/internal/telemetry"
)

// PostureChecker runs the doctor's checks on the running installation.
type PostureChecker interface {
	Posture(ctx context.Context) (doctor.Report, error)
}

// TelemetryControl is what the telemetry routes need from internal/telemetry.
type TelemetryControl interface {
	Payload(ctx context.Context) (telemetry.Payload, error)
	Consent(ctx context.Context) (telemetry.Consent, error)
	Enabled(ctx context.Context) (bool, error)
	SetConsent(ctx context.Context, enabled bool, version int, by string) (telemetry.Consent, error)
	Available() (bool, string)
}

// securityRoutes declares the posture and telemetry routes.
func (a *API) securityRoutes() []server.Route {
	api := func(method, path string, perm rbac.Permission, summary string, fn handlerFunc) server.Route {
		return server.Route{Method: method, Path: path, Access: server.Authenticated, Permission: perm, Summary: summary, Handler: a.handle(fn)}
	}
	return []server.Route{
		api("GET", "/api/v1/security/posture", rbac.ReadPosture, "Security posture: the doctor's findings with severity and fix, a score and the worst severity.", a.posture),
		api("GET", "/api/v1/telemetry/preview", rbac.ManageTelemetry, "The exact telemetry payload the next report would send.", a.telemetryPreview),
		api("GET", "/api/v1/telemetry/consent", rbac.ReadPosture, "The recorded telemetry consent: enabled, by whom, when, for which payload version.", a.telemetryConsent),
		api("PUT", "/api/v1/telemetry/consent", rbac.ManageTelemetry, "Gives or withdraws telemetry consent (audited).", a.setTelemetryConsent),
	}
}

func (a *API) posture(r *http.Request) (any, error) {
	if a.Posture == nil {
		return nil, errNotConfigured
	}
	rep, err := a.Posture.Posture(r.Context())
	if err != nil {
		return nil, err
	}
	return struct {
		Code int `json:"code"`
		doctor.Report
	}{http.StatusOK, rep}, nil
}

func (a *API) telemetryPreview(r *http.Request) (any, error) {
	if a.Telemetry == nil {
		return nil, errNotConfigured
	}
	p, err := a.Telemetry.Payload(r.Context())
	if err != nil {
		return nil, err
	}
	on, err := a.Telemetry.Enabled(r.Context())
	if err != nil {
		return nil, err
	}
	return map[string]any{"code": http.StatusOK, "enabled": on, "payloadVersion": p.PayloadVersion, "payload": p}, nil
}

type consentJSON struct {
	Code           int    `json:"code"`
	Enabled        bool   `json:"enabled"`
	By             string `json:"by"`
	At             string `json:"at"`
	PayloadVersion int    `json:"payloadVersion"`
	// Available says whether consent can turn telemetry on here; Unavailable
	// says why not.
	Available   bool   `json:"available"`
	Unavailable string `json:"unavailable,omitempty"`
}

func (a *API) newConsentJSON(c telemetry.Consent) consentJSON {
	at := ""
	if !c.At.IsZero() {
		at = c.At.UTC().Format("2006-01-02T15:04:05Z07:00")
	}
	ok, why := a.Telemetry.Available()
	return consentJSON{Code: http.StatusOK, Enabled: c.Enabled, By: c.By, At: at, PayloadVersion: c.PayloadVersion, Available: ok, Unavailable: why}
}

func (a *API) telemetryConsent(r *http.Request) (any, error) {
	if a.Telemetry == nil {
		return nil, errNotConfigured
	}
	c, err := a.Telemetry.Consent(r.Context())
	if err != nil {
		return nil, err
	}
	return a.newConsentJSON(c), nil
}

type consentBody struct {
	Enabled        *bool `json:"enabled"`
	PayloadVersion int   `json:"payloadVersion"`
}

func (a *API) setTelemetryConsent(r *http.Request) (any, error) {
	if a.Telemetry == nil {
		return nil, errNotConfigured
	}
	var b consentBody
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	if b.Enabled == nil {
		return nil, &query.ParamError{Param: "enabled", Message: "required: true or false"}
	}
	if *b.Enabled && b.PayloadVersion != telemetry.PayloadVersion {
		return nil, &query.ParamError{Param: "payloadVersion", Message: fmt.Sprintf("must be %d, the version of the payload GET /api/v1/telemetry/preview shows", telemetry.PayloadVersion)}
	}
	ev := audit.FromContext(r.Context())
	ev.Target = "telemetry"
	ev.Detail("enabled", fmt.Sprint(*b.Enabled))
	ev.Detail("payloadVersion", fmt.Sprint(telemetry.PayloadVersion))
	c, err := a.Telemetry.SetConsent(r.Context(), *b.Enabled, b.PayloadVersion, principal(r).ID)
	if errors.Is(err, telemetry.ErrAirGapped) {
		return nil, &query.ParamError{Param: "enabled", Message: "telemetry cannot be enabled in air-gapped mode (egress.airGapped)"}
	}
	if errors.Is(err, telemetry.ErrNoEndpoint) {
		return nil, &query.ParamError{Param: "enabled", Message: "telemetry cannot be enabled: telemetry.endpoint is not configured"}
	}
	if err != nil {
		return nil, err
	}
	return a.newConsentJSON(c), nil
}
