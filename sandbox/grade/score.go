package grade

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/services/release"
)

// Points per rating; four areas make MaxScore.
var ratingPoints = map[Rating]int{Novice: 5, Intermediate: 15, Expert: 25}

// MaxScore is the best numeric score.
const MaxScore = 100

// Grade judges the run. It never fails: missing evidence lowers ratings and says so.
func Grade(in Input) *Result {
	th := in.Thresholds
	if th == (Thresholds{}) {
		th = DefaultThresholds()
	}
	fs := activeFaults(in.Faults, in.Timeline)
	ev := analyze(in.Timeline, in.State, fs)
	ans := in.Answers
	if ans == nil {
		ans = AnswersFromTimeline(in.Timeline)
	}
	g := &grader{in: in, th: th, ev: ev, ans: ans, faults: fs, checks: map[string]Check{}}
	for _, c := range in.Checks {
		g.checks[c.ID] = c
	}
	res := &Result{Passed: len(in.Checks) > 0, Checks: in.Checks, Faults: fs, MaxScore: MaxScore,
		HintsTaken: ev.Hints, Meta: map[string]string{}}
	if res.Checks == nil {
		res.Checks = []Check{}
	}
	for _, c := range in.Checks {
		res.Passed = res.Passed && c.Passed
	}
	if ev.HasSpike {
		t := ev.Ref
		res.SpikeStart = &t
	}
	res.Scorecard = []AreaScore{g.triage(), g.rollback(), g.rootCause(), g.process()}
	for _, a := range res.Scorecard {
		res.Score += ratingPoints[a.rating]
	}
	res.Score = max(0, res.Score-th.HintPenalty*len(ev.Hints))
	res.Strengths, res.Improvements = g.feedback(res.Scorecard)
	res.Resources = g.resources(res.Scorecard)
	res.Evidence = g.evidenceLines()
	res.Meta["reference"] = ev.RefKind
	return res
}

type grader struct {
	in     Input
	th     Thresholds
	ev     *evidence
	ans    *Answers
	faults []string
	checks map[string]Check

	// filled by the area functions for feedback
	trapped, lost, checkedSchema, healthy bool
	faultLevels                           map[string]int
	faultNotes                            map[string]string
	practices                             []string
	uncovered                             []string
	genericTests                          bool
}

func area(name string, r Rating, format string, args ...any) AreaScore {
	return AreaScore{Area: name, Rating: r.String(), rating: r, Justification: fmt.Sprintf(format, args...)}
}

func (g *grader) active(id string) bool { return slices.Contains(g.faults, id) }

func (g *grader) refWord() string {
	if g.ev.RefKind == "" {
		return "no spike recorded"
	}
	return "relative to " + g.ev.RefKind
}

func (g *grader) triage() AreaScore {
	ev := g.ev
	fc := ev.firstChange()
	before := func(a action) bool { return fc == nil || !a.At.After(fc.At) }
	within := func(a *action) bool { return a != nil && !a.At.After(ev.Ref.Add(g.th.TriageWindow)) }
	st := ev.firstLook(func(a action) bool { return a.Status && before(a) })
	cl := ev.firstLook(func(a action) bool { return a.Changelog && before(a) })
	lg := ev.firstLook(func(a action) bool { return a.AffectedLogs && before(a) })
	any := ev.firstLook(func(a action) bool { return before(a) })
	var seen []string
	for _, a := range []*action{st, cl, lg} {
		if a != nil {
			seen = append(seen, fmt.Sprintf("%s at %s", a.What, ev.rel(a.At)))
		}
	}
	first := "no change was made"
	if fc != nil {
		first = fmt.Sprintf("first change %s at %s", fc.What, ev.rel(fc.At))
	}
	switch {
	case st != nil && cl != nil && lg != nil && within(st) && within(cl) && within(lg):
		return area(AreaTriage, Expert, "%s, all within %s of %s and before any change (%s): deploy correlated, "+
			"affected service inspected.", strings.Join(seen, ", "), shortDur(g.th.TriageWindow), ev.RefKind, first)
	case any != nil:
		var missing []string
		if st == nil {
			missing = append(missing, "status")
		}
		if cl == nil {
			missing = append(missing, "changelog")
		}
		if lg == nil {
			missing = append(missing, "logs of checkout/orders/payments")
		}
		why := "missing before the first change: " + strings.Join(missing, ", ")
		if len(missing) == 0 {
			why = fmt.Sprintf("but not all within %s of %s", shortDur(g.th.TriageWindow), ev.RefKind)
		}
		if len(seen) == 0 {
			seen = []string{fmt.Sprintf("%s at %s", any.What, ev.rel(any.At))}
		}
		return area(AreaTriage, Intermediate, "Looked before acting (%s; %s), %s.", strings.Join(seen, ", "), first, why)
	case fc != nil:
		return area(AreaTriage, Novice, "The %s came with no look at status, changelog or logs before it (%s); "+
			"the spike was never correlated with the deploy.", first, g.refWord())
	default:
		return area(AreaTriage, Novice, "No investigation recorded: no status, changelog or logs command after %s "+
			"(%d commands in all).", orDefault(ev.RefKind, "the deploy"), ev.CommandCount)
	}
}

