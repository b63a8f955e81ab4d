package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The dashboard must work in a training room without internet: every asset is in index.html itself.
func TestDashboardIsSelfContained(t *testing.T) {
	b, err := fs.ReadFile(FS(), "index.html")
	if err != nil {
		t.Fatalf("embedded index.html: %v", err)
	}
	page := string(b)
	// The SVG namespace is an identifier, not a fetch.
	for _, m := range regexp.MustCompile(`(?:src|href)\s*=\s*["']?(?:https?:)?//|@import|url\(\s*["']?https?:|fetch\(\s*["']https?:`).FindAllString(page, -1) {
		t.Errorf("dashboard loads something from outside the control room: %q", m)
	}
	// A budget keeps the page quick on a projector laptop; the e2e test logs the real figure.
	if len(b) > 64<<10 {
		t.Errorf("index.html is %d bytes, budget 64 KiB", len(b))
	}
	// Ids and attributes the e2e test and game-day scripts read.
	for _, want := range []string{`id="edge-error-rate"`, `id="endpoints"`, `id="versions"`, `id="chart-error"`,
		`id="chart-p99"`, `id="scenario-clock"`, `id="timeline"`, `id="flags"`, "data-route", "data-kind", "/api/status",
		"/api/series", "/api/timeline", "/api/scenario", "/api/state"} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
}

// Before the attempt ends the page shows the shop's state, never a verdict on it: no PR numbers, fault ids
// or "trap" call-outs (the answer key), which a trainee would otherwise read off the projector.
func TestDashboardCarriesNoAnswerKey(t *testing.T) {
	b, err := fs.ReadFile(FS(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := strings.ToLower(string(b))
	// Comments are not shown, but the page source is one click away: they count too.
	for _, leak := range []string{"#892", "#901", "#905", "flag-leak", "sdk-break", "not-null-migration", "trap",
		"set default", "validatediscount", "chargestoredcredential"} {
		if strings.Contains(page, leak) {
			t.Errorf("dashboard source carries %q", leak)
		}
	}
}
