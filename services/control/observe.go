package control

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/services/control/dbstate"
	"github.com/sandbox-labs/sandbox/services/status"
)

// Thresholds of the observed spike/recovery events (edge error rate over SpikeWindow).
const (
	SpikeWindow       = 15 * time.Second
	SpikeAbove        = 0.05
	RecoverBelow      = 0.01
	RecoverSustain    = 10 * time.Second
	minSpikeRequests  = 20               // fewer requests in the window say nothing about the error rate
	armAfterFirstEdge = 60 * time.Second // see observer.SpikeArmed
	versionDebounce   = 2                // scrapes a new version set must persist before it is reported
)

// EventObservedInitial records the state the control room first saw (its baseline).
const EventObservedInitial = status.EventObservedInitial

// observer is the baseline the control room compares each poll against; persisted in state.json so a
// restart neither repeats nor misses events.
type observer struct {
	Initialized bool                `json:"initialized"`
	Versions    map[string][]string `json:"versions"`
	Pending     map[string]pending  `json:"pending,omitempty"`
	DB          *dbstate.State      `json:"db,omitempty"`
	Spike       bool                `json:"spike"`
	// SpikeArmed turns true once the edge has been seen healthy (or after a grace period): errors while the
	// shop is still starting up are not a spike.
	SpikeArmed  bool      `json:"spike_armed"`
	BelowSince  time.Time `json:"below_since,omitempty"`
	FirstEdgeAt time.Time `json:"first_edge_at,omitempty"`
}

type pending struct {
	Set   []string `json:"set"`
	Count int      `json:"count"`
}

func newObserver() *observer {
	return &observer{Versions: map[string][]string{}, Pending: map[string]pending{}}
}

func obsEvent(kind string) status.Event { return status.Event{Kind: kind, Actor: "observed"} }

// observeVersions compares each role's live version set with the baseline. A role's first non-empty set is
// its baseline; a change is reported once it has held for versionDebounce scrapes.
func (o *observer) observeVersions(now time.Time, live map[string][]string) []status.Event {
	var evs []status.Event
	for _, role := range ScrapedRoles {
		set := live[role]
		base, known := o.Versions[role]
		if !known {
			if len(set) > 0 {
				o.Versions[role] = set
			}
			continue
		}
		if slices.Equal(set, base) {
			delete(o.Pending, role)
			continue
		}
		p := o.Pending[role]
		if slices.Equal(p.Set, set) {
			p.Count++
		} else {
			p = pending{Set: set, Count: 1}
		}
		if p.Count < versionDebounce {
			o.Pending[role] = p
			continue
		}
		delete(o.Pending, role)
		o.Versions[role] = set
		e := obsEvent(status.EventVersionObserved)
		e.At, e.Service, e.From, e.To = now, role, strings.Join(base, ","), strings.Join(set, ",")
		e.Detail = fmt.Sprintf("%s live versions %s -> %s", role, setString(base), setString(set))
		evs = append(evs, e)
	}
	return evs
}

func setString(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return "{" + strings.Join(s, ",") + "}"
}

// dbReady says whether a poll can be the DB baseline: the schema exists (migrations ran).
func dbReady(st dbstate.State) bool { return st.OK && (st.MigrationVersion > 0 || st.OrdersTable) }

// observeDB compares a successful poll with the previous one.
func (o *observer) observeDB(now time.Time, cur dbstate.State) []status.Event {
	if !cur.OK {
		return nil // the database being down says nothing about its state
	}
	if o.DB == nil {
		if dbReady(cur) {
			c := cur
			o.DB = &c
		}
		return nil
	}
	prev := *o.DB
	var evs []status.Event
	pc, cc := prev.OrderMetadata, cur.OrderMetadata
	if pc.Exists != cc.Exists || pc.Nullable != cc.Nullable || strPtr(pc.Default) != strPtr(cc.Default) {
		e := obsEvent(status.EventSchemaObserved)
		e.At, e.Service, e.From, e.To = now, "orders", columnString(pc), columnString(cc)
		e.Detail = "orders.order_metadata: " + e.From + " -> " + e.To
		e.Data = map[string]string{"exists": strconv.FormatBool(cc.Exists), "nullable": strconv.FormatBool(cc.Nullable),
			"default": strPtr(cc.Default)}
		evs = append(evs, e)
	}
	if prev.MigrationVersion != cur.MigrationVersion {
		e := obsEvent(status.EventMigrationVersion)
		e.At, e.From, e.To = now, strconv.FormatInt(prev.MigrationVersion, 10), strconv.FormatInt(cur.MigrationVersion, 10)
		e.Detail = "goose version " + e.From + " -> " + e.To
		evs = append(evs, e)
	}
	evs = append(evs, flagEvents(now, prev.Flags, cur.Flags)...)
	o.DB = &cur
	return evs
}