func shortDur(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

func (g *grader) allPass(ids ...string) bool {
	for _, id := range ids {
		if c, ok := g.checks[id]; !ok || !c.Passed {
			return false
		}
	}
	return true
}

func (g *grader) failing(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if c, ok := g.checks[id]; !ok || !c.Passed {
			out = append(out, id)
		}
	}
	return out
}

var healthChecks = []string{CheckEdgeSLO, CheckProbeCheckoutNoCode, CheckProbeCheckoutCode, CheckProbeOrder,
	CheckProbePayment, CheckSchemaCompatible}

func (g *grader) rollback() AreaScore {
	ev := g.ev
	g.healthy = g.allPass(healthChecks...)
	g.trapped, g.lost = ev.Trap != nil, ev.DataLoss != nil
	fcc := ev.firstCodeChange()
	var safety *action
	if g.active(release.FaultNotNullTrap) {
		safety = ev.schemaEvaluatedAt()
	} else {
		safety = ev.firstLook(func(a action) bool { return a.Changelog || a.DepLook || a.SchemaLook })
	}
	g.checkedSchema = safety != nil && (fcc == nil || !safety.At.After(fcc.At))
	checked := "no schema or migration check before rolling back"
	if g.checkedSchema {
		checked = fmt.Sprintf("rollback safety checked with %s at %s", safety.What, ev.rel(safety.At))
	}
	endState := g.endState()
	var what []string
	for _, c := range ev.Changes {
		if len(what) == 4 {
			what = append(what, "...")
			break
		}
		what = append(what, fmt.Sprintf("%s at %s", c.What, ev.rel(c.At)))
	}
	rating := func(ok bool) Rating {
		if ok {
			return Intermediate
		}
		return Novice
	}
	switch {
	case len(ev.Changes) == 0:
		return area(AreaRollback, Novice, "No rollback, fix or mitigation was made; %s.", endState)
	case g.trapped || g.lost:
		var hits []string
		if g.trapped {
			hits = append(hits, fmt.Sprintf("ROLLBACK TRAP hit at %s: orders %s ran against order_metadata NOT NULL "+
				"without a default (every insert fails with 23502)%s", ev.rel(ev.Trap.From), ev.Trap.What, trapEnd(ev)))
		}
		if g.lost {
			hits = append(hits, "DATA LOSS: "+ev.DataLoss.What)
		}
		return area(AreaRollback, rating(g.checkedSchema), "%s; %s. Actions: %s; %s.", strings.Join(hits, "; "),
			checked, strings.Join(what, ", "), endState)
	case !g.healthy:
		return area(AreaRollback, rating(g.checkedSchema), "%s, but the incident is not mitigated (%s). Actions: %s.",
			capitalize(checked), endState, strings.Join(what, ", "))
	case !g.checkedSchema:
		return area(AreaRollback, Intermediate, "Healthy end state without the trap or data loss (%s), but %s: "+
			"safe by luck, not by evaluation. Actions: %s.", endState, checked, strings.Join(what, ", "))
	default:
		dep := ""
		if a := ev.firstLook(func(a action) bool { return a.DepLook }); a != nil && g.active(release.FaultSDKBreak) {
			dep = fmt.Sprintf(", dependency checked with %s at %s", a.What, ev.rel(a.At))
		}
		return area(AreaRollback, Expert, "%s%s; no trap, no data lost; %s. Actions: %s.", capitalize(checked), dep,
			endState, strings.Join(what, ", "))
	}
}

