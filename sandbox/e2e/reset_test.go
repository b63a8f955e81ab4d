package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/services/control"
	"github.com/sandbox-labs/sandbox/services/status"
)

// shopState is what a reset must bring back: the orders schema, the flags and the migration version.
type shopState struct {
	Columns   []string
	Flags     []string
	Migration int64
}

func readShopState(t *testing.T, dbURL string) shopState {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the shop database: %v", err)
	}
	defer conn.Close(context.Background())
	var st shopState
	collect := func(q string, into *[]string) {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			*into = append(*into, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	collect(`SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-')
	           FROM information_schema.columns WHERE table_name = 'orders' ORDER BY column_name`, &st.Columns)
	collect(`SELECT name || ' ' || enabled::text || ' ' || rollout_percent::text FROM feature_flags ORDER BY name`, &st.Flags)
	if err := conn.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&st.Migration); err != nil {
		t.Fatalf("migration version: %v", err)
	}
	return st
}

func attemptsJSON(t *testing.T, name string) control.Attempts {
	t.Helper()
	var a control.Attempts
	if err := json.Unmarshal([]byte(mustCLI(t, "attempts", "--name", name, "--output", "json")), &a); err != nil {
		t.Fatalf("attempts json: %v", err)
	}
	return a
}

// TestIntegrationResetStartsTheIncidentAgain: a trainee changes the schema, a flag and a version and cuts a
// fix-forward release; `reset` brings the same sandbox back to the start (v2.3.0, the original schema and
// flags, no fix-forward release) without a rebuild, keeps the old attempt as a verifiable past one, starts a
// fresh record and schedules v2.4.0 again; a second reset stands the first one's rollout down, and its own
// ships.
func TestIntegrationResetStartsTheIncidentAgain(t *testing.T) {
	e := requireEngine(t)
	t.Parallel()
	name := newSandbox(t, e, "reset")
	mustCLI(t, "up", "--name", name, "--incident=false")
	ep, err := e.Endpoints(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	start := readShopState(t, ep.DatabaseURL)

	// What a trainee does during an attempt.
	mustCLI(t, "sql", "--name", name, "ALTER TABLE orders ADD COLUMN trainee_note text")
	mustCLI(t, "flags", "set", "discount_codes", "off", "--name", name)
	mustCLI(t, "deploy", "checkout", "v2.4.0", "--name", name) // runs v2.4.0's migration too
	mustCLI(t, "release", "create", "v2.4.1", "--from", "v2.4.0", "--revert", "892", "--name", name)
	changed := readShopState(t, ep.DatabaseURL)
	if fmt.Sprint(changed) == fmt.Sprint(start) {
		t.Fatalf("the trainee's changes did not change the shop: %+v", changed)
	}
	before, err := ep.ControlRoom().Timeline(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	mustCLI(t, "reset", "--name", name, "--yes", "--incident", "--baseline", "10m", "--follow=false")

	ep, err = e.Endpoints(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if got := readShopState(t, ep.DatabaseURL); fmt.Sprint(got) != fmt.Sprint(start) {
		t.Errorf("after reset the shop database is\n%+v\nwant as at up\n%+v", got, start)
	}
	s := statusJSON(t, name, "10s")
	for _, role := range sandbox.Roles {
		if sv := service(s, role); strings.Join(sv.Versions, ",") != "v2.3.0" {
			t.Errorf("%s runs %v after reset, want v2.3.0 only", role, sv.Versions)
		}
	}
	rels, err := e.Releases(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rels["v2.4.1"]; ok || len(rels) != 2 {
		t.Errorf("releases after reset: %v, want only v2.3.0 and v2.4.0 (the fix-forward image removed)", keys(rels))
	}

	a := attemptsJSON(t, name)
	if a.Current != 2 || len(a.Past) != 1 {
		t.Fatalf("attempts %+v, want the current 2nd and one past", a)
	}
	if p := a.Past[0]; p.Attempt != 1 || !p.Intact || p.Events < len(before) || !p.Shipped {
		t.Errorf("past attempt %+v, want attempt 1 intact with its %d+ events and the v2.4.0 deploy", p, len(before))
	}
	var past []status.Event
	if err := ep.ControlRoom().Get(t.Context(), "/api/attempts/1/timeline", &past); err != nil {
		t.Fatal(err)
	}
	if err := status.VerifyChain(past); err != nil || len(past) < len(before) || past[0].Hash != before[0].Hash {
		t.Errorf("past attempt's record: %d events (had %d), chain %v", len(past), len(before), err)
	}

	if txt := mustCLI(t, "attempts", "1", "--name", name); !strings.Contains(txt, "trainee_note") {
		t.Errorf("sandbox attempts 1 does not show the first attempt's timeline:\n%s", txt)
	}
	tl, err := ep.ControlRoom().Timeline(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := status.VerifyChain(tl); err != nil {
		t.Errorf("the new attempt's record does not verify: %v", err)
	}
	for _, ev := range tl {
		if ev.Kind == status.EventCommand && strings.Contains(ev.Detail, "trainee_note") ||
			ev.Kind == status.EventDeployStarted || ev.Kind == status.EventReleaseCreated {
			t.Errorf("the new attempt's record holds the last attempt's %s %q", ev.Kind, ev.Detail)
		}
	}
	ro := sandbox.RolloutFromTimeline(tl)
	if !ro.Pending() || time.Until(ro.Due) < 8*time.Minute {
		t.Errorf("rollout after reset: %+v, want pending, due in about 10m", ro)
	}

	// A second reset, with a short baseline: the first reset's rollout stands down, the new one ships.
	id, err := e.SandboxID(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	// ... after the trainee locked the shop out of its own database: the reset starts a new Postgres.
	mustCLI(t, "sql", "--name", name, "ALTER USER shop PASSWORD 'locked-out'")
	out, errs, code := runCLI(t, "reset", "--name", name, "--yes", "--baseline", "2s", "--follow=false")
	if code != 0 || !strings.Contains(errs, "starting a new Postgres") {
		t.Fatalf("reset after the password change: exit %d\n%s\n%s", code, out, errs)
	}
	ep, err = e.Endpoints(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if got := readShopState(t, ep.DatabaseURL); fmt.Sprint(got) != fmt.Sprint(start) {
		t.Errorf("after the second reset the shop database is\n%+v\nwant as at up\n%+v", got, start)
	}
	log := filepath.Join(sandbox.CacheDir(), "rollouts", fmt.Sprintf("%s-%.12s-attempt-2.log", name, id))
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(log)
		if strings.Contains(string(b), "reset to a new attempt: nothing to do") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempt 2's rollout did not stand down after the second reset; its log:\n%s", b)
		}
		time.Sleep(time.Second)
	}
	if a := attemptsJSON(t, name); a.Current != 3 || len(a.Past) != 2 || a.Past[1].Shipped {
		t.Errorf("attempts after the second reset: %+v, want 3 current and 2 past, the 2nd never shipped", a)
	}
	waitStatus(t, name, "10s", 3*time.Minute, "attempt 3's v2.4.0 rollout", func(s status.Snapshot) bool {
		for _, role := range sandbox.ReleaseServices {
			if strings.Join(service(s, role).Versions, ",") != "v2.4.0" {
				return false
			}
		}
		return true
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
