// Package grade judges a sandbox run: live checks of the end state, the control room's timeline and the
// trainee's recorded answers go in; a scorecard on the card's rubric, strengths, improvements and study links
// come out. Everything but live.go is pure and works on data, so every reference path is a unit test.
package grade

import (
	"fmt"
	"time"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/services/status"
)

// Check ids; stable, lab platforms key on them.
const (
	CheckEdgeSLO             = "edge_slo"
	CheckProbeCheckoutNoCode = "probe_checkout_no_code"
	CheckProbeCheckoutCode   = "probe_checkout_with_code"
	CheckProbeOrder          = "probe_order"
	CheckProbePayment        = "probe_payment"
	CheckSchemaCompatible    = "schema_compatible"
	CheckNoDataLoss          = "no_data_loss"
	CheckUnaffected          = "unaffected_untouched"
	CheckTrusted             = "containers_trusted"
	CheckRecordIntact        = "record_intact"
)

// CheckIDs in display order.
var CheckIDs = []string{CheckEdgeSLO, CheckProbeCheckoutNoCode, CheckProbeCheckoutCode, CheckProbeOrder,
	CheckProbePayment, CheckSchemaCompatible, CheckNoDataLoss, CheckUnaffected}

// Check is one pass/fail judgement of the live end state. Detail is what was observed (figures, status codes,
// the error text a client gets, versions): safe to print before the attempt ends (`sandbox check`). Explain is
// why it fails and the way out, naming PRs, code and fixes: the answer key, printed only by `grade`, which
// ends the attempt.
type Check struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Passed  bool   `json:"passed"`
	Detail  string `json:"detail"`
	Explain string `json:"explain,omitempty"`
}

// Neutral returns the check without its explanation: what `sandbox check` may show.
func (c Check) Neutral() Check {
	c.Explain = ""
	return c
}

// NeutralChecks returns copies of checks without their explanations.
func NeutralChecks(checks []Check) []Check {
	out := make([]Check, len(checks))
	for i, c := range checks {
		out[i] = c.Neutral()
	}
	return out
}

// Thresholds for the live checks and the triage rule.
type Thresholds struct {
	MaxErrorRate           float64       // edge error rate must be below this (fraction)
	MaxP99Ms               float64       // edge p99 must be below this
	Window                 time.Duration // the status window the snapshot must cover
	UnaffectedMaxErrorRate float64       // catalog/search/auth must stay below this
	TriageWindow           time.Duration // how soon after spike_start an expert triage finishes
	HintPenalty            int           // points each hint costs
	// BaselineFactor: on a host where the sandbox's own pre-deploy p99 was already high (other sandboxes
	// share the CPU), p99 passes below BaselineFactor x that baseline, never above BaselineCap x MaxP99Ms.
	BaselineFactor float64
	BaselineCap    float64
}

// DefaultThresholds are the numbers.
func DefaultThresholds() Thresholds {
	return Thresholds{MaxErrorRate: 0.01, MaxP99Ms: 300, Window: 60 * time.Second,
		UnaffectedMaxErrorRate: 0.005, TriageWindow: 5 * time.Minute, HintPenalty: 5, BaselineFactor: 1.5, BaselineCap: 2}
}

// LiveState is the control room's GET /api/state, parsed into the very type the control room serves
// (status.DBState), plus one fact the CLI adds from the release manifests on the engine. The live versions
// per role come from the status snapshot; no other shape of the state is read.
type LiveState struct {
	status.DBState
	// WritesMetadata says, per orders version, whether its code writes order_metadata (PR #905, or the
	// keep-schema patch). Without an entry, v2.4.0 and later are taken to write the column unless a
	// release_created event reverted 905.
	WritesMetadata map[string]bool `json:"writes_metadata,omitempty"`
}

// Answers are the trainee's recorded answers (`sandbox answer`), keyed by fault id (symptom aliases and PR
// numbers are accepted as keys too).
type Answers struct {
	At     time.Time              `json:"at"`
	Faults map[string]FaultAnswer `json:"faults"`
	// ProcessChanges are the process improvements proposed for the incident as a whole.
	ProcessChanges []string `json:"process_changes,omitempty"`
	Notes          string   `json:"notes,omitempty"`
}

// FaultAnswer is the root-cause answer for one symptom. PR and Function are the structured answer the rating
// is judged on; the free text (CodePath, MigrationWhy, WhyTestsMissed) only supports it and never earns a
// rating on its own.
type FaultAnswer struct {
	PR int `json:"pr"`
	// Function is the failing function as the service's own logs or stack traces name it
	// ("validateDiscount", "checkout.validateDiscount" or "checkout.(*Service).validateDiscount").
	Function string `json:"function,omitempty"`
	CodePath string `json:"code_path,omitempty"`
	// MigrationBackwardCompatible: is the release's migration compatible with the previous code? (nil = not
	// answered). For the NOT NULL migration the right answer is false.
	MigrationBackwardCompatible *bool    `json:"migration_backward_compatible,omitempty"`
	MigrationWhy                string   `json:"migration_why,omitempty"`
	WhyTestsMissed              string   `json:"why_tests_missed,omitempty"`
	ProcessChanges              []string `json:"process_changes,omitempty"`
	Notes                       string   `json:"notes,omitempty"`
}

