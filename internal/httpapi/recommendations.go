package httpapi

import (
	"net/http"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/query"
)

type resourcesJSON struct {
	CPUCores    num `json:"cpuCores"`
	RAMBytes    num `json:"ramBytes"`
	MonthlyCost num `json:"monthlyCost"`
}

type recommendationJSON struct {
	Name           string        `json:"name"`
	Cluster        string        `json:"cluster"`
	Namespace      string        `json:"namespace"`
	ControllerKind string        `json:"controllerKind"`
	Controller     string        `json:"controller"`
	Container      string        `json:"container"`
	Start          time.Time     `json:"start"`
	End            time.Time     `json:"end"`
	ContainerHours num           `json:"containerHours"`
	Replicas       num           `json:"replicas"`
	Current        resourcesJSON `json:"current"`
	Recommended    resourcesJSON `json:"recommended"`
	Observed       struct {
		CPUPercentile num `json:"cpuCoresPercentile"`
		CPUPeak       num `json:"cpuCoresPeak"`
		RAMPeak       num `json:"ramBytesPeak"`
	} `json:"observed"`
	CPUPricePerCoreHour num `json:"cpuPricePerCoreHour"`
	RAMPricePerGiBHour  num `json:"ramPricePerGiBHour"`
	MonthlySaving       num `json:"monthlySaving"`
}

type skippedJSON struct {
	Name           string `json:"name"`
	ContainerHours num    `json:"containerHours"`
}

type recommendationsResponse struct {
	Code int                  `json:"code"`
	Data []recommendationJSON `json:"data"`
	// Skipped are workload containers without enough data (recommendations.minHours).
	Skipped  []skippedJSON `json:"skipped"`
	Settings struct {
		Window        windowJSON `json:"window"`
		CPUPercentile num        `json:"cpuPercentile"`
		CPUHeadroom   num        `json:"cpuHeadroomPercent"`
		RAMHeadroom   num        `json:"ramHeadroomPercent"`
		MinHours      num        `json:"minContainerHours"`
	} `json:"settings"`
	MonthlySaving num `json:"monthlySaving"`
}

func newRecommendationJSON(r *allocation.Recommendation) recommendationJSON {
	j := recommendationJSON{
		Name: r.Name(), Cluster: r.Cluster, Namespace: r.Namespace, ControllerKind: r.ControllerKind, Controller: r.Controller, Container: r.Container,
		Start: r.Start, End: r.End, ContainerHours: num(r.ContainerHours), Replicas: num(r.Replicas),
		Current:             resourcesJSON{CPUCores: num(r.CurrentCPU), RAMBytes: num(r.CurrentRAM), MonthlyCost: num(r.CurrentMonthly)},
		Recommended:         resourcesJSON{CPUCores: num(r.RecommendedCPU), RAMBytes: num(r.RecommendedRAM), MonthlyCost: num(r.RecommendedMonthly)},
		CPUPricePerCoreHour: num(r.CPURate), RAMPricePerGiBHour: num(r.RAMRate), MonthlySaving: num(r.MonthlySaving),
	}
	j.Observed.CPUPercentile, j.Observed.CPUPeak, j.Observed.RAMPeak = num(r.CPUPercentileUsage), num(r.CPUPeak), num(r.RAMPeak)
	return j
}

func (a *API) recommendations(r *http.Request) (any, error) {
	req, err := query.ParseRecommendations(r.URL.Query(), a.Now(), a.Settings, a.Recommendations)
	if err != nil {
		return nil, err
	}
	if err := a.scopeRecommendations(r, &req.Options); err != nil {
		return nil, err
	}
	recs, skipped, err := a.Query.Recommendations(r.Context(), req)
	if err != nil {
		return nil, err
	}
	resp := recommendationsResponse{Code: http.StatusOK, Data: make([]recommendationJSON, 0, len(recs)), Skipped: make([]skippedJSON, 0, len(skipped))}
	total := 0.0
	for i := range recs {
		resp.Data = append(resp.Data, newRecommendationJSON(&recs[i]))
		if recs[i].MonthlySaving > 0 {
			total += recs[i].MonthlySaving
		}
	}
	for _, s := range skipped {
		resp.Skipped = append(resp.Skipped, skippedJSON{Name: s.Name, ContainerHours: num(s.Hours)})
	}
	resp.Settings.Window = windowJSON{req.Window.Start, req.Window.End}
	resp.Settings.CPUPercentile = num(req.Options.CPUPercentile)
	resp.Settings.CPUHeadroom = num(req.Options.CPUHeadroom * 100)
	resp.Settings.RAMHeadroom = num(req.Options.RAMHeadroom * 100)
	resp.Settings.MinHours = num(req.Options.MinHours)
	resp.MonthlySaving = num(total)
	return resp, nil
}
