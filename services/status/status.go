// Package status holds the shape of a sandbox status snapshot, shared by the control room (which computes it)
// and the CLI (which prints it). Error rates are fractions: 0.001 = 0.1%.
package status

import (
	"time"

	"github.com/sandbox-labs/sandbox/services/topology"
)

// Snapshot is what `sandbox status --output json` prints.
type Snapshot struct {
	Name      string     `json:"name"`
	At        time.Time  `json:"at"`
	WindowS   float64    `json:"window_s"`
	Scenario  string     `json:"scenario_clock,omitempty"` // e.g. "14:17" on the scenario's clock
	Edge      Edge       `json:"edge"`
	Endpoints []Endpoint `json:"endpoints"`
	Services  []Service  `json:"services"`
	Flags     []Flag     `json:"flags,omitempty"`
	Loadgen   *Loadgen   `json:"loadgen,omitempty"`
	// Baseline is the edge as this sandbox measured it before the first deploy: what "recovered" is judged
	// against on a host where other sandboxes share the CPU.
	Baseline *Baseline `json:"baseline,omitempty"`
}

// Baseline is the edge over the window before a deploy started.
type Baseline struct {
	At        time.Time `json:"at"` // end of the window
	WindowS   float64   `json:"window_s"`
	P99Ms     float64   `json:"p99_ms"`
	ErrorRate float64   `json:"error_rate"`
	Requests  float64   `json:"requests"`
	Frozen    bool      `json:"frozen"` // a deploy started: the baseline no longer moves
}

// Edge is the all-traffic figure at the gateway.
type Edge struct {
	RPS       float64 `json:"rps"`
	ErrorRate float64 `json:"error_rate"`
	P99Ms     float64 `json:"p99_ms"`
	Requests  float64 `json:"requests"`
	Errors    float64 `json:"errors"`
}

// Endpoint is one edge route family.
type Endpoint struct {
	Route     string  `json:"route"`
	RPS       float64 `json:"rps"`
	ErrorRate float64 `json:"error_rate"`
	P99Ms     float64 `json:"p99_ms"`
	Requests  float64 `json:"requests"`
	Errors    float64 `json:"errors"`
}

// Service is one role with the versions its live instances report.
type Service struct {
	Service   string     `json:"service"`
	Versions  []string   `json:"versions"`
	Healthy   bool       `json:"healthy"`
	Instances []Instance `json:"instances,omitempty"`
	// Restarts is how often the engine restarted the service's running containers after a crash (filled in
	// by the CLI from the engine; the control room cannot see it).
	Restarts int `json:"restarts,omitempty"`
}

// Instance is one container answering on the role's alias.
type Instance struct {
	Address    string `json:"address"`
	Version    string `json:"version"`
	SDKVersion string `json:"sdk_version,omitempty"`
	Healthy    bool   `json:"healthy"`
}

// Flag is a feature flag row.
type Flag struct {
	Name           string `json:"name"`
	Enabled        bool   `json:"enabled"`
	RolloutPercent int    `json:"rollout_percent"`
}

// Loadgen counts what the load generator saw since it started.
type Loadgen struct {
	Sent    float64 `json:"sent"`
	OK      float64 `json:"ok"`
	Errors  float64 `json:"errors"`
	Dropped float64 `json:"dropped"`
}

// Routes are the edge route families in display order (services/topology).
var Routes = topology.Families()

// Roles are the sandbox's service roles in display order (services/topology).
var Roles = topology.Names(nil)
