package grade

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/status"
)

// AnswersFromTimeline returns the latest answers recorded as answer events, or nil. An answer event carries
// the whole Answers JSON in Data["answers"]; or one fault's FaultAnswer JSON in Data["answer"] with
// Data["fault"] naming it; or Data["process_changes"] (JSON array or newline-separated) and Data["notes"].
// Later events override earlier ones per fault.
func AnswersFromTimeline(tl []status.Event) *Answers {
	var out *Answers
	get := func() *Answers {
		if out == nil {
			out = &Answers{Faults: map[string]FaultAnswer{}}
		}
		return out
	}
	for _, ev := range tl {
		if ev.Kind != status.EventAnswer || ev.Data == nil {
			continue
		}
		if s := ev.Data["answers"]; s != "" {
			var a Answers
			if json.Unmarshal([]byte(s), &a) == nil {
				o := get()
				for k, v := range a.Faults {
					o.Faults[k] = v
				}
				if len(a.ProcessChanges) > 0 {
					o.ProcessChanges = a.ProcessChanges
				}
				if a.Notes != "" {
					o.Notes = a.Notes
				}
				o.At = ev.At
			}
		}
		if s, id := ev.Data["answer"], ev.Data["fault"]; s != "" && id != "" {
			var fa FaultAnswer
			if json.Unmarshal([]byte(s), &fa) == nil {
				get().Faults[id] = fa
				out.At = ev.At
			}
		}
		if s := ev.Data["process_changes"]; s != "" {
			var list []string
			if json.Unmarshal([]byte(s), &list) != nil {
				list = strings.Split(s, "\n")
			}
			get().ProcessChanges = list
			out.At = ev.At
		}
		if s := ev.Data["notes"]; s != "" {
			get().Notes = s
		}
	}
	return out
}

// candidate is one strength or improvement with its weight; the three heaviest are shown.
type candidate struct {
	weight int
	text   string
}

func top3(c []candidate) []string {
	slices.SortStableFunc(c, func(a, b candidate) int { return b.weight - a.weight })
	out := []string{}
	for _, x := range c {
		if len(out) == 3 {
			break
		}
		if !slices.Contains(out, x.text) {
			out = append(out, x.text)
		}
	}
	return out
}

