package grade

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/status"
	"github.com/sandbox-labs/sandbox/services/topology"
)

// observedGrace is how long after the release's deploy finished observed changes still belong to the
// pipeline's own rollout (the control room reports a version set after it held for a few scrapes).
const observedGrace = 30 * time.Second

// action is one thing the trainee did, as the timeline shows it.
type action struct {
	At   time.Time
	What string // human wording, cited in justifications
	// look flags
	Status, Changelog, AffectedLogs, SchemaLook, DepLook bool
	// change flags
	Change, CodeChange, SchemaFix, DownMigration, FlagOff bool
	// Observed: seen in the live state by the control room, not a command or event of the CLI
	Observed bool
}

type interval struct {
	From, To time.Time // To zero = still open at the end of the timeline
	What     string
}

// evidence is what the timeline says happened.
type evidence struct {
	Ref      time.Time // spike_start, else the release's deploy_finished, else the first event
	RefKind  string
	HasSpike bool
	Baseline time.Time // the release's deploy_finished (zero if none)
	Recover  *time.Time

	Looks   []action
	Changes []action

	Trap      *interval // first time orders code without #905 ran against NOT NULL without default
	DataLoss  *interval // the first data_loss event: From = when, What = how
	Losses    []string  // every data_loss event, as "what at +m:ss"
	LostRows  int64     // rows lost over all data_loss events
	FlagOffAt *time.Time

	Hints          []HintTaken
	RolledBack     map[string]string // service -> target version of the latest rollback/deploy
	FixForward     []string          // versions cut with release create
	NoWrite        map[string]bool   // versions known (release_created) to revert #905
	Touched        []string          // unaffected services whose version changed or were redeployed
	CommandCount   int
	ObservedSchema bool
	Faults         []string
}

func (e *evidence) rel(t time.Time) string { return rel(t, e.Ref) }

// rel formats t relative to ref as +m:ss.
func rel(t, ref time.Time) string {
	d := t.Sub(ref).Round(time.Second)
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return fmt.Sprintf("%s%d:%02d", sign, int(d.Minutes()), int(d.Seconds())%60)
}

func (e *evidence) firstChange() *action {
	if len(e.Changes) == 0 {
		return nil
	}
	return &e.Changes[0]
}

func (e *evidence) firstCodeChange() *action {
	for i := range e.Changes {
		if e.Changes[i].CodeChange {
			return &e.Changes[i]
		}
	}
	return nil
}

// firstLook returns the first look matching pred, or nil.
func (e *evidence) firstLook(pred func(action) bool) *action {
	for i := range e.Looks {
		if pred(e.Looks[i]) {
			return &e.Looks[i]
		}
	}
	return nil
}

// schemaEvaluatedAt is when the trainee first showed they had the schema in view: a schema look, or a change
// that makes the column safe for old code.
func (e *evidence) schemaEvaluatedAt() *action {
	var best *action
	if a := e.firstLook(func(a action) bool { return a.SchemaLook }); a != nil {
		best = a
	}
	for i := range e.Changes {
		if e.Changes[i].SchemaFix && (best == nil || e.Changes[i].At.Before(best.At)) {
			best = &e.Changes[i]
			break
		}
	}
	return best
}

// activeFaults resolves which faults this sandbox runs.
func activeFaults(in []string, tl []status.Event) []string {
	if in != nil {
		return in
	}
	for _, ev := range tl {
		if ev.Kind == status.EventSandboxUp && ev.Data != nil {
			if f, ok := ev.Data["faults"]; ok {
				var out []string
				for _, p := range splitList(f) {
					if ff, err := faults.Lookup(p); err == nil && !slices.Contains(out, ff.ID) {
						out = append(out, ff.ID)
					}
				}
				if len(out) > 0 { // today's sandbox_up carries only how many; the engine's record names them
					return out
				}
			}
		}
	}
	return slices.Clone(release.AllFaults)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// column is orders.order_metadata as replayed from the timeline.
type column struct {
	Exists, Nullable bool
	Default          string
}

func (c column) trap() bool { return c.Exists && !c.Nullable && c.Default == "" }

// parseColumn reads the control room's column wording: "absent" or "jsonb NOT NULL default none".
func parseColumn(s string) (column, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return column{}, false
	}
	if s == "absent" {
		return column{}, true
	}
	c := column{Exists: true, Nullable: !strings.Contains(s, "NOT NULL")}
	if i := strings.Index(s, " default "); i >= 0 {
		if d := strings.TrimSpace(s[i+len(" default "):]); d != "none" {
			c.Default = d
		}
	}
	return c, true
}

