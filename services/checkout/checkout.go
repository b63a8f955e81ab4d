// Package checkout prices a cart, applies a discount code (PR #892) and places the order through orders.
package checkout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/release"
)

// Orders call timeouts: the normal one and the one checkout-raise-timeout sets.
const (
	OrdersTimeout       = 3 * time.Second
	OrdersTimeoutRaised = 10 * time.Second
)

// Item is one cart line.
type Item struct {
	ProductID int64 `json:"product_id"`
	Qty       int64 `json:"qty"`
}

// Request is the body of POST /checkout. DiscountCode is nil when the UI did not show the field (the request
// has no discount_code at all, or null) and "" when the field was shown and left blank.
type Request struct {
	UserID        int64   `json:"user_id"`
	Items         []Item  `json:"items"`
	DiscountCode  *string `json:"discount_code"`
	PaymentMethod string  `json:"payment_method"`
}

// Discount is a row of discount_codes.
type Discount struct {
	Code       string
	PercentOff int
	Active     bool
}

// Flag is a row of feature_flags.
type Flag struct {
	Name           string
	Enabled        bool
	RolloutPercent int
}

// ErrNotFound is returned by a Store for a missing row.
var ErrNotFound = errors.New("not found")

// Store reads what checkout needs from the shop database. PGStore is the Postgres implementation.
type Store interface {
	Prices(ctx context.Context, productIDs []int64) (map[int64]int64, error)
	Discount(ctx context.Context, code string) (Discount, error)
	Flag(ctx context.Context, name string) (Flag, error)
}

// Service is the checkout role.
type Service struct {
	rel         release.Release
	log         *zap.Logger
	store       Store
	flags       *Flags
	ordersURL   string
	http        *http.Client
	gate        discountGate
	defaultOff  bool
	validations *prometheus.CounterVec
}

// New builds the service; reg receives checkout_discount_validations_total.
func New(cfg platform.Config, log *zap.Logger, store Store, ordersURL string, reg prometheus.Registerer) *Service {
	rel := cfg.Release
	timeout := OrdersTimeout
	if rel.HasPatch(release.PatchCheckoutRaiseTimeout) {
		timeout = OrdersTimeoutRaised
	}
	s := &Service{rel: rel, log: log, store: store, flags: NewFlags(store, FlagCacheTTL),
		ordersURL: strings.TrimRight(ordersURL, "/"), http: platform.HTTPClient(timeout),
		gate: newDiscountGate(rel), defaultOff: rel.HasPatch(release.PatchCheckoutFlagDefaultOff),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "checkout_discount_validations_total",
			Help: "Discount code validations by result (ok|error|invalid|skipped)."}, []string{"result"}),
	}
	reg.MustRegister(s.validations)
	return s
}

// Mount adds the checkout routes to srv.
func (s *Service) Mount(srv *platform.Server) {
	srv.Handle("POST /checkout", s.handleCheckout)
	srv.Handle("GET /checkout/config", s.handleConfig)
}

// Run serves the checkout role.
func Run(ctx context.Context, cfg platform.Config) error {
	log := platform.NewLogger(cfg)
	db, err := platform.OpenDB(ctx, cfg)
	if err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	defer db.Close()
	srv := platform.NewServer(cfg, log)
	New(cfg, log, PGStore{DB: db}, cfg.Get("SANDBOX_ORDERS_URL", "http://orders:8080"), srv.Metrics.Registry).Mount(srv)
	if err := srv.Run(ctx); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	return nil
}

// discountGate is where PR #892's fault lives: which guards run before validateDiscount.
type discountGate struct {
	enabled   bool // PR #892 is in the release (v2.3.0 has no discount codes)
	flagGate  bool // the backend checks the discount_codes flag for the user
	nullGuard bool // requests without a discount_code skip validation
}

