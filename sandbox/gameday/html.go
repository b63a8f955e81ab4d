package gameday

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// chartColors tell the teams apart in the chart (and in the legend beside it).
var chartColors = []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"}

const (
	chartW, chartH           = 900, 300
	padL, padR, padT, padB   = 50, 20, 15, 35
	plotW, plotH             = chartW - padL - padR, chartH - padT - padB
	minChartTop              = 0.20 // the y axis shows at least 0-20%: the incident's plateau is about 15%
	htmlTimeLayout           = "15:04:05"
	htmlReportGeneratorTitle = "sandbox gameday report"
)

// Chart is every team's edge error rate on one time axis, as inline SVG (no script, no external file).
func Chart(rep Report) template.HTML {
	var from, to time.Time
	top := minChartTop
	for _, t := range rep.Teams {
		for _, p := range t.Series {
			if from.IsZero() || p.T.Before(from) {
				from = p.T
			}
			if p.T.After(to) {
				to = p.T
			}
			top = max(top, p.ErrorRate)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="edge error rate of every team">`, chartW, chartH, chartW, chartH)
	if !to.After(from) {
		b.WriteString(`<text x="20" y="40">No series recorded yet.</text></svg>`)
		return template.HTML(b.String())
	}
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 { return padL + plotW*t.Sub(from).Seconds()/span }
	y := func(v float64) float64 { return padT + plotH*(1-v/top) }
	// Axes and grid: every 5% up, five ticks across.
	for v := 0.0; v <= top+1e-9; v += 0.05 {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" font-size="11" text-anchor="end">%.0f%%</text>`,
			padL, padL+plotW, y(v), y(v), padL-5, y(v)+4, v*100)
	}
	for i := 0; i <= 5; i++ {
		t := from.Add(time.Duration(float64(i) / 5 * float64(to.Sub(from))))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>`, x(t), chartH-padB+18, t.UTC().Format(htmlTimeLayout))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/>`, padL, padL+plotW, y(0.01), y(0.01))
	for i, t := range rep.Teams {
		c := chartColors[i%len(chartColors)]
		var pts []string
		for _, p := range t.Series {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.T), y(p.ErrorRate)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"><title>%s</title></polyline>`, c, strings.Join(pts, " "), template.HTMLEscapeString(t.Team))
		if t.PagedAt != nil && !t.PagedAt.Before(from) && !t.PagedAt.After(to) {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-dasharray="2 2"><title>%s paged</title></line>`,
				x(*t.PagedAt), x(*t.PagedAt), padT, padT+plotH, c, template.HTMLEscapeString(t.Team))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var htmlFuncs = template.FuncMap{
	"dur":   FormatDur,
	"phase": phaseCell,
	"lost":  lostCell,
	"trap":  yesNo,
	"grade": gradeCell,
	"count": countCell,
	"color": func(i int) string { return chartColors[i%len(chartColors)] },
	"clock": func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(htmlTimeLayout)
	},
	"chart": Chart,
}

var htmlReport = template.Must(template.New("report").Funcs(htmlFuncs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="generator" content="` + htmlReportGeneratorTitle + `">
<title>Game day {{.Game}}: debrief</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:960px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.bad{color:#b00;font-weight:bold}.swatch{display:inline-block;width:12px;height:12px;margin-right:6px}
section{border-top:1px solid #ddd;margin-top:2em}
</style></head><body>
<h1>Game day {{.Game}}: debrief</h1>
<p>Report at {{.At.Format "2006-01-02 15:04:05"}} UTC, {{len .Teams}} team(s).</p>
<h2>Edge error rate of every team</h2>
{{chart .}}
<p>{{range $i, $t := .Teams}}<span class="swatch" style="background:{{color $i}}"></span>{{$t.Team}} &nbsp; {{end}}· dashed grey: the SLO (1%); dashed colour: the team's page.</p>
<h2>Ranking rule</h2>
<ol style="list-style:none;padding-left:0">{{range .Rule}}<li>{{.}}</li>{{end}}</ol>
<p>Times are from the page (the error spike at the edge). Errors and failed checkouts are failed requests while the incident lasted (page to recovery, or to now), estimated from each control room's series.</p>
<h2>Ranking</h2>
<table><tr><th>#</th><th>team</th><th>phase</th><th>paged</th><th>first look</th><th>mitigated</th><th>recovered</th><th>errors</th><th>failed checkouts</th><th>data lost</th><th>hints</th><th>trap</th><th>grade</th></tr>
{{range .Teams}}<tr><td>{{.Rank}}</td><td>{{.Team}}</td><td>{{phase .Row}}</td><td>{{clock .PagedAt}}</td><td>{{dur .FirstLookS}}</td><td>{{dur .MitigatedS}}</td><td>{{dur .RecoveredS}}</td><td>{{count .Row .Errors}}</td><td>{{count .Row .FailedCheck}}</td><td{{if .DataLost}} class="bad"{{end}}>{{lost .Row}}</td><td>{{.Hints}}</td><td{{if .Trap}} class="bad"{{end}}>{{trap .Trap}}</td><td>{{grade .Row}}</td></tr>
{{end}}</table>
{{range .Teams}}<section>
<h2>{{.Rank}}. {{.Team}} <small>(sandbox <code>{{.Sandbox}}</code>, seed {{.Seed}})</small></h2>
{{if not .Reachable}}<p class="bad">Does not answer: {{.Error}}</p>{{end}}
{{if .PagedAt}}<p>Paged at {{clock .PagedAt}} UTC; first look {{dur .FirstLookS}}, mitigated {{dur .MitigatedS}}, recovered {{dur .RecoveredS}}. Customer impact: about {{printf "%.0f" .Errors}} failed requests at the edge, {{printf "%.0f" .FailedCheck}} of them checkouts.</p>{{else}}<p>Not paged yet.</p>{{end}}
<p>Data lost: {{lost .Row}}. Rollback trap: {{trap .Trap}}. Hints taken: {{.Hints}}.</p>
{{if .Changes}}<h3>What the team did</h3><ul>{{range .Changes}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Graded}}<h3>Grade: {{grade .Row}}</h3>
{{if .Scorecard}}<table><tr><th>area</th><th>rating</th><th>justification</th></tr>{{range .Scorecard}}<tr><td>{{.Area}}</td><td>{{.Rating}}</td><td>{{.Justification}}</td></tr>{{end}}</table>{{end}}
{{if .Strengths}}<h3>Strengths</h3><ul>{{range .Strengths}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Improvements}}<h3>Improvements</h3><ul>{{range .Improvements}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Process}}<h3>Process improvements the team named</h3><ul>{{range .Process}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{else}}<p>Not graded yet: <code>sandbox grade --name {{.Sandbox}}</code> ends the team's attempt and adds its scorecard here.</p>{{end}}
</section>{{end}}
</body></html>
`))

// WriteHTML prints the report as one self-contained HTML file: styles and the chart inline, no script and
// nothing fetched, so it can be mailed or archived.
func WriteHTML(w io.Writer, rep Report) error { return htmlReport.Execute(w, rep) }
