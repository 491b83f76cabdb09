package httpapi

import (
	"net/http"
	"time"
)

// SourceStatus is one cluster source as GET /api/v1/status shows it: health,
// freshness, backfill progress and the hours that are partial or missing. The
// composition root fills it from the ingester and the collectors.
type SourceStatus struct {
	Cluster string `json:"cluster"`
	Kind    string `json:"kind"` // "prometheus", "demo"
	URL     string `json:"url,omitempty"`
	// State: "starting", "ok", "backfilling" or "degraded" (failing, retrying).
	State               string     `json:"state"`
	LastSuccess         *time.Time `json:"lastSuccess,omitempty"`
	LastError           string     `json:"lastError,omitempty"`
	LastErrorKind       string     `json:"lastErrorKind,omitempty"`
	LastErrorAt         *time.Time `json:"lastErrorAt,omitempty"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	NextRetry           *time.Time `json:"nextRetry,omitempty"`
	// LastSample is the end of the newest slot with data; LagSeconds is how old it is.
	LastSample  *time.Time `json:"lastSample,omitempty"`
	LagSeconds  *float64   `json:"lagSeconds,omitempty"`
	LiveThrough *time.Time `json:"liveThrough,omitempty"`
	LastClosed  *time.Time `json:"lastClosed,omitempty"`

	Backfill BackfillStatus `json:"backfill"`

	PartialHours     []time.Time    `json:"partialHours"`
	PartialCount     int            `json:"partialCount"`
	Gaps             int            `json:"gaps"`
	HoursWithoutData int            `json:"hoursWithoutData"`
	LastScan         *time.Time     `json:"lastScan,omitempty"`
	MissingLabels    map[string]int `json:"missingLabels,omitempty"`
	Warnings         []string       `json:"warnings,omitempty"`
	Queries          int64          `json:"queries,omitempty"`

	Kubernetes *KubernetesStatus `json:"kubernetes,omitempty"`
}

// BackfillStatus is the progress of replaying history.
type BackfillStatus struct {
	State          string     `json:"state"` // pending, running, complete
	From           *time.Time `json:"from,omitempty"`
	To             *time.Time `json:"to,omitempty"`
	Total          int        `json:"total"`
	Done           int        `json:"done"`
	Percent        num        `json:"percent"`
	Current        *time.Time `json:"current,omitempty"`
	StartedAt      *time.Time `json:"startedAt,omitempty"`
	FinishedAt     *time.Time `json:"finishedAt,omitempty"`
	HoursPerMinute num        `json:"hoursPerMinute"`
	ETASeconds     num        `json:"etaSeconds"`
}

// SetProgress sets the numeric progress fields.
func (b *BackfillStatus) SetProgress(percent, hoursPerMinute, etaSeconds float64) {
	b.Percent, b.HoursPerMinute, b.ETASeconds = num(percent), num(hoursPerMinute), num(etaSeconds)
}

// KubernetesStatus is the Kubernetes API source.
type KubernetesStatus struct {
	Synced    bool       `json:"synced"`
	Events    int        `json:"events"`
	LastEvent *time.Time `json:"lastEvent,omitempty"`
	LastError string     `json:"lastError,omitempty"`
	Pods      int        `json:"pods"`
	Nodes     int        `json:"nodes"`
}

// TimePtr is t, or nil for the zero time (omitted from JSON).
func TimePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

type statusResponse struct {
	Code int `json:"code"`
	Data struct {
		Ready   bool           `json:"ready"`
		Time    time.Time      `json:"time"`
		Sources []SourceStatus `json:"sources"`
		// Leases are the background jobs this replica runs (issue 9).
		Leases []LeaseStatus `json:"leases"`
	} `json:"data"`
}

// LeaseStatus is a background job's lease held by the answering replica.
type LeaseStatus struct {
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
}

func (a *API) status(r *http.Request) (any, error) {
	resp := statusResponse{Code: http.StatusOK}
	resp.Data.Time = a.Now().UTC()
	resp.Data.Ready = a.Ready == nil || a.Ready()
	resp.Data.Sources = []SourceStatus{}
	if a.Sources != nil {
		resp.Data.Sources = a.Sources()
	}
	resp.Data.Leases = []LeaseStatus{}
	if a.Leases != nil {
		resp.Data.Leases = a.Leases()
	}
	return resp, nil
}
