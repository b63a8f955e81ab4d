package grade

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// MaxVerdictEventBytes bounds the attempt_ended event as posted: the control room takes events of that kind
// up to 64 KiB, and the verdict rides in Data as escaped JSON.
const MaxVerdictEventBytes = 60 << 10

// VerdictVersion is the layout of the stored verdict.
const VerdictVersion = 1

// Verdict is what `sandbox grade` stores when it ends the attempt: enough to print the same scorecard, checks
// and exit code again, whatever happens to the sandbox afterwards.
type Verdict struct {
	Version int     `json:"v"`
	Result  *Result `json:"result"`
	// Truncated says how many evidence lines were left out to fit the event.
	Truncated int `json:"truncated,omitempty"`
}

// ErrNoVerdict means the timeline holds no attempt_ended event: the attempt is still open.
var ErrNoVerdict = errors.New("the attempt has not ended")

// EndedEvent returns the event that ended the attempt: the first attempt_ended event the CLI recorded.
func EndedEvent(tl []status.Event) (status.Event, bool) {
	for _, ev := range tl {
		if ev.Kind == status.EventAttemptEnded && ev.Actor == "cli" {
			return ev, true
		}
	}
	return status.Event{}, false
}

// AttemptEnded reports whether the timeline records the end of the attempt.
func AttemptEnded(tl []status.Event) bool {
	_, ok := EndedEvent(tl)
	return ok
}

// AttemptEndedEvent builds the attempt_ended event for res. The control room sets At and Seq; the event
// stays under MaxVerdictEventBytes by leaving out evidence lines first, then clipping long texts.
func AttemptEndedEvent(res *Result) (status.Event, error) {
	v := Verdict{Version: VerdictVersion, Result: cloneResult(res)}
	for attempt := 0; ; attempt++ {
		ev, size, err := verdictEvent(v)
		if err != nil {
			return status.Event{}, err
		}
		if size <= MaxVerdictEventBytes {
			return ev, nil
		}
		r := v.Result
		switch {
		case len(r.Evidence) > 1:
			keep := len(r.Evidence) / 2
			v.Truncated += len(r.Evidence) - keep
			r.Evidence = r.Evidence[:keep]
		case attempt < 40:
			for i := range r.Checks {
				r.Checks[i].Detail, r.Checks[i].Explain = clip(r.Checks[i].Detail, 400), clip(r.Checks[i].Explain, 400)
			}
			for i := range r.Scorecard {
				r.Scorecard[i].Justification = clip(r.Scorecard[i].Justification, 600)
			}
			r.Strengths, r.Improvements = clipAll(r.Strengths, 300), clipAll(r.Improvements, 300)
			r.AfterAttempt = nil
			r.Evidence = nil
		default:
			return status.Event{}, fmt.Errorf("the verdict does not fit the attempt_ended event (%d bytes)", size)
		}
	}
}

func clipAll(s []string, n int) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = clip(x, n)
	}
	return out
}

func verdictEvent(v Verdict) (status.Event, int, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return status.Event{}, 0, fmt.Errorf("encode the verdict: %w", err)
	}
	r := v.Result
	ev := status.Event{Kind: status.EventAttemptEnded, Actor: "cli",
		Detail: fmt.Sprintf("attempt ended: %s, score %d/%d", verdictWord(r.Passed), r.Score, r.MaxScore),
		Data: map[string]string{
			"passed":  strconv.FormatBool(r.Passed),
			"score":   strconv.Itoa(r.Score),
			"ratings": ratingsLine(r),
			"checks":  checksLine(r),
			"verdict": string(b),
			// The faults that ran are named only once the attempt ended (sandbox_up does not carry them).
			"faults": r.Meta["faults"],
		}}
	all, err := json.Marshal(ev)
	if err != nil {
		return status.Event{}, 0, fmt.Errorf("encode the attempt_ended event: %w", err)
	}
	return ev, len(all), nil
}

func verdictWord(passed bool) string {
	if passed {
		return "PASSED"
	}
	return "NOT PASSED"
}

func ratingsLine(r *Result) string {
	var s []string
	for _, a := range r.Scorecard {
		s = append(s, a.Area+"="+a.Rating)
	}
	return strings.Join(s, "; ")
}

func checksLine(r *Result) string {
	pass, fails := 0, []string{}
	for _, c := range r.Checks {
		if c.Passed {
			pass++
		} else {
			fails = append(fails, c.ID)
		}
	}
	s := fmt.Sprintf("%d/%d passed", pass, len(r.Checks))
	if len(fails) > 0 {
		s += "; failed: " + strings.Join(fails, ",")
	}
	return s
}

// StoredVerdict reads the verdict back from the event that ended the attempt. It returns ErrNoVerdict when
// the attempt has not ended, and an error when the recorded verdict cannot be read (then nothing is graded:
// a verdict that cannot be shown cannot be replaced by a new one either).
func StoredVerdict(tl []status.Event) (*Result, error) {
	ev, ok := EndedEvent(tl)
	if !ok {
		return nil, ErrNoVerdict
	}
	var v Verdict
	if err := json.Unmarshal([]byte(ev.Data["verdict"]), &v); err != nil || v.Result == nil {
		return nil, fmt.Errorf("the attempt ended at %s but its recorded verdict cannot be read (seq %d)",
			ev.At.UTC().Format(time.RFC3339), ev.Seq)
	}
	if v.Version > VerdictVersion {
		return nil, fmt.Errorf("the verdict was recorded by a newer sandbox (layout %d): grade with that version", v.Version)
	}
	r := v.Result
	for i := range r.Scorecard {
		r.Scorecard[i].rating = parseRating(r.Scorecard[i].Rating)
	}
	at := ev.At
	r.EndedAt, r.Recorded = &at, true
	if v.Truncated > 0 {
		r.Evidence = append(r.Evidence, fmt.Sprintf("(%d more lines left out to fit the record)", v.Truncated))
	}
	return r, nil
}

func parseRating(s string) Rating {
	for _, r := range []Rating{Novice, Intermediate, Expert} {
		if r.String() == s {
			return r
		}
	}
	return 0
}

// cloneResult copies the parts of r the size budget may trim.
func cloneResult(r *Result) *Result {
	c := *r
	c.Checks = append([]Check(nil), r.Checks...)
	c.Scorecard = append([]AreaScore(nil), r.Scorecard...)
	c.Evidence = append([]string(nil), r.Evidence...)
	c.Strengths = append([]string(nil), r.Strengths...)
	c.Improvements = append([]string(nil), r.Improvements...)
	c.AfterAttempt, c.EndedAt, c.Recorded = nil, nil, false
	return &c
}