// lossEvents turns what the data-loss watch found into data_loss events, one per table and check.
func lossEvents(now time.Time, losses []dbstate.Loss) []status.Event {
	var evs []status.Event
	for _, l := range losses {
		e := obsEvent(status.EventDataLoss)
		e.At, e.Service = now, l.Table
		ids := make([]string, len(l.IDs))
		for i, id := range l.IDs {
			ids[i] = strconv.FormatInt(id, 10)
		}
		e.Data = map[string]string{status.LossTable: l.Table, status.LossRows: strconv.FormatInt(l.Rows(), 10),
			status.LossDeleted: strconv.FormatInt(l.Deleted, 10), status.LossOverwritten: strconv.FormatInt(l.Overwritten, 10),
			status.LossMetadataRows: strconv.FormatInt(l.MetadataRows, 10), status.LossIDs: strings.Join(ids, ","),
			status.LossCause: l.Cause}
		if l.Table == "orders" {
			e.Data[status.LossColumn] = strconv.FormatBool(l.ColumnExists)
		}
		e.Detail = lossDetail(l)
		switch {
		case len(ids) == 1 && l.Rows() == 1:
			e.Detail += " (id " + ids[0] + ")"
		case len(ids) > 0:
			more := ""
			if l.Rows() > int64(len(ids)) {
				more = ", ..."
			}
			e.Detail += " (ids " + strings.Join(ids, ", ") + more + ")"
		}
		evs = append(evs, e)
	}
	return evs
}

