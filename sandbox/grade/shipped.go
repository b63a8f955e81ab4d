package grade

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sandbox-labs/sandbox/services/status"
)

// ErrNotGradeable says why a sandbox has no incident to grade; `grade` exits 2 with it, never 0.
type ErrNotGradeable struct{ Reason string }

func (e ErrNotGradeable) Error() string { return e.Reason }

// IncidentShipped reports, from evidence only the sandbox writes, whether there is an incident to grade:
// the sandbox was created with at least one fault (faults come from the engine's record of its settings, not
// from the timeline), the control room's observer saw a faulty role live on v2.4.0, and it saw the error
// spike after the release began: after that v2.4.0 instance, or after the schema migration the observer saw
// run just before it (the pipeline migrates first, and v2.3.0 orders already fails against the new column
// while the rollout is under way, so the spike can come before the first v2.4.0 instance is seen).
// Whatever the CLI posted (deploy events, sandbox_up) is not enough on its own.
func IncidentShipped(faults []string, tl []status.Event) error {
	if len(faults) == 0 {
		return ErrNotGradeable{"this sandbox ships v2.4.0 with no faults: there is no incident to grade " +
			"(start one with `sandbox up` or `sandbox up --faults <ids>`)"}
	}
	shippedAt := -1
	for i, e := range tl {
		if e.Kind == status.EventVersionObserved && e.Actor == "observed" && slices.Contains(affected, e.Service) &&
			slices.Contains(strings.Split(e.To, ","), "v2.4.0") {
			shippedAt = i
			break
		}
	}
	if shippedAt < 0 {
		return ErrNotGradeable{"v2.4.0 never shipped: the control room never saw orders, payments or checkout " +
			"running v2.4.0 (it ships after `sandbox up`'s baseline, or with `sandbox deploy all v2.4.0`)"}
	}
	began := shippedAt
	for i := shippedAt - 1; i >= 0; i-- {
		e := tl[i]
		if e.Kind == status.EventMigrationVersion && e.Actor == "observed" && versionUp(e.From, e.To) {
			began = i // the latest migration before v2.4.0 came up: a spike before it is something else
			break
		}
	}
	for _, e := range tl[began:] {
		if e.Kind == status.EventSpikeStart && e.Actor == "observed" {
			return nil
		}
	}
	return ErrNotGradeable{fmt.Sprintf("v2.4.0 shipped at %s but the control room has not seen the error spike yet: "+
		"wait for the page, then work the incident", tl[shippedAt].At.Format("15:04:05"))}
}

// versionUp reports whether an observed goose version went up (a migration applied).
func versionUp(from, to string) bool {
	f, errF := strconv.ParseInt(from, 10, 64)
	t, errT := strconv.ParseInt(to, 10, 64)
	return errF == nil && errT == nil && t > f
}
