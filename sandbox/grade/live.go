package grade

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sandbox-labs/sandbox/services/status"
)

// PaymentMethods are every method the shop takes; the payment probe tries each.
var PaymentMethods = []string{"card", "saved_card", "wallet"}

// ProbeDiscountCode is a seeded, valid discount code.
const ProbeDiscountCode = "SAVE10"

// Probe users: the cohort rule (fnv32a("discount_codes:"+id) % 100 < rollout) picks who sees the discount
// field, and the seed moves the rollout between 10% and 20%. The code probe is a user inside the cohort at
// every seeded share (bucket < 10), the no-code probe one outside it at every share (bucket >= 20), so the
// probes judge each seeded variant on its own cohort.
var probeUserNoCode, probeUserWithCode = probeUsers(10, 20)

func probeUsers(insideBelow, outsideFrom uint32) (outside, inside int) {
	for id := 1; id <= 1000 && (outside == 0 || inside == 0); id++ {
		h := fnv.New32a()
		h.Write([]byte("discount_codes:" + strconv.Itoa(id)))
		switch b := h.Sum32() % 100; {
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

// DBState is what ReadDB reads from the shop's Postgres directly.
type DBState struct {
	OrderMetadataExists   bool
	OrderMetadataNullable bool
	OrderMetadataDefault  *string
	MigrationVersion      int64
	OrdersCount           int64
	MetadataRows          int64
}

// Apply overrides the schema and row fields of st with a fresher direct read.
func (d DBState) Apply(st *LiveState) {
	st.OrderMetadataExists, st.OrderMetadataNullable = d.OrderMetadataExists, d.OrderMetadataNullable
	st.OrderMetadataDefault, st.MigrationVersion = d.OrderMetadataDefault, d.MigrationVersion
	st.OrdersCount, st.MetadataRows = d.OrdersCount, d.MetadataRows
}

// ReadDB reads orders.order_metadata, goose's version and row counts from Postgres at dbURL. Missing tables
// read as empty. MetadataRows counts rows whose order_metadata is present and not '{}', as the control room does.
func ReadDB(ctx context.Context, dbURL string) (DBState, error) {
	var d DBState
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return d, fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var goose, orders bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL, to_regclass('orders') IS NOT NULL`).
		Scan(&goose, &orders); err != nil {
		return d, fmt.Errorf("check tables: %w", err)
	}
	if goose {
		// goose's current version: the highest version whose latest row is applied.
		if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM (
			SELECT DISTINCT ON (version_id) version_id, is_applied FROM goose_db_version
			ORDER BY version_id, id DESC) v WHERE is_applied`).Scan(&d.MigrationVersion); err != nil {
			return d, fmt.Errorf("read migration version: %w", err)
		}
	}
	if !orders {
		return d, nil
	}
	var nullable string
	err = conn.QueryRow(ctx, `SELECT is_nullable, column_default FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'orders' AND column_name = 'order_metadata'`).
		Scan(&nullable, &d.OrderMetadataDefault)
	switch {
	case err == pgx.ErrNoRows:
	case err != nil:
		return d, fmt.Errorf("read order_metadata column: %w", err)
	default:
		d.OrderMetadataExists, d.OrderMetadataNullable = true, nullable == "YES"
	}
	q := `SELECT count(*), 0::bigint FROM orders`
	if d.OrderMetadataExists {
		q = `SELECT count(*), count(*) FILTER (WHERE order_metadata IS NOT NULL AND order_metadata::text <> '{}') FROM orders`
	}
	if err := conn.QueryRow(ctx, q).Scan(&d.OrdersCount, &d.MetadataRows); err != nil {
		return d, fmt.Errorf("count orders: %w", err)
	}
	return d, nil
}

// ParseState decodes the control room's GET /api/state. It takes the flat LiveState form and also the
// control room's polled-state form ({"order_metadata":{"exists","nullable","default"},"orders",...}).
func ParseState(b []byte) (LiveState, error) {
	var st LiveState
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode control room state: %w", err)
	}
	var nested struct {
		OrderMetadata *struct {
			Exists   bool    `json:"exists"`
			Nullable bool    `json:"nullable"`
			Default  *string `json:"default"`
		} `json:"order_metadata"`
		Orders *int64           `json:"orders"`
		DB     *json.RawMessage `json:"db"`
	}
	if json.Unmarshal(b, &nested) == nil {
		if nested.DB != nil { // {"db": {...}, "versions": {...}}
			inner, err := ParseState(*nested.DB)
			if err == nil {
				v, w := st.Versions, st.WritesMetadata
				rm, mx := st.RouteMaxErrorRate, st.MetadataRowsMax
				st = inner
				if st.Versions == nil {
					st.Versions = v
				}
				if st.WritesMetadata == nil {
					st.WritesMetadata = w
				}
				if st.RouteMaxErrorRate == nil {
					st.RouteMaxErrorRate = rm
				}
				st.MetadataRowsMax = max(st.MetadataRowsMax, mx)
			}
		}
		if c := nested.OrderMetadata; c != nil {
			st.OrderMetadataExists, st.OrderMetadataNullable, st.OrderMetadataDefault = c.Exists, c.Nullable, c.Default
		}
		if nested.Orders != nil && st.OrdersCount == 0 {
			st.OrdersCount = *nested.Orders
		}
	}
	return st, nil
}

// LiveInput names where the live evidence comes from.
type LiveInput struct {
	Client      *http.Client
	GatewayURL  string // edge base URL; empty skips the probes (they fail as not run)
	DatabaseURL string // Postgres URL; empty trusts the control room's state
	ControlURL  string // control room base URL; used when Snapshot/State/Timeline are nil
	Snapshot    *status.Snapshot
	State       *LiveState
	Timeline    []status.Event
	Thresholds  Thresholds
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
			b, err := getBytes(ctx, client, base+"/api/state")
			if err != nil {
				return obs, err
			}
			st, err := ParseState(b)
			if err != nil {
				return obs, err
			}
			obs.State = &st
		}
		if obs.Timeline == nil {
			var tl []status.Event
			if err := getJSON(ctx, client, base+"/api/timeline", &tl); err != nil {
				return obs, err
			}
			obs.Timeline = tl
		}
	}
	if in.DatabaseURL != "" {
		d, err := ReadDB(ctx, in.DatabaseURL)
		if err != nil {
			return obs, err
		}
		if obs.State == nil {
			obs.State = &LiveState{}
		}
		d.Apply(obs.State)
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
