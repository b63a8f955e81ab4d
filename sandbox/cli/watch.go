package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/guptarohit/asciigraph"
	"golang.org/x/term"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/services/status"
)

func watchRun(ctx context.Context, o *StatusOptions) error {
	e, cr, _, err := controlRoom(ctx, o.G.Name)
	if err != nil {
		return err
	}
	defer e.Close()
	width, height, isTerm := 80, 24, false
	if f, ok := o.IO.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		isTerm = true
		if w, h, err := term.GetSize(int(f.Fd())); err == nil {
			width, height = w, h
		}
	}
	for {
		frame, err := renderWatch(ctx, cr, o.Window, width, height)
		if err != nil {
			frame = "control room unreachable: " + err.Error() + "\n"
		}
		if isTerm {
			fmt.Fprint(o.IO.Out, "\x1b[H\x1b[2J"+frame)
		} else {
			// Not a terminal: plain frames one after another, no escape codes.
			fmt.Fprint(o.IO.Out, frame+"\n")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Every):
		}
	}
}

func renderWatch(ctx context.Context, cr *sandbox.ControlRoom, window time.Duration, width, height int) (string, error) {
	s, err := cr.Status(ctx, window)
	if err != nil {
		return "", err
	}
	var series []sandbox.SeriesPoint
	_ = cr.Get(ctx, "/api/series", &series)
	evs, _ := cr.Timeline(ctx)
	var b bytes.Buffer
	rollout := rolloutLine(sandbox.RolloutFromTimeline(evs), time.Now(), s.Name)
	chartH := height - 19
	if rollout != "" {
		chartH--
	}
	if chartH < 5 {
		chartH = 5
	}
	b.WriteString(RenderChart(series, evs, width, chartH))
	PrintCompactStatus(&b, s)
	if rollout != "" {
		b.WriteString(rollout + "\n")
	}
	return b.String(), nil
}

// markerKinds are the timeline events drawn on the chart.
var markerKinds = map[string]string{status.EventDeployStarted: "D", status.EventRollback: "R", status.EventMigration: "M", status.EventFlagObserved: "F"}

// RenderChart draws the edge error rate (%) over time like the scenario card, with a marker row for deploys
// (D), rollbacks (R), migrations (M) and flag changes (F).
func RenderChart(series []sandbox.SeriesPoint, evs []status.Event, width, height int) string {
	plotW := width - 12
	if plotW < 20 {
		plotW = 20
	}
	if len(series) < 2 {
		return "Edge error rate: waiting for data…\n"
	}
	data := make([]float64, len(series))
	for i, p := range series {
		data[i] = p.ErrorRate * 100
	}
	maxV := 0.0
	for _, v := range data {
		maxV = math.Max(maxV, v)
	}
	upper := math.Max(1, math.Ceil(maxV/5)*5)
	chart := asciigraph.Plot(data, asciigraph.Height(height), asciigraph.Width(plotW), asciigraph.LowerBound(0),
		asciigraph.UpperBound(upper), asciigraph.Precision(1), asciigraph.Caption("edge error rate (%) over the session"))
	// Marker row aligned with the plot (asciigraph resamples the series to plotW columns).
	t0, t1 := series[0].T, series[len(series)-1].T
	row := []rune(strings.Repeat(" ", plotW))
	for _, ev := range evs {
		m, ok := markerKinds[ev.Kind]
		if !ok || ev.At.Before(t0) || ev.At.After(t1) || t1.Equal(t0) {
			continue
		}
		col := int(float64(plotW-1) * ev.At.Sub(t0).Seconds() / t1.Sub(t0).Seconds())
		// Events seconds apart share a column: keep the first (a deploy beats the migration it runs).
		if row[col] == ' ' {
			row[col] = []rune(m)[0]
		} else if col+1 < len(row) && row[col+1] == ' ' {
			row[col+1] = []rune(m)[0]
		}
	}
	pad := strings.Repeat(" ", labelWidth(chart))
	var b strings.Builder
	b.WriteString(chart + "\n")
	b.WriteString(pad + string(row) + "\n")
	first, last := series[0].Scenario, series[len(series)-1].Scenario
	if first == "" {
		first, last = t0.UTC().Format("15:04:05"), t1.UTC().Format("15:04:05")
	}
	gap := plotW - len(first) - len(last)
	if gap < 1 {
		gap = 1
	}
	b.WriteString(pad + first + strings.Repeat(" ", gap) + last + "\n")
	b.WriteString(pad + "D deploy  R rollback  M migration  F flag change\n")
	return b.String()
}

// labelWidth finds how wide asciigraph's y-axis labels are, so the marker row lines up with the plot.
func labelWidth(chart string) int {
	line := strings.SplitN(chart, "\n", 2)[0]
	for i, r := range []rune(line) {
		if r == '┤' || r == '┼' {
			return i + 1
		}
	}
	return 0
}

// PrintCompactStatus is the per-endpoint table, versions and flags in few lines for an 80x24 terminal.
func PrintCompactStatus(w io.Writer, s status.Snapshot) {
	clock := ""
	if s.Scenario != "" {
		clock = "  scenario " + s.Scenario
	}
	fmt.Fprintf(w, "%s  %s UTC%s  edge %.1f rps  errors %s  p99 %.0fms\n", s.Name, s.At.UTC().Format("15:04:05"), clock, s.Edge.RPS, pct(s.Edge.ErrorRate), s.Edge.P99Ms)
	for _, ep := range s.Endpoints {
		fmt.Fprintf(w, "  %-14s %6.1f rps  %7s  p99 %5.0fms\n", ep.Route, ep.RPS, pct(ep.ErrorRate), ep.P99Ms)
	}
	var vs []string
	for _, sv := range s.Services {
		v := strings.Join(sv.Versions, "+")
		if v == "" {
			v = "down"
		} else if !sv.Healthy {
			v += "!"
		}
		vs = append(vs, sv.Service+" "+v)
	}
	fmt.Fprintln(w, wrap(strings.Join(vs, " · "), 78))
	for _, f := range s.Flags {
		state := "off"
		if f.Enabled {
			state = fmt.Sprintf("on %d%%", f.RolloutPercent)
		}
		fmt.Fprintf(w, "flag %s: %s\n", f.Name, state)
	}
}

func wrap(s string, n int) string {
	var lines []string
	for len(s) > n {
		i := strings.LastIndex(s[:n], " · ")
		if i <= 0 {
			i = n
		}
		lines = append(lines, s[:i])
		s = strings.TrimPrefix(s[i:], " · ")
	}
	return strings.Join(append(lines, s), "\n")
}