func lossDetail(l dbstate.Loss) string {
	switch l.Cause {
	case status.CauseColumnDropped:
		return fmt.Sprintf("orders.order_metadata dropped: the metadata of %s is gone", plural(l.MetadataRows, "order"))
	case status.CauseColumnReplaced:
		return fmt.Sprintf("orders.order_metadata dropped and added again: the metadata of %s is gone", plural(l.MetadataRows, "order"))
	case status.CauseTableDropped:
		return fmt.Sprintf("table %s dropped: %s gone", l.Table, plural(l.Rows(), "row"))
	case status.CauseTableEmptied:
		return fmt.Sprintf("table %s truncated: %s gone", l.Table, plural(l.Rows(), "row"))
	case status.CauseOverwritten:
		return fmt.Sprintf("orders.order_metadata overwritten in %s", plural(l.Overwritten, "order"))
	}
	d := fmt.Sprintf("%s deleted from %s", plural(l.Deleted, "row"), l.Table)
	if n := l.MetadataRows - l.Overwritten; l.Table == "orders" && n > 0 {
		d += fmt.Sprintf(", %d with order_metadata", n)
	}
	if l.Overwritten > 0 {
		d += fmt.Sprintf("; order_metadata overwritten in %s more", plural(l.Overwritten, "order"))
	}
	return d
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func flagEvents(now time.Time, prev, cur []status.Flag) []status.Event {
	pm, cm := map[string]status.Flag{}, map[string]status.Flag{}
	var names []string
	for _, f := range prev {
		pm[f.Name] = f
		names = append(names, f.Name)
	}
	for _, f := range cur {
		cm[f.Name] = f
		if _, ok := pm[f.Name]; !ok {
			names = append(names, f.Name)
		}
	}
	sort.Strings(names)
	var evs []status.Event
	for _, n := range names {
		p, hadP := pm[n]
		c, hasC := cm[n]
		if hadP && hasC && p == c {
			continue
		}
		e := obsEvent(status.EventFlagObserved)
		e.At, e.Detail = now, n
		if hadP {
			e.From = flagString(p)
		}
		e.Data = map[string]string{"name": n}
		if hasC {
			e.To = flagString(c)
			e.Data["enabled"] = strconv.FormatBool(c.Enabled)
			e.Data["rollout_percent"] = strconv.Itoa(c.RolloutPercent)
		} else {
			e.Data["deleted"] = "true"
		}
		e.Detail = fmt.Sprintf("flag %s: %s -> %s", n, orNone(e.From), orNone(e.To))
		evs = append(evs, e)
	}
	return evs
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func flagString(f status.Flag) string {
	return fmt.Sprintf("enabled=%t rollout=%d%%", f.Enabled, f.RolloutPercent)
}

func strPtr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func columnString(c dbstate.Column) string {
	if !c.Exists {
		return "absent"
	}
	d := "none"
	if c.Default != nil {
		d = *c.Default
	}
	null := "NOT NULL"
	if c.Nullable {
		null = "NULL"
	}
	return fmt.Sprintf("%s %s default %s", c.DataType, null, d)
}

// observeEdge tracks the spike/recovery state from the edge error rate over SpikeWindow.
func (o *observer) observeEdge(now time.Time, w WindowResult, ok bool) []status.Event {
	if !ok {
		return nil
	}
	if o.FirstEdgeAt.IsZero() {
		o.FirstEdgeAt = now
	}
	if w.Total.Requests < minSpikeRequests {
		return nil
	}
	rate := w.Total.ErrorRate()
	if !o.SpikeArmed {
		if rate < RecoverBelow || now.Sub(o.FirstEdgeAt) >= armAfterFirstEdge {
			o.SpikeArmed = true
		} else {
			return nil
		}
	}
	data := func() map[string]string {
		return map[string]string{"error_rate": strconv.FormatFloat(rate, 'f', 4, 64),
			"p99_ms":   strconv.FormatFloat(w.Total.Quantile(0.99)*1000, 'f', 0, 64),
			"requests": strconv.FormatFloat(w.Total.Requests, 'f', 0, 64), "window": SpikeWindow.String()}
	}
	if !o.Spike {
		if rate > SpikeAbove {
			o.Spike, o.BelowSince = true, time.Time{}
			e := obsEvent(status.EventSpikeStart)
			e.At, e.Service, e.Data = now, "gateway", data()
			e.Detail = fmt.Sprintf("edge error rate %.1f%% over the last %s", rate*100, SpikeWindow)
			return []status.Event{e}
		}
		return nil
	}
	if rate >= RecoverBelow {
		o.BelowSince = time.Time{}
		return nil
	}
	if o.BelowSince.IsZero() {
		o.BelowSince = now
	}
	if now.Sub(o.BelowSince) < RecoverSustain {
		return nil
	}
	e := obsEvent(status.EventRecovered)
	e.At, e.Service, e.Data = now, "gateway", data()
	e.Data["below_since"] = o.BelowSince.UTC().Format(time.RFC3339)
	e.Detail = fmt.Sprintf("edge error rate %.2f%% (under %.0f%% since %s)", rate*100, RecoverBelow*100,
		o.BelowSince.UTC().Format(time.RFC3339))
	o.Spike, o.BelowSince = false, time.Time{}
	return []status.Event{e}
}

// initialEvent summarises the baseline once.
func initialEvent(now time.Time, versions map[string][]string, db *dbstate.State) status.Event {
	e := obsEvent(EventObservedInitial)
	e.At = now
	e.Data = map[string]string{}
	var parts []string
	for _, role := range ScrapedRoles {
		if v := versions[role]; len(v) > 0 {
			e.Data["version."+role] = strings.Join(v, ",")
			parts = append(parts, role+"="+strings.Join(v, ","))
		}
	}
	if db != nil {
		e.Data["migration_version"] = strconv.FormatInt(db.MigrationVersion, 10)
		e.Data["order_metadata"] = columnString(db.OrderMetadata)
		e.Data["orders"] = strconv.FormatInt(db.Orders, 10)
		e.Data["metadata_rows"] = strconv.FormatInt(db.MetadataRows, 10)
		for _, f := range db.Flags {
			e.Data["flag."+f.Name] = flagString(f)
		}
		parts = append(parts, "migration="+e.Data["migration_version"], "order_metadata="+e.Data["order_metadata"])
	}
	e.Detail = strings.Join(parts, " ")
	return e
}
