package grade

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sandbox-labs/sandbox/services/control/dbstate"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/status"
)

// PaymentMethods are every method the shop takes; the payment probe tries each.
var PaymentMethods = []string{"card", "saved_card", "wallet"}

// ProbeDiscountCode is a seeded, valid discount code.
const ProbeDiscountCode = "SAVE10"

// Probe users: the cohort rule (release.InCohort) picks who sees the discount field, and the seed moves the
// rollout between release.CohortPercentMin and Max. The code probe is a user inside the cohort at every
// seeded share, the no-code probe one outside it at every share, so the probes judge each seeded variant on
// its own cohort.
var probeUserNoCode, probeUserWithCode = probeUsers(release.CohortPercentMin, release.CohortPercentMax)

func probeUsers(insideBelow, outsideFrom int) (outside, inside int) {
	for id := 1; id <= 1000 && (outside == 0 || inside == 0); id++ {
		switch b := release.CohortBucket(release.FlagDiscountCodes, int64(id)); {
		case b < insideBelow && inside == 0:
			inside = id
		case b >= outsideFrom && outside == 0:
			outside = id
		}
	}
	return outside, inside
}

type item struct {
	ProductID int `json:"product_id"`
	Qty       int `json:"qty"`
}

var probeItems = []item{{ProductID: 1, Qty: 1}}

// RunProbes sends the synthetic requests through the gateway at base (e.g. http://127.0.0.1:49153) and returns
// one result per request. A response the gateway marks as its background noise is retried once: the probe
// judges the services, not the 0.1% the edge injects on purpose.
func RunProbes(ctx context.Context, client *http.Client, base string) []ProbeResult {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	base = strings.TrimRight(base, "/")
	p := func(check, name, path string, user int, body any) (ProbeResult, []byte) {
		return probe(ctx, client, base, check, name, path, user, body)
	}
	var out []ProbeResult
	r, _ := p(CheckProbeCheckoutNoCode, "no code, card", "/api/checkout", probeUserNoCode,
		map[string]any{"user_id": probeUserNoCode, "items": probeItems, "payment_method": "card"})
	out = append(out, r)
	r, _ = p(CheckProbeCheckoutCode, ProbeDiscountCode+", saved_card", "/api/checkout", probeUserWithCode,
		map[string]any{"user_id": probeUserWithCode, "items": probeItems, "payment_method": "saved_card",
			"discount_code": ProbeDiscountCode})
	out = append(out, r)
	r, body := p(CheckProbeOrder, "", "/api/orders", probeUserNoCode,
		map[string]any{"user_id": probeUserNoCode, "items": probeItems, "payment_method": "card"})
	out = append(out, r)
	orderID := orderIDFrom(body)
	// Every payment method: which stored-credential path breaks depends on the seed (saved_card or wallet).
	for _, method := range PaymentMethods {
		r, _ = p(CheckProbePayment, method, "/api/payments", probeUserNoCode,
			map[string]any{"order_id": orderID, "amount_cents": 1000, "payment_method": method})
		out = append(out, r)
	}
	return out
}

// orderIDFrom reads the id of a created order ({"id":..} or {"order_id":..}); 1 (a seeded-era order id) when
// the order probe failed, so the payment probe still judges payments on its own.
func orderIDFrom(body []byte) int64 {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for _, k := range []string{"id", "order_id"} {
			if f, ok := m[k].(float64); ok && f > 0 {
				return int64(f)
			}
		}
		if o, ok := m["order"].(map[string]any); ok {
			if f, ok := o["id"].(float64); ok && f > 0 {
				return int64(f)
			}
		}
	}
	return 1
}

func probe(ctx context.Context, client *http.Client, base, check, name, path string, user int, body any) (ProbeResult, []byte) {
	res := ProbeResult{Check: check, Name: name, Method: http.MethodPost, Path: path}
	payload, _ := json.Marshal(body)
	var respBody []byte
	for attempt := 1; attempt <= 2; attempt++ {
		res.Attempts = attempt
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(payload))
		if err != nil {
			res.Err = err.Error()
			return res, nil
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-User-ID", strconv.Itoa(user))
		start := time.Now()
		resp, err := client.Do(req)
		res.Latency = time.Since(start)
		if err != nil {
			res.Code, res.Err = 0, err.Error()
			return res, nil
		}
		respBody, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		res.Code = resp.StatusCode
		if resp.Header.Get("X-Sandbox-Edge-Error") == "noise" && attempt == 1 {
			continue
		}
		break
	}
	if !res.OK() {
		res.Body = clip(strings.Join(strings.Fields(string(respBody)), " "), 200)
	}
	return res, respBody
}

