package topology

import (
	"slices"
	"testing"
)

func TestStartOrderPutsEveryRoleAfterWhatItCalls(t *testing.T) {
	order := StartOrder()
	if len(order) != len(Roles) {
		t.Fatalf("start order %v has %d roles, want %d", order, len(order), len(Roles))
	}
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	for _, r := range Roles {
		for _, c := range r.Calls {
			if _, ok := Lookup(c); !ok {
				t.Errorf("%s calls unknown role %q", r.Name, c)
			}
			if pos[c] > pos[r.Name] {
				t.Errorf("%s starts before %s, which it calls (order %v)", r.Name, c, order)
			}
		}
	}
	if order[len(order)-1] != Loadgen || pos[Control] != len(order)-2 {
		t.Errorf("start order %v: want the control room just before the load generator, last", order)
	}
}

func TestRoutesServedByShopRolesTheGatewayCalls(t *testing.T) {
	gw, _ := Lookup(Gateway)
	for _, rt := range Routes {
		r, ok := Lookup(rt.Upstream)
		if !ok || !r.Shop {
			t.Errorf("route %s goes to %q, not a shop role", rt.Family, rt.Upstream)
		}
		if !slices.Contains(gw.Calls, rt.Upstream) {
			t.Errorf("route %s goes to %s, which the gateway's Calls do not list", rt.Family, rt.Upstream)
		}
	}
	if len(Families()) != len(Routes) {
		t.Fatal("Families does not list every route")
	}
}

func TestOnlyRolesWithAVolumeAreSingletons(t *testing.T) {
	for _, r := range Roles {
		if r.Singleton() != (r.Name == Control) {
			t.Errorf("%s: singleton %v", r.Name, r.Singleton())
		}
	}
	if slices.Contains(Names(Role.Scraped), Control) {
		t.Error("the control room scrapes itself")
	}
}
