package grade

import (
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// FuzzParseState: any body at /api/state is either refused or parsed into the one served shape, with a poll
// time; never a panic.
func FuzzParseState(f *testing.F) {
	for _, s := range []string{`{"at":"2026-05-01T14:00:00Z","ok":true,"order_metadata":{"exists":true,"nullable":false}}`,
		`{"order_metadata_exists":true}`, `{"at":"x"}`, `null`, `[]`, `{"at":"2026-05-01T14:00:00Z","integrity":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseState(b)
		if err == nil && st.At.IsZero() {
			t.Fatalf("parsed a state with no poll time: %q", b)
		}
	})
}

// FuzzClassifyCommand: whatever a trainee types is classified without a panic, and what the action says it
// was names the command as typed (no invented evidence).
func FuzzClassifyCommand(f *testing.F) {
	for _, s := range []string{"sandbox status", "sandbox logs checkout --since 1m", "sandbox sql \"ALTER TABLE orders\"",
		"rollback", "", "\"", "sandbox changelog 905 ' unterminated", "sandbox migrate down 5"} {
		f.Add(s)
	}
	at := time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, detail string) {
		a, _ := classifyCommand(at, detail)
		if !a.At.Equal(at) || !strings.HasPrefix(a.What, "`sandbox") {
			t.Fatalf("classified %q as %+v", detail, a)
		}
	})
}

// FuzzAnswersFromTimeline: a recorded answer of any shape is read without a panic, and an answer event that
// does not decode counts as no answer, never as a right one.
func FuzzAnswersFromTimeline(f *testing.F) {
	f.Add(`{"faults":{"orders":{"pr":905,"function":"orders.createOrder"}}}`)
	f.Add(`{"faults":{"x":{"pr":-1}}}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, answers string) {
		tl := []status.Event{{Kind: status.EventAnswer, Actor: "trainee", Data: map[string]string{"answers": answers}}}
		_ = AnswersFromTimeline(tl)
	})
}
