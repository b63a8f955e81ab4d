// Package topology is the shop's one table of roles and edge routes: which roles there are, whom each calls,
// which are published, which keep data on a volume, which the control room scrapes. `up`, deploy, status,
// the control room and the grader read it; compose/docker-compose.yml is held to it by a test.
package topology

import "slices"

// Role is one kind of container in a sandbox.
type Role struct {
	Name string
	// Calls are the roles it calls; it starts after them.
	Calls []string
	// Shop roles serve the shop's own traffic (the load generator and the control room are not the shop).
	Shop bool
	// Published roles have their port 8080 published on 127.0.0.1 (the gateway for users, the control room
	// for its page and API).
	Published bool
	// DataDir, when set, is where the role's volume is mounted: its state outlives a redeploy.
	DataDir string
	// UsesDB roles connect to Postgres.
	UsesDB bool
}

// Singleton roles are replaced, not rolled: two instances on one volume would write one record twice.
func (r Role) Singleton() bool { return r.DataDir != "" }

// Scraped roles are the ones the control room reads metrics from: every role but itself.
func (r Role) Scraped() bool { return r.Name != Control }

// Role names used by code that treats them specially.
const (
	Gateway = "gateway"
	Control = "control"
	Loadgen = "loadgen"
)

// Roles in display order: the edge first, the request path inwards, then the load and the control room.
var Roles = []Role{
	{Name: Gateway, Calls: []string{"checkout", "orders", "payments", "catalog", "auth"}, Shop: true, Published: true},
	{Name: "checkout", Calls: []string{"orders"}, Shop: true, UsesDB: true},
	{Name: "orders", Calls: []string{"payments"}, Shop: true, UsesDB: true},
	{Name: "payments", Calls: []string{"provider"}, Shop: true, UsesDB: true},
	{Name: "provider", Shop: true},
	{Name: "catalog", Shop: true, UsesDB: true},
	{Name: "auth", Shop: true, UsesDB: true},
	{Name: Loadgen, Calls: []string{Gateway}, UsesDB: true},
	// The control room reads every shop role, so it starts after the shop and sees it whole from its first look.
	{Name: Control, Calls: []string{Gateway, "checkout", "orders", "payments", "provider", "catalog", "auth"},
		Published: true, DataDir: "/data", UsesDB: true},
}

// Lookup returns the role called name.
func Lookup(name string) (Role, bool) {
	i := slices.IndexFunc(Roles, func(r Role) bool { return r.Name == name })
	if i < 0 {
		return Role{}, false
	}
	return Roles[i], true
}

// Names lists the roles keep accepts (all when keep is nil), in display order.
func Names(keep func(Role) bool) []string {
	var out []string
	for _, r := range Roles {
		if keep == nil || keep(r) {
			out = append(out, r.Name)
		}
	}
	return out
}

// StartOrder lists every role after the roles it calls (display order among equals), so each starts once
// what it depends on answers.
func StartOrder() []string {
	var order []string
	placed := map[string]bool{}
	for len(order) < len(Roles) {
		progress := false
		for _, r := range Roles {
			if placed[r.Name] || !allPlaced(r.Calls, placed) {
				continue
			}
			// The load starts once the control room watches, so the baseline sees all of it.
			if r.Name == Loadgen && !placed[Control] {
				continue
			}
			order, placed[r.Name], progress = append(order, r.Name), true, true
		}
		if !progress {
			panic("topology: roles call each other in a cycle")
		}
	}
	return order
}

func allPlaced(names []string, placed map[string]bool) bool {
	for _, n := range names {
		if !placed[n] {
			return false
		}
	}
	return true
}

// Route maps an edge route family to the role that serves it and the path prefix it is rewritten to.
type Route struct {
	Family   string // edge prefix and metric label, e.g. "/api/catalog"
	Upstream string // role alias
	Rewrite  string // upstream path prefix replacing Family
}

// Routes is the edge routing table in display order. The remainder of the path after Family is kept:
// /api/catalog/7 -> catalog /products/7, /api/auth/login -> auth /login.
var Routes = []Route{
	{"/api/checkout", "checkout", "/checkout"},
	{"/api/orders", "orders", "/orders"},
	{"/api/payments", "payments", "/payments"},
	{"/api/search", "catalog", "/search"},
	{"/api/catalog", "catalog", "/products"},
	{"/api/auth", "auth", ""},
}

// Families lists the edge route families in display order.
func Families() []string {
	out := make([]string, len(Routes))
	for i, r := range Routes {
		out[i] = r.Family
	}
	return out
}
