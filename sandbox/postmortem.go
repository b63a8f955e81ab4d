package sandbox

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/services/release"
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
	ended, attempt := endedEvent(tl)
	if !ended {
		// Before the attempt ends the draft asks; it does not answer. No PR is tied to a symptom here and no
		// fix is named: the trainee reads this while still working the incident.
		fmt.Fprintln(w, "\n## Open questions")
		fmt.Fprintln(w, "- Which PR caused each share of the errors, and which function failed (as the service's logs name it)?")
		fmt.Fprintln(w, "- Was every change in the release safe to roll back? How would you know before rolling back?")
		fmt.Fprintln(w, "- For each cause: why did no test catch it, and what test would have?")
		fmt.Fprintln(w, "- Which guard (review, tests, staged rollout, release policy) would have stopped each cause?")
		fmt.Fprintln(w, "- Would a canary have caught this before all traffic saw it?")
		fmt.Fprintln(w, "\n_The attempt is still open: `sandbox grade` ends it and adds the verdict and the answer key here._")
		return nil
	}
	writeAnswerKey(w, tl, attempt)
	return nil
}

// endedEvent is the CLI's attempt_ended event, the end of the attempt.
func endedEvent(tl []status.Event) (bool, status.Event) {
	for _, ev := range tl {
		if ev.Kind == status.EventAttemptEnded && ev.Actor == "cli" {
			return true, ev
		}
	}
	return false, status.Event{}
}

// activeFaults are the faults this sandbox ran, as the attempt_ended verdict names them (older records:
// sandbox_up's Data["faults"]), else the whole catalogue.
func activeFaults(tl []status.Event) []faults.Fault {
	for _, ev := range tl {
		if (ev.Kind != status.EventSandboxUp && ev.Kind != status.EventAttemptEnded) || ev.Data == nil {
			continue
		}
		if s, ok := ev.Data["faults"]; ok {
			var out []faults.Fault
			for _, id := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
				if f, err := faults.Lookup(id); err == nil {
					out = append(out, f)
				}
			}
			if len(out) > 0 { // sandbox_up carries only how many
				return out
			}
		}
	}
	return faults.All()
}

// writeAnswerKey is the part of the draft that exists only once the attempt ended: the recorded verdict
// and, per fault, its PR, failing function, mechanism, safe ways out and prevention.
func writeAnswerKey(w io.Writer, tl []status.Event, ended status.Event) {
	fmt.Fprintf(w, "\n## Verdict (attempt ended %s)\n", ended.At.UTC().Format("15:04:05"))
	verdict := "not passed"
	if ended.Data["passed"] == "true" {
		verdict = "passed"
	}
	fmt.Fprintf(w, "- %s, score %s/100\n", verdict, firstOf(ended.Data["score"], "?"))
	if r := ended.Data["ratings"]; r != "" {
		fmt.Fprintf(w, "- %s\n", r)
	}
	if c := ended.Data["checks"]; c != "" {
		fmt.Fprintf(w, "- checks: %s\n", c)
	}
	fmt.Fprintln(w, "\n## Root causes (answer key)")
	for _, f := range activeFaults(tl) {
		fmt.Fprintf(w, "\n### PR #%d: %s (%s)\n", f.PR, f.Title, f.Service)
		fmt.Fprintf(w, "- What happened: %s\n", f.Symptom)
		fmt.Fprintf(w, "- Failing function: %s.%s; code path: %s\n", f.Service, f.Functions[0], f.CodePathRef)
		fmt.Fprintf(w, "- Safe ways out: %s\n", strings.Join(f.Fixes, "; "))
		if len(f.Dangerous) > 0 {
			fmt.Fprintf(w, "- Dangerous: %s\n", strings.Join(f.Dangerous, "; "))
		}
		fmt.Fprintf(w, "- Prevention: %s\n", strings.Join(f.Prevention, "; "))
	}
	fmt.Fprintln(w, "\n## Questions for the review")
	review := map[string]string{
		release.FaultNotNullTrap: "Was the #905 migration backward compatible with v2.3.0? What would expand-contract have looked like?",
		release.FaultFlagLeak:    "Why did the discount_codes flag not gate the backend, and why did no test catch it?",
		release.FaultSDKBreak:    "How does a major dependency bump (payment-sdk 3.1 -> 4.0) get reviewed and contract-tested?",
	}
	for _, f := range activeFaults(tl) {
		if q := review[f.ID]; q != "" {
			fmt.Fprintln(w, "- "+q)
		}
	}
	fmt.Fprintln(w, "- Would a canary have caught this before all traffic saw it?")
}