// ParseState decodes the control room's GET /api/state: a status.DBState, the type the control room serves.
// A body without a poll time is not that state and is refused, so a shape the control room never sends
// cannot be graded as if it were.
func ParseState(b []byte) (status.DBState, error) {
	var st status.DBState
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode control room state: %w", err)
	}
	if st.At.IsZero() {
		return st, fmt.Errorf("decode control room state: no poll time (\"at\"): not the control room's /api/state")
	}
	return st, nil
}

// readDB polls Postgres at dbURL directly, with the control room's own reader.
func readDB(ctx context.Context, dbURL string) (status.DBState, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return status.DBState{}, fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	st := dbstate.Poll(ctx, conn, time.Now())
	if !st.OK {
		return st, fmt.Errorf("read database: %s", st.Error)
	}
	return st, nil
}

// LiveInput names where the live evidence comes from.
type LiveInput struct {
	Client      *http.Client
	GatewayURL  string // edge base URL; empty skips the probes (they fail as not run)
	DatabaseURL string // Postgres URL; empty trusts the control room's state
	ControlURL  string // control room base URL; used when Snapshot/State/Timeline are nil
	// Fresh is how long to wait for the control room to verify every row it watches after the grade began
	// (a change made a moment before grading is then on record); 0 takes the state as it is.
	Fresh      time.Duration
	Snapshot   *status.Snapshot
	State      *LiveState
	Timeline   []status.Event
	Thresholds Thresholds
}

// Collect gathers the observation: control room JSON (fetched when not given), a direct database read and
// the gateway probes. It errors only when the control room cannot be read at all: the caller cannot grade.
func Collect(ctx context.Context, in LiveInput) (Observation, error) {
	th := in.Thresholds
	if th == (Thresholds{}) {
		th = DefaultThresholds()
	}
	client := in.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	obs := Observation{Snapshot: in.Snapshot, State: in.State, Timeline: in.Timeline}
	// The database first: a table held locked fails here within its lock timeout, before any wait below.
	var direct *status.DBState
	if in.DatabaseURL != "" {
		d, err := readDB(ctx, in.DatabaseURL)
		if err != nil {
			return obs, err
		}
		direct = &d
	}
	if in.ControlURL != "" {
		base := strings.TrimRight(in.ControlURL, "/")
		if obs.Snapshot == nil {
			var s status.Snapshot
			q := url.Values{"window": {th.Window.String()}}
			if err := getJSON(ctx, client, base+"/api/status?"+q.Encode(), &s); err != nil {
				return obs, err
			}
			obs.Snapshot = &s
		}
		if obs.State == nil {
			st, err := getState(ctx, client, base)
			if err != nil {
				return obs, err
			}
			if in.Fresh > 0 {
				if st, err = waitVerified(ctx, client, base, st, in.Fresh); err != nil {
					return obs, err
				}
			}
			obs.State = &LiveState{DBState: st}
		}
		if obs.Timeline == nil {
			var tl []status.Event
			if err := getJSON(ctx, client, base+"/api/timeline", &tl); err != nil {
				return obs, err
			}
			obs.Timeline = tl
		}
	}
	if direct != nil {
		// A direct read refreshes the schema; the watch over rows seen is the control room's alone.
		d := *direct
		if obs.State == nil {
			obs.State = &LiveState{}
		}
		integrity := obs.State.Integrity
		obs.State.DBState = d
		obs.State.Integrity = integrity
	}
	if in.GatewayURL != "" {
		obs.Probes = RunProbes(ctx, client, in.GatewayURL)
	}
	return obs, nil
}

// LiveChecks collects the live evidence and evaluates every check.
func LiveChecks(ctx context.Context, in LiveInput) ([]Check, Observation, error) {
	obs, err := Collect(ctx, in)
	if err != nil {
		return nil, obs, err
	}
	th := in.Thresholds
	if th == (Thresholds{}) {
		th = DefaultThresholds()
	}
	return Evaluate(obs, th), obs, nil
}

func getState(ctx context.Context, c *http.Client, base string) (status.DBState, error) {
	b, err := getBytes(ctx, c, base+"/api/state")
	if err != nil {
		return status.DBState{}, err
	}
	return ParseState(b)
}

// waitVerified re-reads the state until the control room's watch has verified every row at a poll later than
// first's (so after the grade began, on the control room's own clock), or until wait has passed.
func waitVerified(ctx context.Context, c *http.Client, base string, first status.DBState, wait time.Duration) (status.DBState, error) {
	st := first
	deadline := time.Now().Add(wait)
	for st.Integrity != nil && !st.Integrity.VerifiedAt.After(first.At) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		next, err := getState(ctx, c, base)
		if err != nil {
			return st, err
		}
		st = next
	}
	return st, nil
}

func getBytes(ctx context.Context, c *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("control room request: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read control room %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read control room %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read control room %s: status %d", u, resp.StatusCode)
	}
	return b, nil
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	b, err := getBytes(ctx, c, u)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode control room %s: %w", u, err)
	}
	return nil
}
