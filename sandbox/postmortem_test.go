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

// pmTimeline is a shipped incident with all three faults and a rollback.
func pmTimeline(t0 time.Time) []status.Event {
	return []status.Event{
		{At: t0.Add(-time.Minute), Kind: status.EventSandboxUp, Actor: "cli", Data: map[string]string{"faults": "not-null-migration,flag-leak,sdk-break"}},
		{At: t0, Kind: status.EventDeployStarted, Actor: "pipeline", To: "v2.4.0", Service: "all"},
		{At: t0.Add(40 * time.Second), Kind: status.EventSpikeStart, Actor: "observed", Detail: "15.2%"},
		{At: t0.Add(2 * time.Minute), Kind: status.EventHint, Actor: "trainee", Detail: "hint 1/4 for orders", Data: map[string]string{"symptom": "orders", "level": "1"}},
		{At: t0.Add(3 * time.Minute), Kind: status.EventRollback, Actor: "cli", Service: "checkout", To: "v2.3.0"},
	}
}

// Before the attempt ends the draft's questions tie no PR to a symptom and name no cause or fix.
func TestPostmortemDraftCarriesNoAnswerKeyBeforeTheEnd(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	if err := WritePostmortem(&b, "team-1", pmTimeline(t0), nil, status.Snapshot{WindowS: 60}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	q := out[strings.Index(out, "## Open questions"):]
	for _, leak := range []string{"#905", "#892", "#901", "discount_codes", "flag", "payment-sdk", "expand-contract", "migration",
		"validateDiscount", "chargeStoredCredential", "createOrder", "SET DEFAULT", "backend", "not-null", "sdk-break", "flag-leak"} {
		if strings.Contains(q, leak) {
			t.Errorf("open questions carry %q before the attempt ended:\n%s", leak, q)
		}
	}
	if strings.Contains(out, "## Root causes") || strings.Contains(out, "## Verdict") {
		t.Errorf("answer key before the end:\n%s", out)
	}
	if !strings.Contains(out, "still open") {
		t.Errorf("the draft does not say the attempt is open:\n%s", out)
	}
}

// Once grade recorded attempt_ended, the draft adds the verdict and the answer key for the faults that ran.
func TestPostmortemAnswerKeyAfterTheEnd(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tl := pmTimeline(t0)
	tl[0].Data["faults"] = "flag-leak,sdk-break"
	tl = append(tl, status.Event{At: t0.Add(9 * time.Minute), Kind: status.EventAttemptEnded, Actor: "cli", Detail: "attempt ended: NOT PASSED, score 40/100",
		Data: map[string]string{"passed": "false", "score": "40", "ratings": "Triage Speed=Novice", "checks": "7/9 passed"}})
	var b bytes.Buffer
	if err := WritePostmortem(&b, "team-1", tl, nil, status.Snapshot{WindowS: 60}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"## Verdict (attempt ended 10:09:00)", "not passed, score 40/100", "Triage Speed=Novice",
		"### PR #892", "checkout.validateDiscount", "### PR #901", "payments.chargeStoredCredential", "discount_codes flag not gate the backend"} {
		if !strings.Contains(out, want) {
			t.Errorf("draft after the end lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "### PR #905") || strings.Contains(out, "Was the #905 migration") {
		t.Errorf("answer key for a fault that did not run:\n%s", out)
	}
	// A look-alike posted by anyone but the CLI does not end the attempt.
	tl[len(tl)-1].Actor = "trainee"
	b.Reset()
	_ = WritePostmortem(&b, "team-1", tl, nil, status.Snapshot{WindowS: 60})
	if strings.Contains(b.String(), "## Root causes") {
		t.Error("an attempt_ended event not from the CLI revealed the answer key")
	}
}
