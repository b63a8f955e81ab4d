package sandbox

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// SeriesPoint is one edge sample from the control room's /api/series.
type SeriesPoint struct {
	T         time.Time          `json:"t"`
	RPS       float64            `json:"rps"`
	ErrorRate float64            `json:"error_rate"`
	P99Ms     float64            `json:"p99_ms"`
	Scenario  string             `json:"scenario,omitempty"`
	Routes    map[string]float64 `json:"routes,omitempty"`
}

// describe renders one event as a line of prose.
func describe(ev status.Event) string {
	who := ev.Actor
	if who == "" {
		who = "cli"
	}
	switch ev.Kind {
	case status.EventCommand:
		return "ran `sandbox " + ev.Detail + "`"
	case status.EventVersionObserved:
		return fmt.Sprintf("%s now serves %s (was %s)", ev.Service, orNone(ev.To), orNone(ev.From))
	case status.EventSchemaObserved:
		return fmt.Sprintf("orders.order_metadata changed: %s -> %s", orNone(ev.From), orNone(ev.To))
	case status.EventMigrationVersion:
		return fmt.Sprintf("schema migration version %s -> %s", ev.From, ev.To)
	case status.EventFlagObserved:
		if ev.Detail != "" {
			return ev.Detail
		}
		return fmt.Sprintf("feature flag %s: %s -> %s", ev.Service, ev.From, ev.To)
	case status.EventSpikeStart:
		return "edge error rate crossed 5%: " + ev.Detail
	case status.EventRecovered:
		return "edge error rate back under 1%: " + ev.Detail
	case status.EventDataLoss:
		return "DATA LOSS: " + ev.Detail
	}
	d := ev.Detail
	if d == "" {
		d = strings.TrimSpace(ev.Service + " " + ev.From + " -> " + ev.To)
	}
	return fmt.Sprintf("%s (%s): %s", ev.Kind, who, d)
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// WriteTimeline prints the timeline as text, one event per line, with scenario-clock times when known.
func WriteTimeline(w io.Writer, tl []status.Event) {
	deploy := deployTime(tl)
	for _, ev := range tl {
		clock := ""
		if !deploy.IsZero() {
			clock = " [" + ScenarioClock(deploy, ev.At) + "]"
		}
		fmt.Fprintf(w, "%s%s  %s\n", ev.At.UTC().Format("15:04:05"), clock, describe(ev))
	}
}

func deployTime(tl []status.Event) time.Time {
	for _, ev := range tl {
		if ev.Kind == status.EventDeployStarted && ev.To == "v2.4.0" && ev.Actor == "pipeline" {
			return ev.At
		}
	}
	return time.Time{}
}

// WritePostmortem prints a postmortem draft a team can paste into its incident doc: summary, impact with
// figures, timeline, what was changed and open questions.
func WritePostmortem(w io.Writer, name string, tl []status.Event, series []SeriesPoint, now status.Snapshot) error {
	deploy := deployTime(tl)
	var spike, recovered time.Time
	var changes []string
	var dataLoss []string
	for _, ev := range tl {
		switch ev.Kind {
		case status.EventSpikeStart:
			if spike.IsZero() {
				spike = ev.At
			}
		case status.EventRecovered:
			if !spike.IsZero() && ev.At.After(spike) {
				recovered = ev.At
			}
		case status.EventDeployStarted, status.EventRollback, status.EventMigration, status.EventReleaseCreated, status.EventFlagObserved, status.EventSchemaObserved:
			if ev.Actor != "pipeline" {
				changes = append(changes, fmt.Sprintf("%s — %s", ev.At.UTC().Format("15:04:05"), describe(ev)))
			}
		case status.EventDataLoss:
			dataLoss = append(dataLoss, ev.Detail)
		}
	}
	peak, peakP99, base := 0.0, 0.0, -1.0
	for _, p := range series {
		if !spike.IsZero() && p.T.After(spike) && (recovered.IsZero() || p.T.Before(recovered)) {
			peak = max(peak, p.ErrorRate)
			peakP99 = max(peakP99, p.P99Ms)
		}
		if !deploy.IsZero() && p.T.Before(deploy) && base < 0 {
			base = p.ErrorRate
		}
	}
	fmt.Fprintf(w, "# Postmortem draft: v2.4.0 deploy incident (sandbox %s)\n\n", name)
	fmt.Fprintln(w, "## Summary")
	switch {
	case deploy.IsZero():
		fmt.Fprintln(w, "v2.4.0 has not been deployed in this sandbox.")
	case spike.IsZero():
		fmt.Fprintf(w, "v2.4.0 was deployed at %s (scenario 14:00); no error spike was recorded.\n", deploy.UTC().Format("15:04:05"))
	default:
		state := "and the incident is still open"
		if !recovered.IsZero() {
			state = fmt.Sprintf("and the edge recovered at %s (scenario %s), %s after the spike began", recovered.UTC().Format("15:04:05"),
				ScenarioClock(deploy, recovered), recovered.Sub(spike).Round(time.Second))
		}
		fmt.Fprintf(w, "v2.4.0 (PRs #892, #901, #905) was deployed at %s (scenario 14:00). Edge errors spiked at %s (scenario %s), %s.\n",
			deploy.UTC().Format("15:04:05"), spike.UTC().Format("15:04:05"), ScenarioClock(deploy, spike), state)
	}
	fmt.Fprintln(w, "\n## Impact")
	if peak > 0 {
		fmt.Fprintf(w, "- Peak edge error rate %.1f%% and p99 %.0f ms (10 s windows) while the incident was open.\n", peak*100, peakP99)
	}
	if base >= 0 {
		fmt.Fprintf(w, "- Before the deploy the edge error rate was %.2f%%.\n", base*100)
	}
	fmt.Fprintf(w, "- Now: edge error rate %.2f%%, p99 %.0f ms over the last %.0f s.\n", now.Edge.ErrorRate*100, now.Edge.P99Ms, now.WindowS)
	for _, ep := range now.Endpoints {
		if ep.ErrorRate >= 0.01 {
			fmt.Fprintf(w, "- %s still failing: %.1f%% errors.\n", ep.Route, ep.ErrorRate*100)
		}
	}
	for _, d := range dataLoss {
		fmt.Fprintf(w, "- Data loss: %s.\n", d)
	}
	fmt.Fprintln(w, "\n## Timeline (UTC, scenario clock in brackets)")
	for _, ev := range tl {
		if ev.Kind == status.EventCommand || ev.Kind == "observed_initial" {
			continue
		}
		clock := ""
		if !deploy.IsZero() {
			clock = " [" + ScenarioClock(deploy, ev.At) + "]"
		}
		fmt.Fprintf(w, "- %s%s %s\n", ev.At.UTC().Format("15:04:05"), clock, describe(ev))
	}
	fmt.Fprintln(w, "\n## What was changed")
	if len(changes) == 0 {
		fmt.Fprintln(w, "- Nothing yet.")
	}
	for _, c := range changes {
		fmt.Fprintln(w, "- "+c)
	}
	fmt.Fprintln(w, "\n## Open questions")
	fmt.Fprintln(w, "- Which PR caused each share of the errors, and which exact code path failed?")
	fmt.Fprintln(w, "- Was the #905 migration backward compatible with v2.3.0? What would expand-contract have looked like?")
	fmt.Fprintln(w, "- Why did the discount_codes flag not gate the backend, and why did no test catch it?")
	fmt.Fprintln(w, "- How does a major dependency bump (payment-sdk 3.1 -> 4.0) get reviewed and contract-tested?")
	fmt.Fprintln(w, "- Would a canary have caught this before all traffic saw it?")
	return nil
}