// Rating on the card's rubric.
type Rating int

// Ratings, ordered.
const (
	Novice Rating = iota + 1
	Intermediate
	Expert
)

func (r Rating) String() string {
	switch r {
	case Novice:
		return "Novice"
	case Intermediate:
		return "Intermediate"
	case Expert:
		return "Expert"
	}
	return "Unrated"
}

// Rubric areas in display order.
const (
	AreaTriage    = "Triage Speed"
	AreaRollback  = "Rollback Execution"
	AreaRootCause = "Root Cause Analysis"
	AreaProcess   = "Process Improvement"
)

// Areas in display order.
var Areas = []string{AreaTriage, AreaRollback, AreaRootCause, AreaProcess}

// AreaScore is one scorecard row.
type AreaScore struct {
	Area          string `json:"area"`
	Rating        string `json:"rating"`
	Justification string `json:"justification"`
	rating        Rating
}

// Level returns the row's rating.
func (a AreaScore) Level() Rating { return a.rating }

// Input is everything the grader judges.
type Input struct {
	Checks   []Check
	Timeline []status.Event
	Answers  *Answers
	// Faults are the faults active in this sandbox; nil = read sandbox_up's Data["faults"], else all three.
	Faults     []string
	Thresholds Thresholds
	// State is the live state the checks were computed from (optional; used for evidence such as row counts).
	State *LiveState
	Now   time.Time
}

// Result is the graded outcome.
type Result struct {
	Passed       bool              `json:"passed"`
	Score        int               `json:"score"`
	MaxScore     int               `json:"max_score"`
	Checks       []Check           `json:"checks"`
	Scorecard    []AreaScore       `json:"scorecard"`
	Strengths    []string          `json:"strengths"`
	Improvements []string          `json:"improvements"`
	Resources    []faults.Resource `json:"resources"`
	Faults       []string          `json:"faults"`
	HintsTaken   []HintTaken       `json:"hints_taken"`
	SpikeStart   *time.Time        `json:"spike_start,omitempty"`
	Evidence     []string          `json:"evidence,omitempty"`
	Thresholds   []ThresholdUsed   `json:"thresholds,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"`
	// EndedAt is when the attempt ended; Recorded says the verdict was read back from the attempt_ended event.
	EndedAt  *time.Time `json:"ended_at,omitempty"`
	Recorded bool       `json:"recorded,omitempty"`
	// AfterAttempt are live checks taken after the attempt ended: shown beside the verdict, never graded.
	AfterAttempt []Check `json:"after_attempt,omitempty"`
}

// ThresholdUsed is one threshold the verdict was judged by; NonDefault marks one a flag changed.
type ThresholdUsed struct {
	Name       string `json:"name"`
	Value      string `json:"value"`
	Default    string `json:"default"`
	NonDefault bool   `json:"non_default"`
}

// DescribeThresholds lists the thresholds in th beside the defaults.
func DescribeThresholds(th Thresholds) []ThresholdUsed {
	d := DefaultThresholds()
	row := func(name, v, def string) ThresholdUsed {
		return ThresholdUsed{Name: name, Value: v, Default: def, NonDefault: v != def}
	}
	return []ThresholdUsed{
		row("max_error_rate", pct(th.MaxErrorRate), pct(d.MaxErrorRate)),
		row("max_p99_ms", fmt.Sprintf("%.0f", th.MaxP99Ms), fmt.Sprintf("%.0f", d.MaxP99Ms)),
		row("window", th.Window.String(), d.Window.String()),
		row("p99_vs_baseline", fmt.Sprintf("%.1fx (at most %.0f ms)", th.BaselineFactor, th.BaselineCap*th.MaxP99Ms),
			fmt.Sprintf("%.1fx (at most %.0f ms)", d.BaselineFactor, d.BaselineCap*th.MaxP99Ms)),
	}
}

// HintTaken is one hint event, resolved to its fault.
type HintTaken struct {
	Fault string    `json:"fault"`
	Level int       `json:"level"`
	Last  bool      `json:"last"`
	At    time.Time `json:"at"`
}

// Exit codes of `sandbox grade` and `sandbox check` (part of the CLI's one table, sandbox/cli/root.go): a lab
// gates on 0 alone. Could-not-grade has its own code, never 2 (a bad command line) or 3 (no engine).
const (
	ExitPassed      = 0
	ExitNotPassed   = 1
	ExitCouldNotRun = 5
)

// ExitCode maps a grade outcome to the process exit code: 0 passed, 1 not passed, 5 could not grade.
func ExitCode(r *Result, err error) int {
	if err != nil || r == nil {
		return ExitCouldNotRun
	}
	if r.Passed {
		return ExitPassed
	}
	return ExitNotPassed
}
