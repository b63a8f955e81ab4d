package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/gateway"
	"github.com/sandbox-labs/sandbox/services/payments"
	"github.com/sandbox-labs/sandbox/services/platform"
)

// Tunables.
const (
	DefaultRPS     = 40.0
	DefaultTarget  = "http://gateway:8080"
	RequestTimeout = 10 * time.Second
	MaxInFlight    = 512
	FlagPoll       = 5 * time.Second
	// Within the auth share, this share of users that hold a token check their session instead of logging in.
	sessionShare = 0.5
	// Within the catalog share, this share browses the list; the rest open one product.
	listShare = 0.5
	// Within payments charges, this share charges a fresh amount instead of the order total.
	freshAmountShare = 0.3
)

// Outcome of one request as a user experiences it.
type Outcome string

// Outcomes (the outcome label of loadgen_requests_total).
const (
	OK      Outcome = "ok"
	Error   Outcome = "error"
	Dropped Outcome = "dropped"
)

// Classify maps a response to an outcome: transport errors and the edge's upstream_unreachable 502 are
// dropped (the request never got an answer from the shop), other 4xx/5xx are errors.
func Classify(resp *http.Response, err error) Outcome {
	switch {
	case err != nil || resp == nil:
		return Dropped
	case resp.StatusCode == http.StatusBadGateway && resp.Header.Get(gateway.HeaderEdgeError) == gateway.EdgeErrUnreachable:
		return Dropped
	case resp.StatusCode >= 400:
		return Error
	default:
		return OK
	}
}

// Config of a load generator.
type Config struct {
	Target          string  // gateway base URL
	RPS             float64 // total requests per second
	SecondaryMethod string  // the non-card payment method (payments.StoredCredentialPath(seed))
	Mix             []Share
}

// counts are one row of /stats.
type counts struct {
	Sent    int64 `json:"sent"`
	OK      int64 `json:"ok"`
	Errors  int64 `json:"errors"`
	Dropped int64 `json:"dropped"`
}

// Stats is the GET /stats body.
type Stats struct {
	counts
	ByRoute map[string]counts `json:"by_route"`
	Flag    Flag              `json:"flag"`
	RPS     float64           `json:"rps"`
}

// Loadgen generates the shop's traffic.
type Loadgen struct {
	cfg    Config
	client *http.Client
	log    *zap.Logger
	picker *Picker
	sem    chan struct{}
	seq    atomic.Int64
	prefix string

	flag   atomic.Pointer[Flag]
	book   *book
	tokens sync.Map // user id -> session token

	mu    sync.Mutex
	stats map[string]*counts

	requests *prometheus.CounterVec
}

// New builds a load generator; its metric is registered on reg.
func New(cfg Config, reg prometheus.Registerer, log *zap.Logger) *Loadgen {
	if cfg.Mix == nil {
		cfg.Mix = DefaultMix
	}
	if cfg.SecondaryMethod == "" {
		cfg.SecondaryMethod = MethodSavedCard
	}
	l := &Loadgen{cfg: cfg, client: platform.HTTPClient(RequestTimeout), log: log, picker: NewPicker(cfg.Mix),
		sem: make(chan struct{}, MaxInFlight), book: newBook(), stats: map[string]*counts{},
		prefix: strconv.FormatInt(time.Now().UnixNano(), 36),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loadgen_requests_total",
			Help: "Simulated user requests by edge route family and outcome (ok|error|dropped)."}, []string{"route", "outcome"}),
	}
	f := DefaultFlag
	l.flag.Store(&f)
	reg.MustRegister(l.requests)
	return l
}

// SetFlag updates the discount_codes flag the UI sees.
func (l *Loadgen) SetFlag(f Flag) { l.flag.Store(&f) }

// Flag returns the flag the UI currently sees.
func (l *Loadgen) Flag() Flag { return *l.flag.Load() }

// request is one prepared HTTP request.
type request struct {
	kind   Kind
	method string
	path   string
	body   any
	token  string
}

func items(r *rand.Rand) []map[string]int64 {
	n := 1 + r.IntN(3)
	out := make([]map[string]int64, 0, n)
	for range n {
		out = append(out, map[string]int64{"product_id": 1 + r.Int64N(NumProducts), "qty": 1 + r.Int64N(2)})
	}
	return out
}

