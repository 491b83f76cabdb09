package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
)

// Demo mode backfills history one hour at a time; each hour can be generated on its
// own and always comes out the same.
func ExampleCluster_Observe() {
	c, err := sim.New(sim.Config{}) // "demo", seed 1, 300 pods at peak
	if err != nil {
		panic(err)
	}
	hour := time.Date(2025, 3, 12, 20, 0, 0, 0, time.UTC) // 15:00 in the cluster's US Eastern day
	obs, err := c.Observe(context.Background(), cost.NewWindow(hour, hour.Add(time.Hour)), time.Minute)
	if err != nil {
		panic(err)
	}
	fmt.Println(obs.Cluster, obs.Slots(), obs.Validate() == nil)
	// Output: demo 60 true
}
