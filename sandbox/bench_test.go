package sandbox

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

func TestAnonMemoryPerCgroupVersion(t *testing.T) {
	for _, tc := range []struct {
		stats map[string]uint64
		want  uint64
	}{
		{map[string]uint64{"anon": 7, "file": 20}, 7},                 // cgroup v2
		{map[string]uint64{"total_rss": 9, "rss": 8, "cache": 30}, 9}, // cgroup v1, hierarchy total first
		{map[string]uint64{"rss": 8}, 8},
		{nil, 0},
	} {
		if got := anonMemory(container.MemoryStats{Usage: 50, Stats: tc.stats}); got != tc.want {
			t.Errorf("anonMemory(%v) = %d, want %d", tc.stats, got, tc.want)
		}
	}
}

func TestServiceRuntimeEnv(t *testing.T) {
	got := withRuntimeEnv([]string{"SANDBOX_NAME=x", "GOGC=200"})
	want := "SANDBOX_NAME=x GOGC=200 GOMEMLIMIT=48MiB"
	if strings.Join(got, " ") != want {
		t.Errorf("withRuntimeEnv = %v, want %s (a spec's own GOGC kept)", got, want)
	}
	if got := withRuntimeEnv(nil); len(got) != len(serviceRuntimeEnv) {
		t.Errorf("withRuntimeEnv(nil) = %v", got)
	}
}
