// Package fault holds the types every fault's folder (faults/<id>/) fills in: the catalogue entry, the
// changelog entry with its diff, and the hotfix patches. It is the leaf the fault folders, the catalogue
// (faults) and the patch registry (sandbox/patches) share.
package fault

import (
	"fmt"
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

// PR is one change of the v2.4.0 changelog.
type PR struct {
	Number      int    `json:"number"`
	Title       string `json:"title"`
	Service     string `json:"service"`
	Author      string `json:"author"`
	Description string `json:"description"`
	// Fault is the fault id the PR carries.
	Fault string `json:"fault"`
	Diff  string `json:"diff"`
}

// Decoy marks a patch that looks plausible and fixes nothing.
const Decoy = "decoy"

// Patch is one hotfix a fix-forward release may apply.
type Patch struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Service     string `json:"service"`
	Description string `json:"description"`
	Diff        string `json:"diff"`
	// Fixes is the fault id the patch removes, or Decoy.
	Fixes string `json:"fixes"`
	// Why explains the outcome, for the grader and the debrief (not shown before the incident ends).
	Why string `json:"why"`
}

// HunkSpec is one hunk of a Diff.
type HunkSpec struct {
	start int // first old line (0 for a new file)
	fn    string
	body  string
}

// Hunk is one hunk: its first old line (0 for a new file), the function it is in, and its lines.
func Hunk(start int, fn, body string) HunkSpec { return HunkSpec{start: start, fn: fn, body: body} }

// Diff renders a unified diff of file with hunk headers counted from the hunk bodies, so the headers always
// agree with the lines.
func Diff(file string, hunks ...HunkSpec) string {
	var b strings.Builder
	old := "a/" + file
	if len(hunks) == 1 && hunks[0].start == 0 {
		old = "/dev/null"
	}
	fmt.Fprintf(&b, "diff --git a/%s b/%s\n--- %s\n+++ b/%s\n", file, file, old, file)
	offset := 0
	for _, h := range hunks {
		lines := strings.Split(strings.Trim(h.body, "\n"), "\n")
		var o, n int
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "+"):
				n++
			case strings.HasPrefix(l, "-"):
				o++
			default:
				o++
				n++
			}
		}
		newStart := h.start + offset
		if h.start == 0 {
			newStart = 1
		}
		header := fmt.Sprintf("@@ -%d,%d +%d,%d @@", h.start, o, newStart, n)
		if h.fn != "" {
			header += " " + h.fn
		}
		b.WriteString(header + "\n")
		for _, l := range lines {
			if l == "" {
				l = " "
			}
			b.WriteString(l + "\n")
		}
		offset += n - o
	}
	return b.String()
}