func trapEnd(ev *evidence) string {
	if ev.Trap.To.IsZero() {
		return ", still live at the end"
	}
	return fmt.Sprintf(" until %s", ev.rel(ev.Trap.To))
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (g *grader) endState() string {
	if c, ok := g.checks[CheckEdgeSLO]; ok {
		s := "end state: " + c.Detail
		if f := g.failing(healthChecks...); len(f) > 0 {
			s += "; failing: " + strings.Join(f, ", ")
		}
		if g.ev.Recover != nil {
			s += fmt.Sprintf("; recovered at %s", g.ev.rel(*g.ev.Recover))
		}
		return s
	}
	return "end state not checked"
}

// answerFor finds the answer for fault f: filed under its symptom name, else under its id, an alias or its
// PR number; else one filed under a key that names no symptom at all and gives f's PR (a misfiled answer).
// An answer filed under another symptom is that symptom's answer only: it never counts for a second fault.
func (g *grader) answerFor(f faults.Fault) (FaultAnswer, bool) {
	if g.ans == nil {
		return FaultAnswer{}, false
	}
	if a, ok := g.ans.Faults[f.Name]; ok {
		return a, true
	}
	keys := make([]string, 0, len(g.ans.Faults))
	for k := range g.ans.Faults {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if lf, err := faults.Lookup(k); err == nil && lf.ID == f.ID {
			return g.ans.Faults[k], true
		}
	}
	for _, k := range keys {
		if _, err := faults.Lookup(k); err != nil && g.ans.Faults[k].PR == f.PR {
			return g.ans.Faults[k], true
		}
	}
	return FaultAnswer{}, false
}

// funcAnswer parses an answered function: one Go identifier, bare or qualified the way Go's stack traces and
// the services' log lines print it ("validateDiscount", "validateDiscount()", "checkout.validateDiscount",
// "checkout.(*Service).validateDiscount"). A list, a sentence or anything else is no function name.
var funcAnswer = regexp.MustCompile(`^(?:([A-Za-z_][\w./-]*)\.)?(?:\(\*?[A-Za-z_]\w*\)\.)?([A-Za-z_]\w*)(?:\(\))?$`)

// FunctionMatches reports whether answer names one of f's failing functions. A package qualifier, when given,
// must be the fault's service; case is forgiven, nothing else is.
func FunctionMatches(f faults.Fault, answer string) bool {
	m := funcAnswer.FindStringSubmatch(strings.TrimSpace(answer))
	if m == nil {
		return false
	}
	if pkg := m[1]; pkg != "" && !strings.EqualFold(pkg[strings.LastIndex(pkg, "/")+1:], f.Service) {
		return false
	}
	for _, fn := range f.Functions {
		if strings.EqualFold(m[2], fn) {
			return true
		}
	}
	return false
}

// minExplanation is the shortest why-tests-missed text that counts as an explanation at all. Its content is
// for the reader of the scorecard, not for the rating: keywords earn nothing.
const minExplanation = 15

// rootCause rates the structured answers only: the right PR for each active fault, then the failing
// function. Free text is quoted as support and never raises a rating, so text stuffed with every fault's
// keywords earns exactly what the structured answer beside it earns.
func (g *grader) rootCause() AreaScore {
	g.faultLevels, g.faultNotes = map[string]int{}, map[string]string{}
	if g.ans == nil || len(g.ans.Faults) == 0 {
		for _, id := range g.faults {
			g.faultLevels[id], g.faultNotes[id] = 0, "no answer recorded"
		}
		return area(AreaRootCause, Novice, "No root-cause answers recorded (`sandbox answer`): no PR named for %s.",
			strings.Join(g.faults, ", "))
	}
	var parts []string
	rightPR, full, wrongCompat := 0, 0, false
	for _, id := range g.faults {
		f, _ := faults.Lookup(id)
		a, ok := g.answerFor(f)
		lvl, note := 0, ""
		switch {
		case !ok:
			note = "no answer"
		case a.PR != f.PR:
			note = fmt.Sprintf("named PR #%d, not #%d", a.PR, f.PR)
			if a.PR == 0 {
				note = "no PR named"
			}
		default:
			lvl, rightPR = 1, rightPR+1
			var got, miss []string
			fn := strings.TrimSpace(a.Function)
			switch {
			case FunctionMatches(f, fn):
				got = append(got, "failing function "+fn)
			case fn == "":
				miss = append(miss, fmt.Sprintf("the failing function (expected %s)", f.Functions[0]))
			default:
				miss = append(miss, fmt.Sprintf("the failing function (named %q, expected %s)", clip(fn, 40), f.Functions[0]))
			}
			if len(strings.TrimSpace(a.WhyTestsMissed)) >= minExplanation {
				got = append(got, fmt.Sprintf("why tests missed it (%q)", clip(a.WhyTestsMissed, 60)))
			} else {
				miss = append(miss, "why tests missed it")
			}
			if id == release.FaultNotNullTrap && a.MigrationBackwardCompatible != nil && *a.MigrationBackwardCompatible {
				wrongCompat = true
				miss = append(miss, "called migration 5 backward compatible (it is not)")
			}
			if len(miss) == 0 {
				lvl, full = 2, full+1
			}
			note = fmt.Sprintf("PR #%d right", f.PR)
			if len(got) > 0 {
				note += ", " + strings.Join(got, ", ")
			}
			if len(miss) > 0 {
				note += "; missing " + strings.Join(miss, ", ")
			}
		}
		g.faultLevels[id], g.faultNotes[id] = lvl, note
		parts = append(parts, id+": "+note)
	}
	n := len(g.faults)
	r := Novice
	switch {
	case n > 0 && full == n && !wrongCompat:
		r = Expert
	case rightPR > 0 && rightPR*2 >= n:
		r = Intermediate
	}
	cap := ""
	if r == Expert {
		for _, h := range g.ev.Hints {
			if h.Last {
				r = Intermediate
				cap = fmt.Sprintf(" Capped at Intermediate: took the last %s hint at %s.", h.Fault, g.ev.rel(h.At))
				break
			}
		}
	}
	return area(AreaRootCause, r, "%s.%s", strings.Join(parts, "; "), cap)
}

// practice is a process change the card expects, with the faults it prevents.
type practice struct {
	Name   string
	Re     *regexp.Regexp
	Covers []string
}

var practices = []practice{
	{"canary / staged rollout", regexp.MustCompile(`(?i)canar|staged roll|progressive (roll|deliver)|gradual|blue.?green|percentage roll|incremental roll`), nil},
	{"expand-contract migrations", regexp.MustCompile(`(?i)expand|parallel change|backwards?.?compatible (migration|schema)|nullable|backfill|two.?(phase|step) migration|multi.?step migration`),
		[]string{release.FaultNotNullTrap}},
	{"rollback compatibility testing", regexp.MustCompile(`(?i)n-1|rollback (test|drill|plan|check)|test(ing)? (the )?rollback|previous (version|release)|old code`),
		[]string{release.FaultNotNullTrap}},
	{"feature flag policy (frontend and backend)", regexp.MustCompile(`(?i)flag.*(backend|server|both|review|lint|handler|api)|(backend|server).*flag`),
		[]string{release.FaultFlagLeak}},
	{"dependency update policy", regexp.MustCompile(`(?i)major|semver|dependenc|\bpin|renovate|dependabot|upgrade policy|sdk (upgrade|update|review|bump)`),
		[]string{release.FaultSDKBreak}},
	{"contract tests", regexp.MustCompile(`(?i)contract.?test|consumer.?driven|\bpact\b`), []string{release.FaultSDKBreak}},
}

func practiceIndex(name string) int {
	return slices.IndexFunc(practices, func(p practice) bool { return p.Name == name })
}

var genericTests = regexp.MustCompile(`(?i)\btest|coverage|\bqa\b`)

func (g *grader) processTexts() []string {
	if g.ans == nil {
		return nil
	}
	texts := slices.Clone(g.ans.ProcessChanges)
	for _, a := range g.ans.Faults {
		texts = append(texts, a.ProcessChanges...)
	}
	return texts
}

func (g *grader) process() AreaScore {
	texts := g.processTexts()
	all := strings.Join(texts, "\n")
	covered := map[string]bool{}
	// Each proposal counts for one practice at most: a line stuffed with every practice's words is one
	// proposal, not six.
	for _, t := range texts {
		var match []practice
		for _, p := range practices {
			if p.Re.MatchString(t) {
				match = append(match, p)
			}
		}
		if len(match) == 0 {
			continue
		}
		pick := match[0]
		for _, p := range match {
			if !slices.Contains(g.practices, p.Name) {
				pick = p
				break
			}
		}
		if slices.Contains(g.practices, pick.Name) {
			continue
		}
		g.practices = append(g.practices, pick.Name)
		for _, f := range pick.Covers {
			covered[f] = true
		}
	}
	slices.SortStableFunc(g.practices, func(a, b string) int { return practiceIndex(a) - practiceIndex(b) })
	for _, f := range g.faults {
		if !covered[f] {
			g.uncovered = append(g.uncovered, f)
		}
	}
	g.genericTests = genericTests.MatchString(all)
	switch {
	case strings.TrimSpace(all) == "":
		return area(AreaProcess, Novice, "No process changes recorded.")
	case len(g.practices) >= 3 && len(g.uncovered) == 0:
		return area(AreaProcess, Expert, "%d distinct practices covering every active fault: %s.", len(g.practices),
			strings.Join(g.practices, ", "))
	case len(g.practices) > 0 || g.genericTests:
		var s string
		if len(g.practices) > 0 {
			s = "Proposed " + strings.Join(g.practices, ", ")
		} else {
			s = fmt.Sprintf("Only generic testing proposed (%q)", clip(texts[0], 60))
		}
		if len(g.uncovered) > 0 {
			s += "; nothing that prevents " + strings.Join(g.uncovered, ", ")
		} else {
			s += fmt.Sprintf("; %d of the 3 practices needed", len(g.practices))
		}
		return area(AreaProcess, Intermediate, "%s.", s)
	default:
		return area(AreaProcess, Novice, "%d process notes recorded, none naming a practice that would have "+
			"prevented these faults (e.g. %q).", len(texts), clip(texts[0], 60))
	}
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
