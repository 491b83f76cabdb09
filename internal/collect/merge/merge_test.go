package merge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/collect/merge"
	"github.com/costwarden/costwarden/internal/cost"
)

type usage struct{ err error }

func (usage) Name() string { return "c" }
func (u usage) Observe(_ context.Context, w cost.Window, res time.Duration) (*cost.Observation, error) {
	if u.err != nil {
		return nil, u.err
	}
	return &cost.Observation{Cluster: "c", Window: w, Resolution: res, Pods: []cost.Pod{{Name: "p", Labels: map[string]string{"app_kubernetes_io_name": "x"}}}}, nil
}

func TestEnrichAppliesOnTopOfUsage(t *testing.T) {
	w := cost.NewWindow(time.Unix(0, 0), time.Unix(3600, 0))
	s := &merge.Source{Usage: usage{}, Enrich: func(o *cost.Observation) {
		o.Pods[0].Labels = map[string]string{"app.kubernetes.io/name": "x"}
		o.Pods[0].ControllerKind = "deployment"
	}}
	obs, err := s.Observe(context.Background(), w, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if obs.Pods[0].Labels["app.kubernetes.io/name"] != "x" || obs.Pods[0].ControllerKind != "deployment" || s.Name() != "c" {
		t.Errorf("not enriched: %+v", obs.Pods[0])
	}
	boom := errors.New("prometheus down")
	called := false
	s = &merge.Source{Usage: usage{err: boom}, Enrich: func(*cost.Observation) { called = true }}
	if _, err := s.Observe(context.Background(), w, time.Minute); !errors.Is(err, boom) || called {
		t.Errorf("a failed observation: %v, enrich called %v", err, called)
	}
	hours, err := s.Coverage(context.Background(), w.Start, w.Start.Add(3*time.Hour))
	if err != nil || len(hours) != 3 {
		t.Errorf("coverage of a source that cannot tell: %v %v", hours, err)
	}
}
