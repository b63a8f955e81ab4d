package grade

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/faults"
)

// stuffing is every word the catalogue judges or explains with, for every fault: what a trainee who pastes
// the keyword list instead of an analysis would write.
func stuffing() string {
	var w []string
	for _, f := range faults.All() {
		w = append(w, f.Keywords...)
		for _, g := range f.CodePath {
			w = append(w, g...)
		}
		w = append(w, f.Functions...)
		w = append(w, f.CodePathRef, f.Symptom)
		w = append(w, f.Fixes...)
		w = append(w, f.Prevention...)
		w = append(w, fmt.Sprintf("PR #%d", f.PR))
	}
	return strings.Join(w, " ")
}

// answer kinds per fault, from nothing to the full structured answer.
const (
	kindNone = iota
	kindWrongPR
	kindRightPR
	kindWrongFunction
	kindFull
	kinds
)

var kindNames = []string{"none", "wrong PR", "right PR", "right PR wrong function", "full"}

// structured builds the answer of kind k for fault f; stuffed fills every free-text field (and, where the
// function is not the right one anyway, the function field) with the stuffing, plain with honest filler.
func structured(f faults.Fault, k int, stuffed bool) (FaultAnswer, bool) {
	text, fn := "our tests did not cover this case at all", "handleRequest"
	if stuffed {
		text = stuffing()
		fn = strings.Join(allFunctions(), " ")
	}
	a := FaultAnswer{CodePath: text, WhyTestsMissed: text, MigrationWhy: text, Notes: text}
	switch k {
	case kindNone:
		if !stuffed {
			return FaultAnswer{}, false
		}
		a.Function = fn // no PR at all, only text
	case kindWrongPR:
		a.PR, a.Function = wrongPR(f), fn
		if stuffed {
			a.Function = f.Functions[0] // even the right function does not rescue a wrong PR
		}
	case kindRightPR:
		a.PR = f.PR
		if stuffed {
			a.Function = fn
		}
	case kindWrongFunction:
		a.PR, a.Function = f.PR, fn
	case kindFull:
		a.PR, a.Function = f.PR, f.Service+"."+f.Functions[0]
	}
	return a, true
}

func allFunctions() []string {
	var out []string
	for _, f := range faults.All() {
		out = append(out, f.Functions...)
	}
	return out
}

func wrongPR(f faults.Fault) int {
	for _, g := range faults.All() {
		if g.PR != f.PR {
			return g.PR
		}
	}
	return 1
}

// Property: over every combination of active faults and every structured answer per fault, filling the
// free text with every fault's keywords rates root cause (and scores) no higher than the same structured
// answer with plain text. In particular a wrong PR with stuffed text earns what a plain wrong one does.
func TestPropertyKeywordStuffingEarnsNothing(t *testing.T) {
	cases := 0
	for _, fs := range faultSubsets() {
		total := 1
		for range fs {
			total *= kinds
		}
		for combo := 0; combo < total; combo++ {
			ks, c := make([]int, len(fs)), combo
			for i := range fs {
				ks[i], c = c%kinds, c/kinds
			}
			grade := func(stuffed bool) (*Result, Rating) {
				r := expertRun(t)
				r.events[0].Data["faults"] = strings.Join(fs, ",")
				r.ans.Faults = map[string]FaultAnswer{}
				for i, id := range fs {
					f, _ := faults.Lookup(id)
					if a, ok := structured(f, ks[i], stuffed); ok {
						r.ans.Faults[f.Name] = a
					}
				}
				res, _ := r.grade()
				return res, ratingOf(res, AreaRootCause)
			}
			plainRes, plain := grade(false)
			stuffedRes, stuffed := grade(true)
			cases++
			var desc []string
			for i, id := range fs {
				desc = append(desc, id+"="+kindNames[ks[i]])
			}
			if stuffed > plain || stuffedRes.Score > plainRes.Score {
				t.Errorf("%s: stuffed text rates %v (score %d), plain %v (score %d)\nstuffed: %s\nplain: %s",
					strings.Join(desc, ", "), stuffed, stuffedRes.Score, plain, plainRes.Score,
					justification(stuffedRes, AreaRootCause), justification(plainRes, AreaRootCause))
			}
			allWrong := true
			for _, k := range ks {
				allWrong = allWrong && (k == kindNone || k == kindWrongPR)
			}
			if allWrong && stuffed != Novice {
				t.Errorf("%s: only wrong PRs, yet stuffed text rated %v", strings.Join(desc, ", "), stuffed)
			}
		}
	}
	if cases < 200 {
		t.Fatalf("only %d combinations checked", cases)
	}
}

// Expert root cause needs the right PR and the right function for every active fault; the function is
// judged as a name, not as text that mentions it.
func TestFunctionMatches(t *testing.T) {
	flag, _ := faults.Lookup("checkout")
	for _, ok := range []string{"validateDiscount", "validateDiscount()", "checkout.validateDiscount", "checkout.(*Service).validateDiscount",
		"github.com/sandbox-labs/sandbox/services/checkout.(*Service).validateDiscount", " ValidateDiscount ", "applyDiscount"} {
		if !FunctionMatches(flag, ok) {
			t.Errorf("FunctionMatches(flag, %q) = false", ok)
		}
	}
	for _, bad := range []string{"", "validate", "validateDiscount chargeStoredCredential createOrder", "validateDiscount,createOrder",
		"orders.validateDiscount", "the validateDiscount function", "handleCheckout", "checkout", "a.validateDiscount b.createOrder"} {
		if FunctionMatches(flag, bad) {
			t.Errorf("FunctionMatches(flag, %q) = true", bad)
		}
	}
}

// A single process proposal stuffed with every practice's words is one proposal: it cannot reach Expert.
func TestProcessStuffedLineCountsOnce(t *testing.T) {
	r := expertRun(t)
	r.ans.ProcessChanges = []string{"canary expand-contract backfill flags in the backend, major dependency pin, contract tests, n-1 rollback tests"}
	res, _ := r.grade()
	if got := ratingOf(res, AreaProcess); got == Expert {
		t.Errorf("one stuffed line rated Expert: %s", justification(res, AreaProcess))
	}
}

// An answer filed under one symptom is judged for that symptom only: naming another fault's PR there does
// not earn that other fault's credit.
func TestAnswerUnderAnotherSymptomCountsOnce(t *testing.T) {
	r := expertRun(t)
	r.ans.Faults = map[string]FaultAnswer{
		"payments": {PR: 905, Function: "orders.createOrder", WhyTestsMissed: "nothing ran old code on the new schema"},
	}
	res, _ := r.grade()
	j := justification(res, AreaRootCause)
	if ratingOf(res, AreaRootCause) != Novice || strings.Contains(j, "PR #905 right") {
		t.Errorf("a payments answer naming #905 counted for the migration: %v %s", ratingOf(res, AreaRootCause), j)
	}
	// Filed under a key that names no symptom, it still counts (a typo is not a wrong answer).
	r.ans.Faults = map[string]FaultAnswer{"ordres": r.ans.Faults["payments"]}
	res, _ = r.grade()
	if j := justification(res, AreaRootCause); !strings.Contains(j, "PR #905 right") {
		t.Errorf("misfiled answer ignored: %s", j)
	}
}
