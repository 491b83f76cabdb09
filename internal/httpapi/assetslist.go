package httpapi

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/query"
)

// assetJSON is one node, disk or load balancer of /api/v1/assets: a flat row,
// fields that do not apply to the type left out.
type assetJSON struct {
	Type         string  `json:"type"`
	Cluster      string  `json:"cluster"`
	Namespace    string  `json:"namespace,omitempty"`
	Name         string  `json:"name"`
	ProviderID   string  `json:"providerID,omitempty"`
	Provider     string  `json:"provider,omitempty"`
	InstanceType string  `json:"instanceType,omitempty"`
	Region       string  `json:"region,omitempty"`
	Zone         string  `json:"zone,omitempty"`
	Spot         *bool   `json:"spot,omitempty"`
	CPUCores     *num    `json:"cpuCores,omitempty"`
	RAMBytes     *num    `json:"ramBytes,omitempty"`
	GPUCount     *num    `json:"gpuCount,omitempty"`
	CPUCost      *num    `json:"cpuCost,omitempty"`
	RAMCost      *num    `json:"ramCost,omitempty"`
	GPUCost      *num    `json:"gpuCost,omitempty"`
	Discount     *num    `json:"discount,omitempty"`
	PriceSource  string  `json:"priceSource,omitempty"`
	Warning      string  `json:"warning,omitempty"`
	StorageClass string  `json:"storageClass,omitempty"`
	Bytes        *num    `json:"bytes,omitempty"`
	Hours        num     `json:"hours"`
	TotalCost    num     `json:"totalCost"`
	Start        string  `json:"start"`
	End          string  `json:"end"`
	sortCost     float64 // for sorting
}

func np(v float64) *num { n := num(v); return &n }

type assetTotalsJSON struct {
	Nodes         num `json:"nodes"`
	Disks         num `json:"disks"`
	LoadBalancers num `json:"loadBalancers"`
	Total         num `json:"total"`
}

type assetsResponse struct {
	Code     int             `json:"code"`
	Window   windowJSON      `json:"window"`
	Currency string          `json:"currency"`
	Count    int             `json:"count"`
	Data     []assetJSON     `json:"data"`
	Totals   assetTotalsJSON `json:"totals"`
	Next     string          `json:"next,omitempty"`
}

var assetSortFields = []string{"name", "totalCost", "type", "hours"}

// assetsV1 lists nodes (instance type, spot, cost split), disks and load
// balancers as flat rows, filtered by type, sorted and paged. Cluster-level
// resources: a caller whose scope does not cover a cluster sees none of its.
func (a *API) assetsV1(r *http.Request) (any, error) {
	v := cloneValues(r.URL.Query())
	pg, err := parsePage(v, 100, 5000)
	if err != nil {
		return nil, err
	}
	field, desc, err := parseSort(v, "-totalCost", assetSortFields)
	if err != nil {
		return nil, err
	}
	for k := range v {
		if k != "window" && k != "type" {
			return nil, &query.ParamError{Param: k, Message: "unknown parameter (window, type, sort, limit, cursor)"}
		}
	}
	typ := v.Get("type")
	switch typ {
	case "", "node", "disk", "loadbalancer":
	default:
		return nil, &query.ParamError{Param: "type", Message: "must be node, disk or loadbalancer (empty: all)"}
	}
	w, err := query.ParseWindow(v.Get("window"), a.Now(), a.Settings.Location)
	if err != nil {
		return nil, &query.ParamError{Param: "window", Message: err.Error()}
	}
	res, err := a.assetsResult(r, w.Start, w.End)
	if err != nil {
		return nil, err
	}
	resp := &assetsResponse{Code: http.StatusOK, Window: windowJSON{w.Start, w.End}, Currency: a.currency(), Data: []assetJSON{}}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	var rows []assetJSON
	for _, n := range res.Nodes {
		resp.Totals.Nodes += num(n.TotalCost())
		if typ != "" && typ != "node" {
			continue
		}
		spot := n.Spot
		rows = append(rows, assetJSON{Type: "Node", Cluster: n.Cluster, Name: n.Name, ProviderID: n.ProviderID, Provider: n.Provider,
			InstanceType: n.InstanceType, Region: n.Region, Zone: n.Zone, Spot: &spot, CPUCores: np(n.CPUCores), RAMBytes: np(n.RAMBytes),
			GPUCount: np(n.GPUs), CPUCost: np(n.CPUCost), RAMCost: np(n.RAMCost), GPUCost: np(n.GPUCost), Discount: np(n.Discount),
			PriceSource: n.PriceSource, Warning: n.PriceWarning, Hours: num(n.Minutes / 60), TotalCost: num(n.TotalCost()),
			Start: ts(n.Start), End: ts(n.End), sortCost: n.TotalCost()})
	}
	for _, d := range res.Disks {
		resp.Totals.Disks += num(d.Cost)
		if typ != "" && typ != "disk" {
			continue
		}
		rows = append(rows, assetJSON{Type: "Disk", Cluster: d.Cluster, Name: d.Name, ProviderID: d.ProviderID, StorageClass: d.StorageClass,
			Bytes: np(d.Bytes), Hours: num(d.Minutes / 60), TotalCost: num(d.Cost), Start: ts(d.Start), End: ts(d.End), sortCost: d.Cost})
	}
	for _, l := range res.LoadBalancers {
		resp.Totals.LoadBalancers += num(l.Cost)
		if typ != "" && typ != "loadbalancer" {
			continue
		}
		rows = append(rows, assetJSON{Type: "LoadBalancer", Cluster: l.Cluster, Namespace: l.Namespace, Name: l.Name,
			Hours: num(l.Minutes / 60), TotalCost: num(l.Cost), Start: ts(l.Start), End: ts(l.End), sortCost: l.Cost})
	}
	resp.Totals.Total = resp.Totals.Nodes + resp.Totals.Disks + resp.Totals.LoadBalancers
	slices.SortFunc(rows, func(x, y assetJSON) int {
		var c int
		switch field {
		case "name":
			c = strings.Compare(x.Cluster+"/"+x.Namespace+"/"+x.Name, y.Cluster+"/"+y.Namespace+"/"+y.Name)
		case "type":
			c = strings.Compare(x.Type, y.Type)
		case "hours":
			c = cmp.Compare(x.Hours, y.Hours)
		default:
			c = cmp.Compare(x.sortCost, y.sortCost)
		}
		if desc {
			c = -c
		}
		return cmp.Or(c, strings.Compare(x.Type+x.Cluster+x.Namespace+x.Name, y.Type+y.Cluster+y.Namespace+y.Name))
	})
	lo, hi, next := pg.bounds(len(rows))
	resp.Count, resp.Next = len(rows), next
	resp.Data = append(resp.Data, rows[lo:hi]...)
	return resp, nil
}