// newDiscountGate: PR #892 as shipped (fault flag-leak) validates every request and never reads the flag; its
// correct form and the two hotfixes guard the validation.
func newDiscountGate(rel release.Release) discountGate {
	leak := rel.FaultActive(release.FaultFlagLeak)
	return discountGate{
		enabled:   rel.HasPR(release.PRDiscountValidation),
		flagGate:  !leak || rel.HasPatch(release.PatchCheckoutBackendFlagGate),
		nullGuard: !leak || rel.HasPatch(release.PatchCheckoutNullGuard),
	}
}

// discountError is a validation failure; status says how it reaches the client and stack where it happened.
type discountError struct {
	status int
	msg    string
	stack  zap.Field
}

func (e *discountError) Error() string { return e.msg }

// applyDiscount returns the percent off for req.
func (s *Service) applyDiscount(ctx context.Context, req Request) (int, error) {
	if !s.gate.enabled {
		return 0, nil
	}
	if s.gate.flagGate && !s.flags.Enabled(ctx, release.FlagDiscountCodes, req.UserID) {
		s.validations.WithLabelValues("skipped").Inc()
		return 0, nil
	}
	if s.gate.nullGuard && req.DiscountCode == nil {
		s.validations.WithLabelValues("skipped").Inc()
		return 0, nil
	}
	pct, err := s.validateDiscount(ctx, req.DiscountCode)
	s.recordValidation(err)
	return pct, err
}

// recordValidation counts a validation: invalid codes (4xx) apart from failures (5xx).
func (s *Service) recordValidation(err error) {
	var de *discountError
	switch {
	case errors.As(err, &de) && de.status < 500:
		s.validations.WithLabelValues("invalid").Inc()
	case err != nil:
		s.validations.WithLabelValues("error").Inc()
	default:
		s.validations.WithLabelValues("ok").Inc()
	}
}

// validateDiscount checks the code the UI's discount field sent. It assumes the field is always present.
func (s *Service) validateDiscount(ctx context.Context, code *string) (int, error) {
	if code == nil {
		return 0, &discountError{status: http.StatusInternalServerError,
			msg: "checkout.validateDiscount: discount_code is null", stack: zap.Stack("stack")}
	}
	c := strings.ToUpper(strings.TrimSpace(*code))
	if c == "" {
		return 0, nil // the field was shown and left blank
	}
	d, err := s.store.Discount(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return 0, &discountError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf("unknown discount code %q", c)}
	}
	if err != nil {
		return 0, &discountError{status: http.StatusInternalServerError,
			msg: "checkout.validateDiscount: look up discount code: " + err.Error(), stack: zap.Stack("stack")}
	}
	if !d.Active {
		return 0, &discountError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf("discount code %q has expired", c)}
	}
	return d.PercentOff, nil
}

// Response is what POST /checkout returns on success.
type Response struct {
	Order           json.RawMessage `json:"order"`
	Payment         json.RawMessage `json:"payment,omitempty"`
	SubtotalCents   int64           `json:"subtotal_cents"`
	DiscountPercent int             `json:"discount_percent"`
	TotalCents      int64           `json:"total_cents"`
}

var validMethods = map[string]bool{"card": true, "saved_card": true, "wallet": true}

