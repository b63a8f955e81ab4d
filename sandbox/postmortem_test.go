package sandbox

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

func TestPostmortemCitesTheRecord(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tl := []status.Event{
		{At: t0, Kind: status.EventDeployStarted, Actor: "pipeline", To: "v2.4.0", Service: "orders,payments,checkout"},
		{At: t0.Add(40 * time.Second), Kind: status.EventSpikeStart, Actor: "observed", Detail: "15.2%"},
		{At: t0.Add(2 * time.Minute), Kind: status.EventCommand, Actor: "trainee", Detail: "changelog 905"},
		{At: t0.Add(3 * time.Minute), Kind: status.EventRollback, Actor: "cli", Service: "checkout,payments", To: "v2.3.0"},
		{At: t0.Add(3*time.Minute + 30*time.Second), Kind: status.EventDataLoss, Actor: "observed", Service: "orders",
			Detail: "orders.order_metadata dropped: the metadata of 42 orders is gone (ids 7, 8, ...)", Data: map[string]string{"table": "orders", "rows": "42"}},
		{At: t0.Add(4 * time.Minute), Kind: status.EventRecovered, Actor: "observed", Detail: "0.2%"},
	}
	series := []SeriesPoint{{T: t0.Add(-time.Minute), ErrorRate: 0.001}, {T: t0.Add(time.Minute), ErrorRate: 0.153, P99Ms: 460}, {T: t0.Add(5 * time.Minute), ErrorRate: 0.001}}
	var b bytes.Buffer
	if err := WritePostmortem(&b, "team-1", tl, series, status.Snapshot{WindowS: 60}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"# Postmortem draft", "scenario 14:10", "recovered at 10:04:00", "Peak edge error rate 15.3%", "p99 460 ms",
		"Before the deploy the edge error rate was 0.10%", "Data loss: orders.order_metadata dropped: the metadata of 42 orders is gone", "rollback (cli)", "## Open questions"} {
		if !strings.Contains(out, want) {
			t.Errorf("postmortem lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "changelog 905") {
		t.Error("commands belong in the timeline view, not the postmortem's event list")
	}
}