func (g *grader) feedback(card []AreaScore) (strengths, improvements []string) {
	ev := g.ev
	var s, im []candidate
	r := map[string]Rating{}
	for _, a := range card {
		r[a.Area] = a.rating
	}
	notNull := g.active(release.FaultNotNullTrap)

	// strengths
	if r[AreaTriage] >= Intermediate {
		var seen []string
		for _, a := range ev.Looks {
			if fc := ev.firstChange(); fc == nil || !a.At.After(fc.At) {
				seen = append(seen, fmt.Sprintf("%s at %s", a.What, ev.rel(a.At)))
			}
			if len(seen) == 3 {
				break
			}
		}
		s = append(s, candidate{40 + 10*int(r[AreaTriage]), "Looked before acting: " + strings.Join(seen, ", ") + "."})
	}
	if g.healthy && !g.trapped && !g.lost && len(ev.Changes) > 0 {
		how := "kept orders on a release that writes order_metadata"
		if v := ev.RolledBack["orders"]; v != "" && !writesMetadata(v, g.in.State, ev.NoWrite) {
			how = "made order_metadata safe for v2.3.0 before orders went back"
		}
		if !notNull {
			how = "restored service"
		}
		s = append(s, candidate{70, fmt.Sprintf("Mitigated without the rollback trap: %s (%s).", how, g.endState())})
	}
	if g.checkedSchema && notNull && !g.trapped {
		if a := ev.schemaEvaluatedAt(); a != nil {
			s = append(s, candidate{60, fmt.Sprintf("Checked rollback safety first: %s at %s, before any code change.", a.What, ev.rel(a.At))})
		}
	}
	if !g.lost && notNull && len(ev.Changes) > 0 {
		rows := ""
		if g.in.State != nil && g.in.State.MetadataRows > 0 {
			rows = fmt.Sprintf(" (%d rows)", g.in.State.MetadataRows)
		}
		s = append(s, candidate{45, "Kept the order_metadata written since the deploy" + rows + ": no down migration."})
	}
	if ev.Recover != nil {
		s = append(s, candidate{50, fmt.Sprintf("Brought the edge back under 1%% errors: recovered at %s.", ev.rel(*ev.Recover))})
	}
	for _, id := range g.faults {
		if g.faultLevels[id] == 2 {
			f, _ := faults.Lookup(id)
			s = append(s, candidate{55, fmt.Sprintf("Pinpointed %s: PR #%d, the failing function %s.%s and why tests missed it.", id, f.PR, f.Service, f.Functions[0])})
		} else if g.faultLevels[id] == 1 {
			f, _ := faults.Lookup(id)
			s = append(s, candidate{30, fmt.Sprintf("Identified PR #%d as the cause of %s.", f.PR, id)})
		}
	}
	if len(g.practices) > 0 {
		s = append(s, candidate{25 + 10*len(g.practices), "Proposed " + strings.Join(g.practices, ", ") + "."})
	}
	if len(ev.Hints) == 0 && len(ev.Changes) > 0 {
		s = append(s, candidate{35, "Worked the incident without hints."})
	}
	if c, ok := g.checks[CheckUnaffected]; ok && c.Passed {
		s = append(s, candidate{20, "Kept the blast radius small: catalog, search and auth untouched (" + c.Detail + ")."})
	}
	if !g.lost && !g.trapped && len(ev.Changes) == 0 {
		s = append(s, candidate{15, "Made nothing worse: no destructive change, no down migration."})
	}
	// The card asks for three strengths every time: these are true of most runs and rank below the rest.
	if len(ev.Hints) == 0 {
		s = append(s, candidate{8, fmt.Sprintf("Took no hints: every point is the team's own (each hint costs %d).", g.th.HintPenalty)})
	}
	if len(ev.Looks) > 0 {
		a := ev.Looks[0]
		s = append(s, candidate{7, fmt.Sprintf("Went to the live system for evidence: %s at %s.", a.What, ev.rel(a.At))})
	}
	if !g.lost {
		s = append(s, candidate{6, "Every order and payment the shop held survived the incident: no data lost."})
	}
	if len(ev.Changes) > 0 {
		s = append(s, candidate{5, fmt.Sprintf("Acted: %d change(s) to the live system, the first %s at %s.",
			len(ev.Changes), ev.Changes[0].What, ev.rel(ev.Changes[0].At))})
	}
	if c, ok := g.checks[CheckRecordIntact]; ok && c.Passed {
		s = append(s, candidate{2, "Left a record the postmortem can trust: every event on the control room's hash chain."})
	}
	s = append(s, candidate{1, "Saw the incident through to a graded end state."})

	// improvements
	if g.trapped {
		im = append(im, candidate{100, fmt.Sprintf("Orders %s ran against order_metadata NOT NULL without a default from %s%s: "+
			"check `sandbox migrate status` or information_schema before rolling code back past a migration, and "+
			"SET DEFAULT '{}' (or keep orders on v2.4.0) first.", ev.Trap.What, ev.rel(ev.Trap.From), trapEnd(ev))})
	}
	if g.lost {
		im = append(im, candidate{95, "Data loss: " + ev.DataLoss.What + ". During an incident keep what the shop " +
			"wrote: no destructive down migration, DELETE or overwriting UPDATE; make the column nullable or give " +
			"it a default instead."})
	}
	if ev.FlagOffAt != nil && slices.Contains(g.faults, release.FaultFlagLeak) && ev.RolledBack["checkout"] == "" {
		im = append(im, candidate{85, fmt.Sprintf("Turning discount_codes off at %s could not help: the backend "+
			"validation never reads the flag. Read the handler (changelog 892) before trusting a flag.", ev.rel(*ev.FlagOffAt))})
	}
	if !g.healthy {
		// the probes name a fault; the edge figure only says something is still wrong
		order := []string{CheckProbeCheckoutNoCode, CheckProbePayment, CheckProbeCheckoutCode, CheckProbeOrder,
			CheckSchemaCompatible, CheckEdgeSLO}
		for _, id := range g.failing(order...) {
			if g.trapped && id != CheckProbePayment && id != CheckEdgeSLO {
				continue // the trap improvement already explains checkout, orders and the schema
			}
			c := g.checks[id]
			detail := "not run"
			if c.ID != "" {
				detail = c.Detail
			}
			im = append(im, candidate{80, fmt.Sprintf("%s still fails (%s): %s", orDefault(checkTitles[id], id),
				clip(detail, 140), g.nextStep(id))})
			break
		}
	}
	if r[AreaTriage] < Expert {
		first := ""
		if fc := ev.firstChange(); fc != nil {
			first = fmt.Sprintf(" before the first change (%s at %s)", fc.What, ev.rel(fc.At))
		}
		im = append(im, candidate{70 - 10*int(r[AreaTriage]), fmt.Sprintf("Triage in the first %s: `sandbox status`, "+
			"`sandbox changelog` and `sandbox logs` of the failing service%s, to tie the spike to v2.4.0 and size the blast radius.",
			shortDur(g.th.TriageWindow), first)})
	}
	if !g.checkedSchema && notNull && len(ev.Changes) > 0 && !g.trapped {
		im = append(im, candidate{65, "Evaluate rollback safety before acting: `sandbox migrate status` or " +
			"`changelog 905` shows a migration old code cannot live with."})
	}
	for _, id := range g.faults {
		if g.faultLevels[id] < 2 {
			f, _ := faults.Lookup(id)
			im = append(im, candidate{50 - 10*g.faultLevels[id], fmt.Sprintf("Root cause of %s (%s): expected PR #%d and "+
				"the failing function %s.%s, as %s's error log and stack trace name it: %s.",
				id, g.faultNotes[id], f.PR, f.Service, f.Functions[0], f.Service, f.CodePathRef)})
		}
	}
	for _, id := range g.uncovered {
		f, _ := faults.Lookup(id)
		im = append(im, candidate{40, fmt.Sprintf("Process for %s: propose %s.", id, f.Prevention[0])})
	}
	if len(g.practices) > 0 && len(g.practices) < 3 && len(g.uncovered) == 0 {
		im = append(im, candidate{30, "Name more than one guard per failure: add canary deploys, contract tests " +
			"or rollback compatibility tests to " + strings.Join(g.practices, ", ") + "."})
	}
	if n := len(ev.Hints); n > 0 {
		var hs []string
		for _, h := range ev.Hints {
			hs = append(hs, fmt.Sprintf("%s level %d at %s", h.Fault, h.Level, ev.rel(h.At)))
		}
		im = append(im, candidate{35, fmt.Sprintf("Took %d hints (%s), -%d points: try the decision tree "+
			"(deploy correlation, migration compat, dependency compat) before asking.", n, strings.Join(hs, ", "), n*g.th.HintPenalty)})
	}
	if len(ev.Touched) > 0 {
		im = append(im, candidate{60, "Leave healthy services alone: " + strings.Join(ev.Touched, "; ") + "."})
	}
	// stretch goals, from the figures, when little else is left
	if ev.Recover != nil {
		im = append(im, candidate{5, fmt.Sprintf("Time to recovery was %s after %s: rehearse to bring it down.",
			strings.TrimPrefix(ev.rel(*ev.Recover), "+"), ev.RefKind)})
	}
	if fc := ev.firstChange(); fc != nil {
		im = append(im, candidate{4, fmt.Sprintf("The first mitigation came at %s after %s: drill the decision tree "+
			"(deploy correlation, migration compat, dependency compat) so it comes sooner.", ev.rel(fc.At), ev.RefKind)})
	}
	im = append(im, candidate{3, "Write the postmortem: timeline, the three causes, and one owner per process change."},
		candidate{2, "Rehearse the safe paths on a fresh sandbox: expand-contract for #905 (nullable or default, backfill, then NOT NULL) and a targeted rollback that keeps orders on v2.4.0."},
		candidate{1, "Run it again with another `--seed` or a `--faults` subset, so the playbook works when the details change."})
	return top3(s), top3(im)
}