// build turns a kind into a request for user. Kinds that need state the user lacks (a token, an order, a
// payment) fall back to the action that creates it, the way a real user would.
func (l *Loadgen) build(kind Kind, user int64, r *rand.Rand) request {
	method := MethodFor(user, l.cfg.SecondaryMethod)
	switch kind {
	case KindSearch:
		return request{kind: kind, method: "GET", path: "/api/search?q=" + SearchTerms[r.IntN(len(SearchTerms))]}
	case KindCatalog:
		if r.Float64() < listShare {
			return request{kind: kind, method: "GET", path: fmt.Sprintf("/api/catalog?limit=20&offset=%d", 20*r.IntN(NumProducts/20))}
		}
		return request{kind: kind, method: "GET", path: fmt.Sprintf("/api/catalog/%d", 1+r.IntN(NumProducts))}
	case KindAuth:
		if tok, ok := l.tokens.Load(user); ok && r.Float64() < sessionShare {
			return request{kind: kind, method: "GET", path: "/api/auth/session", token: tok.(string)}
		}
		return request{kind: kind, method: "POST", path: "/api/auth/login", body: map[string]int64{"user_id": user}}
	case KindCheckout:
		body := map[string]any{"user_id": user, "items": items(r), "payment_method": method}
		// The web UI shows the discount field only to the flag's cohort; everyone else sends no field at all.
		if InCohort(user, l.Flag()) {
			body["discount_code"] = CodeFor(user)
		}
		return request{kind: kind, method: "POST", path: "/api/checkout", body: body}
	case KindOrdersList:
		return request{kind: kind, method: "GET", path: fmt.Sprintf("/api/orders?user_id=%d", user)}
	case KindOrdersCreate:
		return request{kind: kind, method: "POST", path: "/api/orders", body: map[string]any{"user_id": user,
			"items": items(r), "payment_method": method, "metadata": map[string]any{"channel": "web"}}}
	case KindPaymentsGet:
		if id, ok := l.book.payment(r); ok {
			return request{kind: kind, method: "GET", path: fmt.Sprintf("/api/payments/%d", id)}
		}
		return l.build(KindPaymentsCharge, user, r)
	case KindPaymentsCharge:
		order, ok := l.book.order(user, r)
		if !ok {
			return l.build(KindOrdersCreate, user, r)
		}
		body := map[string]any{"order_id": order, "payment_method": method}
		if r.Float64() < freshAmountShare {
			body["amount_cents"] = 499 + r.Int64N(20000)
		}
		return request{kind: kind, method: "POST", path: "/api/payments", body: body}
	}
	panic("loadgen: unknown kind " + string(kind))
}

// Do sends one request of kind for user and records its outcome.
func (l *Loadgen) Do(ctx context.Context, kind Kind, user int64, r *rand.Rand) Outcome {
	req := l.build(kind, user, r)
	var body io.Reader
	if req.body != nil {
		b, _ := json.Marshal(req.body)
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, req.method, l.cfg.Target+req.path, body)
	if err != nil {
		l.record(req.kind, Dropped)
		return Dropped
	}
	hr.Header.Set("X-User-ID", strconv.FormatInt(user, 10))
	// Unique per user request; the gateway forwards it unchanged on its retry.
	hr.Header.Set("Idempotency-Key", fmt.Sprintf("lg-%s-%d", l.prefix, l.seq.Add(1)))
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.token)
	}
	resp, err := l.client.Do(hr)
	out := Classify(resp, err)
	if out == Dropped {
		// A dropped request is the one thing a deploy must never cause: say exactly what happened.
		edge := ""
		if resp != nil {
			edge = resp.Header.Get("X-Sandbox-Edge-Error")
		}
		l.log.Warn("request dropped", zap.String("route", string(req.kind)), zap.String("path", req.path),
			zap.String("edge_error", edge), zap.Error(err))
	}
	if resp != nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if out == OK {
			l.learn(req.kind, user, b)
		}
	}
	l.record(req.kind, out)
	return out
}

// learn keeps what a user got back: tokens, order ids, payment ids.
func (l *Loadgen) learn(kind Kind, user int64, b []byte) {
	switch kind {
	case KindAuth:
		var v struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(b, &v) == nil && v.Token != "" {
			l.tokens.Store(user, v.Token)
		}
	case KindOrdersCreate:
		var v struct {
			ID int64 `json:"id"`
		}
		if json.Unmarshal(b, &v) == nil && v.ID > 0 {
			l.book.addOrder(user, v.ID)
		}
	case KindCheckout:
		var v struct {
			Order struct {
				ID int64 `json:"id"`
			} `json:"order"`
		}
		if json.Unmarshal(b, &v) == nil && v.Order.ID > 0 {
			l.book.addOrder(user, v.Order.ID)
		}
	case KindPaymentsCharge:
		var v struct {
			ID int64 `json:"id"`
		}
		if json.Unmarshal(b, &v) == nil && v.ID > 0 {
			l.book.addPayment(v.ID)
		}
	}
}