// assetsResult runs an assets query and applies the caller's scope.
func (a *API) assetsResult(r *http.Request, start, end time.Time) (*query.AssetsResult, error) {
	res, err := a.Query.Assets(r.Context(), cost.NewWindow(start, end))
	if err != nil {
		return nil, err
	}
	if err := a.scopeAssets(r, res); err != nil {
		return nil, err
	}
	return res, nil
}

// SettingsView is the effective, non-secret configuration the settings page
// shows. Settings come from the configuration file (flag > env > file), so the
// API reads them; changing one is a configuration change and a restart.
type SettingsView struct {
	TimeZone        string            `json:"timeZone"`
	Currency        string            `json:"currency"`
	BusinessLabels  map[string]string `json:"businessLabels"`
	Recommendations map[string]any    `json:"recommendations"`
	Auth            map[string]any    `json:"auth"`
	Server          map[string]any    `json:"server"`
	Storage         map[string]any    `json:"storage"`
	Keys            map[string]any    `json:"keys"`
	Retention       map[string]any    `json:"retention"`
	Demo            bool              `json:"demo"`
}

func (a *API) settings(*http.Request) (any, error) {
	out := struct {
		Code int `json:"code"`
		SettingsView
		Source string `json:"source"`
	}{Code: http.StatusOK, Source: "configuration (flag > environment > file > default); change the file and restart"}
	if a.SettingsView != nil {
		out.SettingsView = *a.SettingsView
	}
	return out, nil
}

// KeyVersion is one data-key version of a tenant, without key material.
type KeyVersion struct {
	Version uint32    `json:"version"`
	State   string    `json:"state"`
	KEK     string    `json:"kek"`
	Created time.Time `json:"created"`
	Uses    uint64    `json:"uses"`
}

// KeysStatus is what /api/v1/keys reports: the key-encryption key in use and
// every tenant's data-key versions with their re-encryption progress.
type KeysStatus struct {
	KEK         string       `json:"kek"`
	Provider    string       `json:"provider"`
	RotateEvery string       `json:"rotateEvery"`
	Tenants     []TenantKeys `json:"tenants"`
}

// TenantKeys is one tenant's part of KeysStatus.
type TenantKeys struct {
	Tenant       string       `json:"tenant"`
	Versions     []KeyVersion `json:"versions"`
	Reencryption string       `json:"reencryption"`
}

func (a *API) keysStatus(r *http.Request) (any, error) {
	if a.Keys == nil {
		return nil, errNotConfigured
	}
	st, err := a.Keys(r.Context())
	if err != nil {
		return nil, err
	}
	return struct {
		Code int `json:"code"`
		KeysStatus
	}{http.StatusOK, st}, nil
}

// KeysFunc reports the key status (internal/app implements it over the keyring).
type KeysFunc func(ctx context.Context) (KeysStatus, error)
