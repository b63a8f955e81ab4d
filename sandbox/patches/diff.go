package patches

import (
	"fmt"
	"strings"
)

type hunkSpec struct {
	start int // first old line (0 for a new file)
	fn    string
	body  string
}

func hunk(start int, fn, body string) hunkSpec { return hunkSpec{start: start, fn: fn, body: body} }

// diff renders a unified diff of file with hunk headers counted from the hunk bodies, so the headers always
// agree with the lines.
func diff(file string, hunks ...hunkSpec) string {
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
