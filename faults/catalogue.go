// Package faults is the catalogue of the faults v2.4.0 ships: what the trainee sees, the progressive hints, the
// safe and dangerous ways out, the prevention the interview card expects, and the keywords the grader uses to
// judge free-text answers. Ids match services/release.
package faults

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sandbox-labs/sandbox/faults/fault"
	"github.com/sandbox-labs/sandbox/faults/flagleak"
	"github.com/sandbox-labs/sandbox/faults/notnull"
	"github.com/sandbox-labs/sandbox/faults/sdkbreak"
)

// Resource is a study link for a gap (faults/fault).
type Resource = fault.Resource

// Fault is one catalogue entry (faults/fault); each fault's own lives in its folder, faults/<id>/.
type Fault = fault.Fault

// Study links about the incident as a whole.
var (
	ResourceCanary            = fault.ResourceCanary
	ResourcePostmortem        = fault.ResourcePostmortem
	ResourceIncidentResponse  = fault.ResourceIncidentResponse
	ResourceEmergencyResponse = fault.ResourceEmergencyResponse
)

// catalogue holds one entry per fault folder, in release.AllFaults order.
var catalogue = []Fault{notnull.Fault, flagleak.Fault, sdkbreak.Fault}

// All returns the catalogue in release.AllFaults order. The slice is a copy.
func All() []Fault { return slices.Clone(catalogue) }

// IDs returns the known fault ids in catalogue order.
func IDs() []string {
	ids := make([]string, len(catalogue))
	for i, f := range catalogue {
		ids[i] = f.ID
	}
	return ids
}

// Lookup finds a fault by id, or by a symptom alias or PR number ("905", "#905").
func Lookup(id string) (Fault, error) {
	key := normalize(id)
	for _, f := range catalogue {
		if f.ID == key || slices.Contains(f.Aliases, key) || fmt.Sprint(f.PR) == strings.TrimPrefix(key, "#") {
			return f, nil
		}
	}
	return Fault{}, fmt.Errorf("unknown fault %q: known faults are %s (symptoms: %s)", id,
		strings.Join(IDs(), ", "), strings.Join(Symptoms(), ", "))
}

// ForPR returns the fault a PR number carries.
func ForPR(pr int) (Fault, bool) {
	for _, f := range catalogue {
		if f.PR == pr {
			return f, true
		}
	}
	return Fault{}, false
}

// Symptoms lists the neutral name of each fault's symptom: the words `sandbox hint` and `sandbox answer`
// suggest. They name where a symptom shows, never its cause.
func Symptoms() []string {
	s := make([]string, 0, len(catalogue))
	for _, f := range catalogue {
		s = append(s, f.Name)
	}
	return s
}

// LookupSymptom finds a fault by symptom name or alias (or id or PR, as Lookup); its error lists only the
// neutral symptom names, so a typo in a trainee command does not print the fault ids.
func LookupSymptom(s string) (Fault, error) {
	f, err := Lookup(s)
	if err != nil {
		return Fault{}, fmt.Errorf("unknown symptom %q: symptoms are %s", s, strings.Join(Symptoms(), ", "))
	}
	return f, nil
}

// Hint returns hint level (1-based) of the fault named by id or symptom, and whether it is the last one.
func Hint(symptom string, level int) (text string, last bool, err error) {
	f, err := Lookup(symptom)
	if err != nil {
		return "", false, err
	}
	if level < 1 || level > len(f.Hints) {
		return "", false, fmt.Errorf("fault %s has hints 1..%d, not %d", f.ID, len(f.Hints), level)
	}
	return f.Hints[level-1], level == len(f.Hints), nil
}

func normalize(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.ReplaceAll(s, "_", "-")
}
