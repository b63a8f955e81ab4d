package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sandbox-labs/sandbox/services/platform"
)

func testConfig(env map[string]string) platform.Config {
	cfg, err := platform.LoadConfig("gateway", func(k string) string { return env[k] })
	if err != nil {
		panic(err)
	}
	return cfg
}

// counterValue reads one counter child.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// seriesCount is how many label sets a collector currently exports.
func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}
