package control

import (
	"encoding/json"
	"path/filepath"
	"sync"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// Timeline is the append-only event record, persisted as JSON lines (events.jsonl) in the data dir. Each
// event is sealed into a hash chain (status.Seal) as it is appended, so an edit of the file shows.
type Timeline struct {
	mu     sync.Mutex
	events []status.Event
	seq    int64
	last   string // Hash of the last event: the next one's Prev
	posted int    // events not written by the observer
	file   *jsonLines
	now    func() time.Time
}

// OpenTimeline reloads dir/events.jsonl and keeps appending to it; seq continues from the last event.
func OpenTimeline(dir string, now func() time.Time) (*Timeline, error) {
	path := filepath.Join(dir, "events.jsonl")
	t := &Timeline{now: now}
	err := readJSONLines(path, func(b []byte) error {
		var e status.Event
		if err := json.Unmarshal(b, &e); err != nil {
			return err
		}
		t.events = append(t.events, e)
		t.count(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t.file, err = openJSONLines(path); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Timeline) count(e status.Event) {
	if e.Seq > t.seq {
		t.seq = e.Seq
	}
	t.last = e.Hash
	if e.Actor != "observed" {
		t.posted++
	}
}

// Append assigns the next Seq (and At when zero), seals the event to the one before it, persists it, and
// returns it.
func (t *Timeline) Append(e status.Event) (status.Event, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e.Seq = t.seq + 1
	if e.At.IsZero() {
		e.At = t.now()
	}
	e.At = e.At.UTC()
	e = status.Seal(e, t.last)
	// Persist first: an event the API acknowledged must survive a restart.
	if err := t.file.Append(e, true); err != nil {
		return status.Event{}, err
	}
	t.events = append(t.events, e)
	t.count(e)
	return e, nil
}

// Events returns the events with Seq > afterSeq, oldest first.
func (t *Timeline) Events(afterSeq int64) []status.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []status.Event{}
	for _, e := range t.events {
		if e.Seq > afterSeq {
			out = append(out, e)
		}
	}
	return out
}

// Posted is how many events came from outside the observer (the API's share of the record).
func (t *Timeline) Posted() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.posted
}

// Close closes the file.
func (t *Timeline) Close() error { return t.file.Close() }