func (l *Loadgen) record(kind Kind, out Outcome) {
	route := kind.Route()
	l.requests.WithLabelValues(route, string(out)).Inc()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.stats[route]
	if c == nil {
		c = &counts{}
		l.stats[route] = c
	}
	c.Sent++
	switch out {
	case OK:
		c.OK++
	case Error:
		c.Errors++
	default:
		c.Dropped++
	}
}

// Stats returns the totals so far.
func (l *Loadgen) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{ByRoute: map[string]counts{}, Flag: l.Flag(), RPS: l.cfg.RPS}
	for r, c := range l.stats {
		s.ByRoute[r] = *c
		s.Sent += c.Sent
		s.OK += c.OK
		s.Errors += c.Errors
		s.Dropped += c.Dropped
	}
	return s
}

// Loop sends requests at cfg.RPS, evenly spaced, until ctx ends; each request runs in its own goroutine.
// When MaxInFlight requests are already waiting, the new one is counted as dropped instead of piling up.
func (l *Loadgen) Loop(ctx context.Context) {
	if l.cfg.RPS <= 0 {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed))
	tick := time.NewTicker(time.Duration(float64(time.Second) / l.cfg.RPS))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		kind := l.picker.Next()
		user := 1 + r.Int64N(NumUsers)
		select {
		case l.sem <- struct{}{}:
		default:
			l.record(kind, Dropped)
			continue
		}
		wg.Add(1)
		seed := r.Uint64()
		go func() {
			defer wg.Done()
			defer func() { <-l.sem }()
			l.Do(ctx, kind, user, rand.New(rand.NewPCG(seed, uint64(user))))
		}()
	}
}

// PollDB reads the discount_codes flag (and recent orders, so users can pay for them) every FlagPoll.
func (l *Loadgen) PollDB(ctx context.Context, pool *pgxpool.Pool) {
	for {
		l.pollOnce(ctx, pool)
		select {
		case <-ctx.Done():
			return
		case <-time.After(FlagPoll):
		}
	}
}

func (l *Loadgen) pollOnce(ctx context.Context, pool *pgxpool.Pool) {
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var f Flag
	err := pool.QueryRow(qctx, "SELECT enabled, rollout_percent FROM feature_flags WHERE name = $1", FlagName).
		Scan(&f.Enabled, &f.RolloutPercent)
	switch {
	case err == nil:
		l.SetFlag(f)
	case errors.Is(err, pgxNoRows):
		l.SetFlag(Flag{}) // flag deleted: the UI hides the field
	default:
		l.log.Warn("read feature flag", zap.Error(err))
	}
	rows, err := pool.Query(qctx, "SELECT id, user_id FROM orders ORDER BY id DESC LIMIT 1000")
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id, user int64
		if rows.Scan(&id, &user) == nil {
			l.book.addOrder(user, id)
		}
	}
}

// Mount adds GET /stats.
func (l *Loadgen) Mount(handle func(string, http.HandlerFunc)) {
	handle("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		platform.WriteJSON(w, http.StatusOK, l.Stats())
	})
}

// ConfigFromEnv reads SANDBOX_TARGET and SANDBOX_LOAD_RPS; the saved-card path follows the seed.
func ConfigFromEnv(cfg platform.Config) Config {
	return Config{Target: cfg.Get("SANDBOX_TARGET", DefaultTarget), RPS: cfg.Float("SANDBOX_LOAD_RPS", DefaultRPS),
		SecondaryMethod: payments.StoredCredentialPath(cfg.Seed)}
}

// Run serves the loadgen role.
func Run(ctx context.Context, cfg platform.Config) error {
	log := platform.NewLogger(cfg)
	defer log.Sync() //nolint:errcheck
	s := platform.NewServer(cfg, log)
	lc := ConfigFromEnv(cfg)
	log.Info("loadgen config", zap.String("target", lc.Target), zap.Float64("rps", lc.RPS),
		zap.String("secondary_method", lc.SecondaryMethod))
	l := New(lc, s.Metrics.Registry, log)
	l.Mount(s.Handle)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(2)
	go func() {
		defer wg.Done()
		pool, err := platform.OpenDB(ctx, cfg)
		if err != nil {
			log.Warn("no database: the UI keeps the seeded flag state", zap.Error(err))
			return
		}
		defer pool.Close()
		l.PollDB(ctx, pool)
	}()
	go func() { defer wg.Done(); l.Loop(ctx) }()
	if err := s.Run(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		cancel()
		return fmt.Errorf("loadgen: %w", err)
	}
	cancel()
	return nil
}
