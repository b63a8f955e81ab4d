package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/status"
)

// A sandbox can be worked more than once: `sandbox reset` puts it back at the start of the incident and the
// control room starts a fresh record. The record of each earlier attempt is kept, whole and still
// hash-chained, under DataDir/attempts/<n>/; DataDir/attempt.json says which attempt the live record is.
// Only the live record is graded.

const (
	attemptFile = "attempt.json"
	attemptsDir = "attempts"
)

type attemptMeta struct {
	Attempt int       `json:"attempt"`
	Since   time.Time `json:"since,omitempty"`
}

// currentAttempt reads dir's attempt number (1 for a data dir that never saw a reset).
func currentAttempt(dir string) (attemptMeta, error) {
	var m attemptMeta
	found, err := readJSON(filepath.Join(dir, attemptFile), &m)
	if err != nil {
		return m, err
	}
	if !found || m.Attempt < 1 {
		m.Attempt = 1
	}
	return m, nil
}

// StartAttempt makes want the live attempt of data dir dir. When dir records an earlier attempt, every file of
// it (timeline, series, state, watch) moves to attempts/<n>/ first, so the new attempt starts a fresh chain
// and the old one stays verifiable. A want no higher than the current attempt changes nothing, so a control
// room restarted with the same environment does not archive again. It returns the live attempt.
func StartAttempt(dir string, want int, now time.Time) (int, error) {
	cur, err := currentAttempt(dir)
	if err != nil {
		return 0, err
	}
	if want <= cur.Attempt {
		return cur.Attempt, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("read data dir: %w", err)
	}
	dst := filepath.Join(dir, attemptsDir, strconv.Itoa(cur.Attempt))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return 0, fmt.Errorf("archive attempt %d: %w", cur.Attempt, err)
	}
	// One rename per entry: a crash half-way leaves the rest in place, and the next start moves it too.
	for _, en := range entries {
		if en.Name() == attemptsDir || en.Name() == attemptFile {
			continue
		}
		if err := os.Rename(filepath.Join(dir, en.Name()), filepath.Join(dst, en.Name())); err != nil {
			return 0, fmt.Errorf("archive attempt %d: %w", cur.Attempt, err)
		}
	}
	if err := writeJSONAtomic(filepath.Join(dir, attemptFile), attemptMeta{Attempt: want, Since: now.UTC()}); err != nil {
		return 0, err
	}
	return want, nil
}

// PastAttempt summarises one archived attempt.
type PastAttempt struct {
	Attempt  int        `json:"attempt"`
	Events   int        `json:"events"`
	First    *time.Time `json:"first,omitempty"`
	Last     *time.Time `json:"last,omitempty"`
	Shipped  bool       `json:"shipped"`           // the record shows a v2.4.0 deploy
	Graded   bool       `json:"graded"`            // `sandbox grade` ended it
	Verdict  string     `json:"verdict,omitempty"` // the grade's own words, when graded
	Intact   bool       `json:"intact"`            // its hash chain verifies
	Problem  string     `json:"problem,omitempty"` // why it does not
	Archived string     `json:"-"`
}

// Attempts is what GET /api/attempts answers.
type Attempts struct {
	Current int           `json:"current"`
	Since   *time.Time    `json:"since,omitempty"` // when the live attempt started (nil: with the sandbox)
	Past    []PastAttempt `json:"past"`
}

// readArchived loads an archived attempt's events.
func readArchived(dir string, n int) ([]status.Event, bool, error) {
	p := filepath.Join(dir, attemptsDir, strconv.Itoa(n))
	if _, err := os.Stat(p); err != nil {
		return nil, false, nil
	}
	evs := []status.Event{}
	err := readJSONLines(filepath.Join(p, "events.jsonl"), func(b []byte) error {
		var e status.Event
		if err := json.Unmarshal(b, &e); err != nil {
			return err
		}
		evs = append(evs, e)
		return nil
	})
	return evs, true, err
}

// ListAttempts reads the live attempt number and a summary of each archived one, oldest first.
func ListAttempts(dir string) (Attempts, error) {
	cur, err := currentAttempt(dir)
	if err != nil {
		return Attempts{}, err
	}
	a := Attempts{Current: cur.Attempt, Past: []PastAttempt{}}
	if !cur.Since.IsZero() {
		t := cur.Since
		a.Since = &t
	}
	entries, _ := os.ReadDir(filepath.Join(dir, attemptsDir))
	var nums []int
	for _, en := range entries {
		if n, err := strconv.Atoi(en.Name()); err == nil && en.IsDir() && n > 0 {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		evs, _, err := readArchived(dir, n)
		if err != nil {
			return a, err
		}
		a.Past = append(a.Past, summarise(n, evs))
	}
	return a, nil
}

func summarise(n int, evs []status.Event) PastAttempt {
	p := PastAttempt{Attempt: n, Events: len(evs), Intact: true}
	if err := status.VerifyChain(evs); err != nil {
		p.Intact, p.Problem = false, err.Error()
	}
	if len(evs) > 0 {
		f, l := evs[0].At, evs[len(evs)-1].At
		p.First, p.Last = &f, &l
	}
	for _, e := range evs {
		switch {
		case e.Kind == status.EventDeployStarted && e.To == "v2.4.0":
			p.Shipped = true
		case e.Kind == status.EventAttemptEnded && e.Actor == "cli":
			p.Graded = true
			p.Verdict = e.Detail
		}
	}
	return p
}

func (c *Controller) handleAttempts(w http.ResponseWriter, r *http.Request) {
	a, err := ListAttempts(c.opts.DataDir)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	platform.WriteJSON(w, http.StatusOK, a)
}

func (c *Controller) handleAttemptTimeline(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		apiError(w, http.StatusBadRequest, "attempt: want a positive number")
		return
	}
	evs, found, err := readArchived(c.opts.DataDir, n)
	switch {
	case err != nil:
		apiError(w, http.StatusInternalServerError, err.Error())
	case !found:
		apiError(w, http.StatusNotFound, fmt.Sprintf("no past attempt %d (see /api/attempts)", n))
	default:
		platform.WriteJSON(w, http.StatusOK, evs)
	}
}