// writesMetadata says whether orders version v's code writes order_metadata (contains PR #905).
func writesMetadata(v string, st *LiveState, noWrite map[string]bool) bool {
	if st != nil && st.WritesMetadata != nil {
		if w, ok := st.WritesMetadata[v]; ok {
			return w
		}
	}
	if noWrite[v] {
		return false
	}
	return compareVersion(v, "v2.4.0") >= 0
}

// compareVersion compares vX.Y.Z strings numerically; unparsable parts compare as 0.
func compareVersion(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for i := range 3 {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func versionParts(v string) [3]int {
	var p [3]int
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	for i, s := range strings.SplitN(v, ".", 3) {
		p[i], _ = strconv.Atoi(s)
	}
	return p
}

var (
	sqlWrite  = regexp.MustCompile(`(?i)\b(alter|update|delete|drop|insert|truncate|create)\b`)
	sqlSchema = regexp.MustCompile(`(?i)(information_schema|order_metadata|\\d|pg_attribute|goose_db_version|pg_catalog)`)
	sqlFix    = regexp.MustCompile(`(?i)order_metadata.*(set\s+default|drop\s+not\s+null)`)
	sqlDrop   = regexp.MustCompile(`(?i)drop\s+column.*order_metadata|drop\s+table\s+orders`)
	prInArgs  = regexp.MustCompile(`#?\b(\d{3})\b`)
)

// What v2.4.0 touches, from the release and the topology: the roles its PRs change (affected), the edge
// routes that reach none of them, and the roles serving only those routes (unaffected: never to redeploy).
var (
	affected = topology.Names(func(r topology.Role) bool {
		return slices.ContainsFunc(release.V240PRs, func(p release.PR) bool { return p.Service == r.Name })
	})
	unaffectedRoutes, unaffected = untouchedBy(affected)
)

func untouchedBy(changed []string) (routes, roles []string) {
	for _, rt := range topology.Routes {
		if !slices.Contains(changed, rt.Upstream) {
			routes = append(routes, rt.Family)
			if !slices.Contains(roles, rt.Upstream) {
				roles = append(roles, rt.Upstream)
			}
		}
	}
	return routes, roles
}

// argv splits a command event's Detail: "sandbox logs payments", "logs payments" or a JSON array.
func argv(detail string) []string {
	var parts []string
	d := strings.TrimSpace(detail)
	if strings.HasPrefix(d, "[") && json.Unmarshal([]byte(d), &parts) == nil {
	} else {
		parts = strings.Fields(d)
	}
	if len(parts) > 0 && (parts[0] == "sandbox" || strings.HasSuffix(parts[0], "/sandbox")) {
		parts = parts[1:]
	}
	// drop global flags before the verb
	var out []string
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		if len(out) == 0 && strings.HasPrefix(p, "-") {
			if !strings.Contains(p, "=") && slices.Contains([]string{"--name", "-n", "--output", "-o", "--control"}, p) {
				i++
			}
			continue
		}
		out = append(out, p)
	}
	return out
}

// classifyCommand turns a command event into an action. ok=false for commands that are neither a look nor a
// change (hint, answer, grade, help).
func classifyCommand(at time.Time, detail string) (action, bool) {
	args := argv(detail)
	a := action{At: at, What: "`sandbox " + strings.Join(args, " ") + "`"}
	if len(args) == 0 {
		return a, false
	}
	verb, rest := strings.ToLower(args[0]), strings.ToLower(strings.Join(args[1:], " "))
	sub := ""
	if len(args) > 1 {
		sub = strings.ToLower(args[1])
	}
	mentions := func(names ...string) bool {
		for _, w := range args[1:] {
			if slices.Contains(names, strings.ToLower(w)) {
				return true
			}
		}
		return false
	}
	switch verb {
	case "status", "dashboard", "top", "ps", "metrics", "series", "timeline", "events", "alerts", "versions", "watch":
		a.Status = true
	case "changelog", "diff", "release", "releases", "show", "describe":
		if verb == "release" && slices.Contains([]string{"create", "cut", "new", "build"}, sub) {
			a.Change, a.CodeChange = true, true
			return a, true
		}
		a.Changelog = verb == "changelog" || verb == "diff"
		a.Status = !a.Changelog // a release or its manifest: looking at what is deployed
		for _, m := range prInArgs.FindAllStringSubmatch(rest, -1) {
			switch m[1] {
			case strconv.Itoa(release.PROrderMetadata):
				a.SchemaLook = true
			case strconv.Itoa(release.PRPaymentSDK4):
				a.DepLook = true
			}
		}
	case "logs", "log":
		a.AffectedLogs = mentions(affected...)
		a.DepLook = mentions("payments")
		if !a.AffectedLogs {
			a.Status = true // logs of something else is still looking
		}
	case "state", "schema":
		a.SchemaLook = true
	case "migrate", "migration", "migrations":
		switch sub {
		case "", "status", "version", "list", "show":
			a.SchemaLook = true
		default:
			a.Change, a.CodeChange = true, true
			a.DownMigration = sub == "down" || sub == "reset" || sub == "redo"
		}
	case "sql", "psql", "db", "query":
		if sqlWrite.MatchString(rest) {
			a.Change = true
			a.SchemaFix = sqlFix.MatchString(rest)
			a.DownMigration = sqlDrop.MatchString(rest)
			return a, true
		}
		a.SchemaLook = sqlSchema.MatchString(rest) || rest == ""
		a.Status = !a.SchemaLook
	case "flag", "flags":
		switch sub {
		case "", "list", "get", "show", "ls":
			a.Status = true
		default:
			a.Change = true
			a.FlagOff = strings.Contains(rest, "discount") &&
				regexp.MustCompile(`\b(off|disable|disabled|false|0)\b`).MatchString(rest)
		}
	case "deploy", "rollback", "restart", "scale", "kill", "stop", "start", "patch", "revert", "pin", "hotfix", "fix":
		a.Change, a.CodeChange = true, true
		a.SchemaFix = false
	default:
		return a, false
	}
	if !a.Change && !(a.Status || a.Changelog || a.AffectedLogs || a.SchemaLook || a.DepLook) {
		return a, false
	}
	return a, true
}

// analyze replays the timeline.
func analyze(tl []status.Event, st *LiveState, fs []string) *evidence {
	e := &evidence{RolledBack: map[string]string{}, NoWrite: map[string]bool{}, Faults: fs}
	notNull := slices.Contains(fs, release.FaultNotNullTrap)
	for _, ev := range tl {
		if ev.Kind == status.EventDeployFinished && ev.To == "v2.4.0" && e.Baseline.IsZero() {
			e.Baseline = ev.At
		}
		if ev.Kind == status.EventSchemaObserved || ev.Kind == "observed_initial" {
			e.ObservedSchema = true
		}
		if ev.Kind == status.EventReleaseCreated && ev.Data != nil {
			for _, p := range splitList(ev.Data["reverted"]) {
				if strings.TrimPrefix(p, "#") == strconv.Itoa(release.PROrderMetadata) {
					e.NoWrite[ev.To] = true
				}
			}
		}
	}
	observedOrders := slices.ContainsFunc(tl, func(ev status.Event) bool {
		return ev.Kind == status.EventVersionObserved && ev.Service == "orders" ||
			ev.Kind == "observed_initial" && ev.Data != nil && ev.Data["version.orders"] != ""
	})
	for _, ev := range tl {
		if ev.Kind == status.EventSpikeStart && !e.HasSpike && (e.Baseline.IsZero() || !ev.At.Before(e.Baseline.Add(-10*time.Minute))) {
			e.Ref, e.RefKind, e.HasSpike = ev.At, "spike_start", true
		}
	}
	if !e.HasSpike {
		switch {
		case !e.Baseline.IsZero():
			e.Ref, e.RefKind = e.Baseline, "the v2.4.0 deploy"
		case len(tl) > 0:
			e.Ref, e.RefKind = tl[0].At, "the first event"
		}
	}
	afterBaseline := func(ev status.Event, grace time.Duration) bool {
		return e.Baseline.IsZero() || ev.At.After(e.Baseline.Add(grace))
	}

	col, colKnown := column{}, false
	var orders []string
	hints := map[string]bool{}
	// The trap only counts once the release is out: the pipeline's own rollout runs the migration before the
	// new code, a window the card's ramp already shows and the trainee did not cause.
	var open *interval
	qualifies := func(iv *interval) bool { return e.Baseline.IsZero() || iv.From.After(e.Baseline) }
	closeTrap := func(at time.Time) {
		if open == nil {
			return
		}
		open.To = at
		if e.Trap == nil && qualifies(open) {
			e.Trap = open
		}
		open = nil
	}
	check := func(ev status.Event) {
		if !colKnown || !col.trap() {
			closeTrap(ev.At)
			return
		}
		for _, v := range orders {
			if !writesMetadata(v, st, e.NoWrite) {
				if open == nil {
					open = &interval{From: ev.At, What: v}
				}
				return
			}
		}
		closeTrap(ev.At)
	}
	for _, ev := range tl {
		switch ev.Kind {
		case "observed_initial":
			if c, ok := parseColumn(ev.Data["order_metadata"]); ok {
				col, colKnown = c, true
			}
			if v := ev.Data["version.orders"]; v != "" {
				orders = splitList(v)
			}
		case status.EventSchemaObserved:
			if ev.Data != nil {
				col = column{Exists: ev.Data["exists"] == "true", Nullable: ev.Data["nullable"] == "true", Default: ev.Data["default"]}
			} else if c, ok := parseColumn(ev.To); ok {
				col = c
			}
			colKnown = true
			if afterBaseline(ev, observedGrace) {
				e.Changes = append(e.Changes, action{At: ev.At, Observed: true, What: "schema change (" + orDefault(ev.Detail, "order_metadata -> "+ev.To) + ")", Change: true,
					SchemaFix: col.Exists && (col.Nullable || col.Default != "")})
			}
		case status.EventVersionObserved:
			if ev.Service == "orders" {
				orders = splitList(ev.To)
			}
			if slices.Contains(unaffected, ev.Service) && ev.From != "" && ev.From != ev.To {
				e.Touched = appendOnce(e.Touched, fmt.Sprintf("%s %s -> %s at %s", ev.Service, ev.From, ev.To, e.rel(ev.At)))
			}
			if afterBaseline(ev, observedGrace) {
				e.Changes = append(e.Changes, action{At: ev.At, Observed: true, What: "live versions changed (" + orDefault(ev.Detail, fmt.Sprintf("%s %s -> %s", ev.Service, ev.From, ev.To)) + ")",
					Change: true, CodeChange: true})
				if slices.Contains(affected, ev.Service) {
					e.RolledBack[ev.Service] = lastOf(splitList(ev.To))
				}
			}
		case status.EventMigrationVersion:
			from, _ := strconv.ParseInt(ev.From, 10, 64)
			to, _ := strconv.ParseInt(ev.To, 10, 64)
			if afterBaseline(ev, observedGrace) {
				e.Changes = append(e.Changes, action{At: ev.At, Observed: true, What: "migration version " + ev.From + " -> " + ev.To,
					Change: true, CodeChange: true, DownMigration: to < from})
			}
		case status.EventFlagObserved:
			if ev.Data["name"] == release.FlagDiscountCodes && (ev.Data["enabled"] == "false" || ev.Data["rollout_percent"] == "0" || ev.Data["deleted"] == "true") {
				if e.FlagOffAt == nil {
					t := ev.At
					e.FlagOffAt = &t
				}
			}
			if afterBaseline(ev, 0) {
				e.Changes = append(e.Changes, action{At: ev.At, Observed: true, What: ev.Detail, Change: true,
					FlagOff: e.FlagOffAt != nil && e.FlagOffAt.Equal(ev.At)})
			}
		case status.EventDataLoss:
			// Only the observer records data_loss (the write API refuses the kind), whatever way the rows went.
			rows, _ := strconv.ParseInt(ev.Data[status.LossRows], 10, 64)
			what := fmt.Sprintf("%s at %s", orDefault(ev.Detail, orDefault(ev.Data[status.LossTable], "orders")+" rows lost"), e.rel(ev.At))
			if e.DataLoss == nil {
				e.DataLoss = &interval{From: ev.At, What: what}
			}
			e.Losses = append(e.Losses, what)
			e.LostRows += rows
		case status.EventSpikeStart:
		case status.EventRecovered:
			if e.HasSpike && ev.At.After(e.Ref) {
				t := ev.At
				e.Recover = &t
			}
		case status.EventCommand:
			e.CommandCount++
			a, ok := classifyCommand(ev.At, ev.Detail)
			if !ok {
				break
			}
			if a.Change {
				if afterBaseline(ev, 0) {
					e.Changes = append(e.Changes, a)
				}
				if a.FlagOff && e.FlagOffAt == nil {
					t := ev.At
					e.FlagOffAt = &t
				}
				if !e.ObservedSchema && a.SchemaFix {
					col.Default, colKnown = "'{}'::jsonb", true
				}
			} else {
				e.Looks = append(e.Looks, a)
			}
		case status.EventRollback, status.EventDeployStarted, status.EventDeployFinished:
			if ev.Kind != status.EventDeployFinished && ev.Actor != "pipeline" && afterBaseline(ev, 0) {
				word := "deploy"
				if ev.Kind == status.EventRollback {
					word = "rollback"
				}
				e.Changes = append(e.Changes, action{At: ev.At, Change: true, CodeChange: true,
					What: fmt.Sprintf("%s %s %s -> %s", word, orDefault(ev.Service, "all"), ev.From, ev.To)})
				for _, s := range serviceList(ev.Service) {
					if slices.Contains(affected, s) {
						e.RolledBack[s] = ev.To
					}
					if slices.Contains(unaffected, s) {
						e.Touched = appendOnce(e.Touched, fmt.Sprintf("%s %s to %s at %s", word, s, ev.To, e.rel(ev.At)))
					}
				}
			}
			if !observedOrders && ev.Kind != status.EventDeployStarted && slices.Contains(serviceList(ev.Service), "orders") {
				orders = []string{ev.To}
			}
		case status.EventMigration:
			down := strings.HasPrefix(strings.ToLower(strings.TrimSpace(ev.Detail)), "down")
			if ev.Actor != "pipeline" && afterBaseline(ev, 0) {
				e.Changes = append(e.Changes, action{At: ev.At, Change: true, CodeChange: true, DownMigration: down,
					What: "`migrate " + ev.Detail + "`"})
			}
			if !e.ObservedSchema {
				switch {
				case down && col.Exists:
					col, colKnown = column{}, true
				case !down && !col.Exists:
					col, colKnown = column{Exists: true, Nullable: !notNull}, true
				}
			}
		case status.EventReleaseCreated:
			e.FixForward = append(e.FixForward, ev.To)
			if afterBaseline(ev, 0) {
				e.Changes = append(e.Changes, action{At: ev.At, Change: true, CodeChange: true,
					What: "release " + ev.To + " created" + releaseDetail(ev)})
			}
		case status.EventHint:
			sym := ev.Data["fault"]
			if sym == "" {
				sym = ev.Data["symptom"]
			}
			f, err := faults.Lookup(sym)
			if err != nil {
				break
			}
			lvl, _ := strconv.Atoi(ev.Data["level"])
			if lvl < 1 {
				lvl = 1
			}
			key := f.ID + "/" + strconv.Itoa(lvl)
			if !hints[key] {
				hints[key] = true
				e.Hints = append(e.Hints, HintTaken{Fault: f.ID, Level: lvl, Last: lvl >= len(f.Hints), At: ev.At})
			}
		}
		check(ev)
	}
	if open != nil && e.Trap == nil && qualifies(open) {
		e.Trap = open // still live at the end
	}
	slices.SortStableFunc(e.Changes, func(a, b action) int { return a.At.Compare(b.At) })
	return e
}

func releaseDetail(ev status.Event) string {
	var parts []string
	if r := ev.Data["reverted"]; r != "" {
		parts = append(parts, "reverting "+r)
	}
	if p := ev.Data["patches"]; p != "" {
		parts = append(parts, "patches "+p)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func serviceList(s string) []string {
	if s == "" || s == "all" {
		return slices.Clone(affected)
	}
	return splitList(s)
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func lastOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
