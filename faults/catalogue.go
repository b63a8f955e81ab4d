// Package faults is the catalogue of the faults v2.4.0 ships: what the trainee sees, the progressive hints, the
// safe and dangerous ways out, the prevention the interview card expects, and the keywords the grader uses to
// judge free-text answers. Ids match services/release.
package faults

import (
	"fmt"
	"slices"
	"strings"
)

// Resource is a study link for a gap.
type Resource struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Fault is one catalogue entry.
type Fault struct {
	ID      string `json:"id"`
	PR      int    `json:"pr"`
	Service string `json:"service"`
	Title   string `json:"title"`
	// Name is the symptom's neutral name, the service where it shows ("orders", "checkout", "payments"):
	// what `sandbox hint` and `sandbox answer` call it before the attempt ends.
	Name string `json:"name"`
	// Seen is what the trainee can observe, without the cause: safe to print before the attempt ends.
	Seen string `json:"seen"`
	// Symptom explains the fault, in our words (answer key: shown only after the attempt ended).
	Symptom string `json:"symptom"`
	// Affected are the edge routes this fault fails on its own.
	Affected []string `json:"affected"`
	// SignalsInLogs is what the affected service logs when the fault fires.
	SignalsInLogs []string `json:"signals_in_logs"`
	// Hints are progressive: hint 1 nudges, the last one gives the fix options away.
	Hints []string `json:"hints"`
	// Fixes are the safe ways out the grader accepts when the end state is healthy.
	Fixes []string `json:"fixes"`
	// Dangerous are ways out that make things worse or lose data.
	Dangerous []string `json:"dangerous,omitempty"`
	// Prevention is what the card expects to hear in the process answer.
	Prevention []string `json:"prevention"`
	// Keywords judge a root-cause explanation (why tests missed it, migration reasoning).
	Keywords []string `json:"keywords"`
	// CodePath groups judge an answer's code path: every group must be matched by one of its words.
	CodePath [][]string `json:"code_path"`
	// CodePathRef is the code path in words, shown when the trainee missed it.
	CodePathRef string `json:"code_path_ref"`
	// Functions are the failing function as the service's own logs and stack traces name it (the first is
	// the one in the error line; later ones are accepted too, e.g. the caller that lacks the guard).
	Functions []string `json:"functions"`
	// Resources are 2-3 study links for this gap.
	Resources []Resource `json:"resources"`
	// Aliases name the fault by symptom for `sandbox hint <symptom>`.
	Aliases []string `json:"aliases"`
}

// Study links that are about the incident as a whole rather than one fault.
var (
	ResourceCanary = Resource{Title: "Google SRE workbook: Canarying Releases",
		URL: "https://sre.google/workbook/canarying-releases/"}
	ResourcePostmortem = Resource{Title: "Google SRE book: Postmortem Culture",
		URL: "https://sre.google/sre-book/postmortem-culture/"}
	ResourceIncidentResponse = Resource{Title: "Google SRE workbook: Incident Response",
		URL: "https://sre.google/workbook/incident-response/"}
	ResourceEmergencyResponse = Resource{Title: "Google SRE book: Emergency Response",
		URL: "https://sre.google/sre-book/emergency-response/"}
)

var catalogue = []Fault{notNullMigration, flagLeak, sdkBreak}

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