func (s *Service) handleCheckout(w http.ResponseWriter, r *http.Request) {
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid json: " + err.Error()})
		return
	}
	if req.UserID == 0 {
		req.UserID, _ = strconv.ParseInt(r.Header.Get("X-User-ID"), 10, 64)
	}
	if req.UserID <= 0 || len(req.Items) == 0 || !validMethods[req.PaymentMethod] {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "user_id, items and payment_method (card|saved_card|wallet) are required"})
		return
	}
	subtotal, err := s.price(r.Context(), req.Items)
	if err != nil {
		var de *discountError
		if errors.As(err, &de) {
			platform.WriteJSON(w, de.status, map[string]string{"error": de.msg})
			return
		}
		s.log.Error("checkout.price: price items", zap.Error(err))
		platform.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	pct, err := s.applyDiscount(r.Context(), req)
	if err != nil {
		var de *discountError
		errors.As(err, &de)
		if de.status >= 500 {
			s.log.Error(de.msg, zap.Int64("user_id", req.UserID), zap.Bool("discount_code_present", req.DiscountCode != nil),
				zap.String("request_id", r.Header.Get("X-Request-ID")), de.stack)
		}
		platform.WriteJSON(w, de.status, map[string]string{"error": de.msg})
		return
	}
	total := subtotal * int64(100-pct) / 100
	code, body, err := s.placeOrder(r.Context(), req, total, r.Header.Get("Idempotency-Key"))
	if err != nil {
		s.log.Error("checkout.placeOrder: call orders", zap.Int64("user_id", req.UserID), zap.Error(err))
		platform.WriteJSON(w, http.StatusBadGateway, map[string]string{"error": "orders unavailable: " + err.Error()})
		return
	}
	if code != http.StatusCreated && code != http.StatusOK {
		if code >= 500 {
			s.log.Error("checkout.placeOrder: orders failed", zap.Int64("user_id", req.UserID), zap.Int("orders_status", code),
				zap.ByteString("orders_body", body))
			code = http.StatusBadGateway
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(body)
		return
	}
	var o struct {
		Payment json.RawMessage `json:"payment"`
	}
	_ = json.Unmarshal(body, &o)
	platform.WriteJSON(w, http.StatusCreated, Response{Order: body, Payment: o.Payment, SubtotalCents: subtotal,
		DiscountPercent: pct, TotalCents: total})
}

// price sums the items at catalog prices; an unknown product is a 422.
func (s *Service) price(ctx context.Context, items []Item) (int64, error) {
	ids := make([]int64, 0, len(items))
	for _, it := range items {
		if it.Qty <= 0 {
			return 0, &discountError{status: http.StatusBadRequest, msg: "qty must be positive"}
		}
		ids = append(ids, it.ProductID)
	}
	prices, err := s.store.Prices(ctx, ids)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, it := range items {
		p, ok := prices[it.ProductID]
		if !ok {
			return 0, &discountError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf("unknown product %d", it.ProductID)}
		}
		total += p * it.Qty
	}
	return total, nil
}

// placeOrder calls orders POST /orders, passing the Idempotency-Key through.
func (s *Service) placeOrder(ctx context.Context, req Request, total int64, key string) (int, []byte, error) {
	code := ""
	if req.DiscountCode != nil {
		code = strings.ToUpper(strings.TrimSpace(*req.DiscountCode))
	}
	body, _ := json.Marshal(map[string]any{"user_id": req.UserID, "items": req.Items, "payment_method": req.PaymentMethod,
		"total_cents": total, "discount_code": code,
		"metadata": map[string]any{"source": "web", "client": "checkout", "discount_ui": req.DiscountCode != nil}})
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.ordersURL+"/orders", bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("place order: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("X-User-ID", strconv.FormatInt(req.UserID, 10))
	if key != "" {
		hr.Header.Set("Idempotency-Key", key)
	}
	resp, err := s.http.Do(hr)
	if err != nil {
		return 0, nil, fmt.Errorf("place order: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("place order: read response: %w", err)
	}
	return resp.StatusCode, b, nil
}

// handleConfig is what the web UI reads to decide whether to show the discount field: the flag gates the UI.
func (s *Service) handleConfig(w http.ResponseWriter, r *http.Request) {
	uid, _ := strconv.ParseInt(r.URL.Query().Get("user_id"), 10, 64)
	if uid == 0 {
		uid, _ = strconv.ParseInt(r.Header.Get("X-User-ID"), 10, 64)
	}
	show := s.rel.HasPR(release.PRDiscountValidation) && !s.defaultOff && s.flags.Enabled(r.Context(), release.FlagDiscountCodes, uid)
	platform.WriteJSON(w, http.StatusOK, map[string]any{"user_id": uid, "flags": map[string]bool{release.FlagDiscountCodes: show}})
}