// nextStep suggests the way out for a failing check.
func (g *grader) nextStep(id string) string {
	switch id {
	case CheckProbeCheckoutNoCode:
		if g.active(release.FaultFlagLeak) {
			return "roll back checkout or ship a backend flag gate / null guard."
		}
	case CheckProbePayment, CheckProbeCheckoutCode:
		if g.active(release.FaultSDKBreak) {
			return "roll back payments (payment-sdk 3.1) or call Charge(amount, options)."
		}
	case CheckProbeOrder, CheckSchemaCompatible:
		return "make the schema and the orders code agree (SET DEFAULT '{}', or orders v2.4.0)."
	case CheckEdgeSLO:
		return "find which route still fails in `sandbox status`."
	}
	return "check the logs of the service behind it."
}

var areaResources = map[string]faults.Resource{
	AreaTriage:   faults.ResourceIncidentResponse,
	AreaRollback: faults.ResourceEmergencyResponse,
	AreaProcess:  faults.ResourceCanary,
}

// resources picks 2-3 study links for the weakest areas and the faults behind them.
func (g *grader) resources(card []AreaScore) []faults.Resource {
	order := slices.Clone(card)
	slices.SortStableFunc(order, func(a, b AreaScore) int { return int(a.rating) - int(b.rating) })
	var out []faults.Resource
	add := func(r faults.Resource) {
		if len(out) < 3 && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	first := func(id string, i int) {
		if f, err := faults.Lookup(id); err == nil && i < len(f.Resources) {
			add(f.Resources[i])
		}
	}
	for _, a := range order {
		if a.rating == Expert {
			continue
		}
		switch a.Area {
		case AreaRollback:
			if g.trapped || g.lost || g.active(release.FaultNotNullTrap) {
				first(release.FaultNotNullTrap, 0)
			}
			add(areaResources[a.Area])
		case AreaRootCause:
			for _, id := range g.faults {
				if g.faultLevels[id] < 2 {
					first(id, 0)
					break
				}
			}
		case AreaProcess:
			for _, id := range g.uncovered {
				first(id, 0)
			}
			if !slices.Contains(g.practices, practices[0].Name) {
				add(faults.ResourceCanary)
			}
		default:
			add(areaResources[a.Area])
		}
	}
	if len(out) < 2 {
		add(faults.ResourcePostmortem)
	}
	if len(out) < 2 {
		add(faults.ResourceCanary)
	}
	return out
}

// evidenceLines is the timeline as the grader read it, for the report's appendix, in time order.
func (g *grader) evidenceLines() []string {
	ev := g.ev
	type line struct {
		at   time.Time
		text string
	}
	var ls []line
	addf := func(at time.Time, format string, args ...any) {
		ls = append(ls, line{at, ev.rel(at) + " " + fmt.Sprintf(format, args...)})
	}
	for _, a := range ev.Looks {
		addf(a.At, "look: %s", a.What)
	}
	for _, a := range ev.Changes {
		addf(a.At, "change: %s", a.What)
	}
	if ev.Trap != nil {
		addf(ev.Trap.From, "trap: orders %s against NOT NULL order_metadata without default%s", ev.Trap.What, trapEnd(ev))
	}
	if ev.DataLoss != nil {
		addf(ev.DataLoss.From, "data loss: %s", ev.DataLoss.What)
	}
	for _, h := range ev.Hints {
		addf(h.At, "hint: %s level %d", h.Fault, h.Level)
	}
	if ev.Recover != nil {
		addf(*ev.Recover, "recovered")
	}
	slices.SortStableFunc(ls, func(a, b line) int { return a.at.Compare(b.at) })
	out := []string{}
	if !ev.Ref.IsZero() {
		out = append(out, fmt.Sprintf("times are relative to %s (%s)", ev.RefKind, ev.Ref.UTC().Format("15:04:05Z")))
	}
	for _, l := range ls {
		out = append(out, l.text)
	}
	return out
}
