package catalog

import (
	"time"

	"github.com/sandbox-labs/sandbox/services/platform"
)

// Dist is the shared simulated-latency distribution.
type Dist = platform.Dist

// Simulated work latencies. Calibrate here: the healthy edge p99 (~200 ms) is set by these plus the
// other services' distributions and the mix in services/loadgen.
var (
	SearchLatency   = Dist{Min: 15 * time.Millisecond, Max: 60 * time.Millisecond, TailProb: 0.02, TailMax: 300 * time.Millisecond}
	ListLatency     = Dist{Min: 5 * time.Millisecond, Max: 40 * time.Millisecond, TailProb: 0.02, TailMax: 300 * time.Millisecond}
	ProductLatency  = Dist{Min: 5 * time.Millisecond, Max: 30 * time.Millisecond, TailProb: 0.01, TailMax: 100 * time.Millisecond}
	RefreshInterval = 30 * time.Second
)
