package sandbox

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"sandbox", "team-1", "a", "t" + strings.Repeat("x", 29)} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v, want ok", ok, err)
		}
	}
	for _, bad := range []string{"", "Team", "1team", "team_1", "team-", "a/b", "t" + strings.Repeat("x", 30), "te am"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) accepted, want error", bad)
		}
	}
}

func TestNameFilterSelectsOneSandbox(t *testing.T) {
	f := NameFilter("team-1", "orders")
	got := f.Get("label")
	want := map[string]bool{LabelManaged + "=true": true, LabelName + "=team-1": true, LabelService + "=orders": true}
	if len(got) != len(want) {
		t.Fatalf("labels %v, want %v", got, want)
	}
	for _, l := range got {
		if !want[l] {
			t.Errorf("unexpected label filter %q", l)
		}
	}
	if all := NameFilter("").Get("label"); len(all) != 1 || all[0] != LabelManaged+"=true" {
		t.Errorf("all-sandboxes filter = %v, want only the managed label", all)
	}
}
