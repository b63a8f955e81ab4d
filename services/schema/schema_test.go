package schema

import (
	"context"
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/services/release"
)

func TestListOrderAndMetadata(t *testing.T) {
	l := List(Options{})
	if len(l) != 5 {
		t.Fatalf("got %d migrations, want 5", len(l))
	}
	wantNames := []string{"users", "products", "orders_payments", "discounts_flags", "order_metadata"}
	for i, m := range l {
		if m.Version != int64(i+1) {
			t.Errorf("migration %d has version %d, want %d", i, m.Version, i+1)
		}
		if m.Name != wantNames[i] {
			t.Errorf("version %d name %q, want %q", m.Version, m.Name, wantNames[i])
		}
		if m.Up == "" || m.Down == "" {
			t.Errorf("version %d has empty up or down SQL", m.Version)
		}
		if strings.Contains(m.Up, "+goose") || strings.Contains(m.Down, "+goose") {
			t.Errorf("version %d display SQL still carries goose annotations", m.Version)
		}
		if m.Version <= release.MigrationBase && (m.Release != "v2.3.0" || m.PR != 0) {
			t.Errorf("base version %d: release %q pr %d", m.Version, m.Release, m.PR)
		}
	}
	if l[4].Release != "v2.4.0" || l[4].PR != release.PROrderMetadata {
		t.Errorf("version 5: release %q pr %d, want v2.4.0 #905", l[4].Release, l[4].PR)
	}
	if Latest() != release.MigrationOrderMetadata {
		t.Errorf("Latest() = %d, want %d", Latest(), release.MigrationOrderMetadata)
	}
}

func TestOrderMetadataForms(t *testing.T) {
	faulty := List(Options{})[4]
	safe := List(Options{SafeOrderMetadata: true})[4]
	if !strings.Contains(faulty.Up, "NOT NULL DEFAULT '{}'") || !strings.Contains(faulty.Up, "DROP DEFAULT") {
		t.Errorf("faulty form must add NOT NULL with a default and then drop it:\n%s", faulty.Up)
	}
	if strings.Contains(safe.Up, "NOT NULL") || strings.Contains(safe.Up, "DROP DEFAULT") || !strings.Contains(safe.Up, "DEFAULT '{}'") {
		t.Errorf("safe form must be nullable with a default:\n%s", safe.Up)
	}
	want := "ALTER TABLE orders DROP COLUMN order_metadata;"
	if faulty.Down != want || safe.Down != want {
		t.Errorf("down SQL: faulty %q safe %q, want %q", faulty.Down, safe.Down, want)
	}
	// Base versions are identical in both forms.
	for i := 0; i < 4; i++ {
		if List(Options{})[i].Up != List(Options{SafeOrderMetadata: true})[i].Up {
			t.Errorf("version %d differs between forms", i+1)
		}
	}
}

func TestOptionsForRelease(t *testing.T) {
	cases := []struct {
		name string
		rel  release.Release
		safe bool
	}{
		{"v2.3.0", release.V230(), false},
		{"v2.4.0 all faults", release.V240(nil, 0), false},
		{"v2.4.0 without not-null", release.V240([]string{release.FaultFlagLeak, release.FaultSDKBreak}, 0), true},
		{"v2.4.0 only not-null", release.V240([]string{release.FaultNotNullTrap}, 0), false},
	}
	for _, c := range cases {
		if got := OptionsForRelease(c.rel).SafeOrderMetadata; got != c.safe {
			t.Errorf("%s: SafeOrderMetadata = %v, want %v", c.name, got, c.safe)
		}
	}
}

func TestUnknownTargetRejectedBeforeConnecting(t *testing.T) {
	// The URL points nowhere: an unknown target must fail on validation, never by reaching a database.
	const url = "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"
	ctx := context.Background()
	if _, err := Up(ctx, url, 9, Options{}); err == nil || !strings.Contains(err.Error(), "unknown target version 9") {
		t.Errorf("Up(9) error = %v, want unknown target version", err)
	}
	for _, v := range []int64{-1, 6} {
		if _, err := Down(ctx, url, v); err == nil || !strings.Contains(err.Error(), "unknown target version") {
			t.Errorf("Down(%d) error = %v, want unknown target version", v, err)
		}
	}
}

func TestSplitSQL(t *testing.T) {
	up, down := splitSQL("-- comment\n-- +goose Up\nA;\nB;\n\n-- +goose Down\nC;\n")
	if up != "A;\nB;" || down != "C;" {
		t.Errorf("splitSQL = %q, %q", up, down)
	}
}
