package auth

import (
	"time"

	"github.com/sandbox-labs/sandbox/services/platform"
)

// Dist is the shared simulated-latency distribution.
type Dist = platform.Dist

// Simulated work latencies (calibrate the healthy edge p99 here and in the other services).
var (
	LoginLatency    = Dist{Min: 20 * time.Millisecond, Max: 80 * time.Millisecond, TailProb: 0.02, TailMax: 300 * time.Millisecond}
	SessionLatency  = Dist{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond, TailProb: 0.01, TailMax: 100 * time.Millisecond}
	RefreshInterval = 60 * time.Second
)
