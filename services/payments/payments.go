// Package payments charges orders through the payment provider with payment-sdk (3.1 in v2.3.0, 4.0 since
// PR #901) and records every attempt in the payments table.
package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	sdk3 "github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v3"
	sdk4 "github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v4"
	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/release"
)

// Retry policy of the payments-retry-charge decoy.
const (
	retryAttempts = 3
	retryBackoff  = 50 * time.Millisecond
)

// ChargeRequest is the body of POST /charge (from orders) and POST /payments (edge).
type ChargeRequest struct {
	OrderID        int64  `json:"order_id"`
	AmountCents    int64  `json:"amount_cents"`
	PaymentMethod  string `json:"payment_method"`
	Currency       string `json:"currency,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// Payment is one row of the payments table.
type Payment struct {
	ID          int64     `json:"id"`
	OrderID     int64     `json:"order_id"`
	AmountCents int64     `json:"amount_cents"`
	Method      string    `json:"method"`
	Status      string    `json:"status"`
	SDKVersion  string    `json:"sdk_version"`
	ProviderRef string    `json:"provider_ref,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// ErrNotFound is returned by a Store for a missing row.
var ErrNotFound = errors.New("not found")

// Store persists payments. The Postgres implementation is PGStore.
type Store interface {
	Insert(ctx context.Context, p Payment) (Payment, error)
	Get(ctx context.Context, id int64) (Payment, error)
	// OrderTotal returns an order's total, ErrNotFound when there is no such order.
	OrderTotal(ctx context.Context, orderID int64) (int64, error)
}

// Service is the payments role.
type Service struct {
	rel         release.Release
	log         *zap.Logger
	store       Store
	v3          *sdk3.Client
	v4          *sdk4.Client
	sdkVersion  string
	storedPath  string
	legacyShape bool
	retry       bool
	charges     *prometheus.CounterVec
}

// New builds the service. providerURL is the PSP base URL; reg receives payments_charges_total.
func New(cfg platform.Config, log *zap.Logger, store Store, providerURL string, hc *http.Client, reg prometheus.Registerer) *Service {
	rel := cfg.Release
	s := &Service{rel: rel, log: log, store: store,
		v3: sdk3.New(providerURL, hc), v4: sdk4.New(providerURL, hc),
		sdkVersion: rel.SDKVersion(), storedPath: StoredCredentialPath(cfg.Seed),
		legacyShape: rel.FaultActive(release.FaultSDKBreak) && !rel.HasPatch(release.PatchPaymentsCallV4Signature),
		retry:       rel.HasPatch(release.PatchPaymentsRetryCharge),
		charges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "payments_charges_total",
			Help: "Charge attempts by SDK version, payment path and result (ok|error)."},
			[]string{"sdk_version", "path", "result"}),
	}
	reg.MustRegister(s.charges)
	return s
}

// Mount adds the payments routes to srv.
func (s *Service) Mount(srv *platform.Server) {
	srv.Handle("POST /charge", s.handleCharge(false))
	srv.Handle("POST /payments", s.handleCharge(true))
	srv.Handle("GET /payments/{id}", s.handleGet)
}

// Run serves the payments role.
func Run(ctx context.Context, cfg platform.Config) error {
	log := platform.NewLogger(cfg)
	db, err := platform.OpenDB(ctx, cfg)
	if err != nil {
		return fmt.Errorf("payments: %w", err)
	}
	defer db.Close()
	srv := platform.NewServer(cfg, log)
	providerURL := cfg.Get("SANDBOX_PROVIDER_URL", "http://provider:8080")
	New(cfg, log, PGStore{DB: db}, providerURL, platform.HTTPClient(5*time.Second), srv.Metrics.Registry).Mount(srv)
	if err := srv.Run(ctx); err != nil {
		return fmt.Errorf("payments: %w", err)
	}
	return nil
}

// Charge charges req and records the attempt. A failed charge is recorded with status "failed" and returned
// together with the error.
func (s *Service) Charge(ctx context.Context, req ChargeRequest) (Payment, error) {
	if req.Currency == "" {
		req.Currency = "USD"
	}
	path := req.PaymentMethod
	attempts := 1
	if s.retry {
		attempts = retryAttempts
	}
	var (
		rc  receipt
		err error
	)
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return Payment{}, fmt.Errorf("charge: %w", ctx.Err())
			case <-time.After(retryBackoff * time.Duration(i)):
			}
		}
		if rc, err = s.callProvider(ctx, path, req); err == nil {
			break
		}
	}
	result := "ok"
	p := Payment{OrderID: req.OrderID, AmountCents: req.AmountCents, Method: path, Status: "succeeded",
		SDKVersion: s.sdkVersion, ProviderRef: rc.ID}
	if err != nil {
		result, p.Status, p.ProviderRef = "error", "failed", ""
	}
	s.charges.WithLabelValues(s.sdkVersion, path, result).Inc()
	saved, serr := s.store.Insert(ctx, p)
	if serr != nil {
		return p, errors.Join(err, fmt.Errorf("record payment: %w", serr))
	}
	if err != nil {
		return saved, fmt.Errorf("charge %s via payment-sdk %s: %w", path, s.sdkVersion, err)
	}
	return saved, nil
}

var validMethods = map[string]bool{MethodCard: true, MethodSavedCard: true, MethodWallet: true}

func (s *Service) handleCharge(edge bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req ChargeRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid json: " + err.Error()})
			return
		}
		if !validMethods[req.PaymentMethod] {
			platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "payment_method must be card, saved_card or wallet"})
			return
		}
		if req.IdempotencyKey == "" {
			req.IdempotencyKey = r.Header.Get("Idempotency-Key")
		}
		if edge {
			// The edge charges an existing order; its amount defaults to the order total.
			total, err := s.store.OrderTotal(r.Context(), req.OrderID)
			if errors.Is(err, ErrNotFound) {
				platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("order %d not found", req.OrderID)})
				return
			}
			if err != nil {
				s.log.Error("payments.handleCharge: look up order", zap.Int64("order_id", req.OrderID), zap.Error(err))
				platform.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
				return
			}
			if req.AmountCents == 0 {
				req.AmountCents = total
			}
		}
		if req.AmountCents <= 0 {
			platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "amount_cents must be positive"})
			return
		}
		p, err := s.Charge(r.Context(), req)
		if err != nil {
			s.logChargeError(req, err)
			platform.WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error(), "payment": p})
			return
		}
		platform.WriteJSON(w, http.StatusCreated, p)
	}
}

// logChargeError writes the one error line of a failed charge; a method-shape mismatch carries both
// signatures and the stack of the failed conversion.
func (s *Service) logChargeError(req ChargeRequest, err error) {
	fields := []zap.Field{zap.Int64("order_id", req.OrderID), zap.String("path", req.PaymentMethod),
		zap.String("sdk_version", s.sdkVersion), zap.Error(err)}
	var nsm *NoSuchMethodError
	if errors.As(err, &nsm) {
		fields = append(fields, zap.String("error_kind", "NoSuchMethodError"),
			zap.String("sdk_type", nsm.Type), zap.String("sdk_package", nsm.Package),
			zap.String("expected_signature", nsm.Want), zap.String("actual_signature", nsm.Have),
			zap.String("stack", nsm.Stack))
		s.log.Error("payments.chargeStoredCredential: no such method "+nsm.Type+"."+nsm.Want+" (payment-sdk "+s.sdkVersion+" has "+nsm.Have+")", fields...)
		return
	}
	s.log.Error("payments.Charge: charge failed", fields...)
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "id must be an integer"})
		return
	}
	p, err := s.store.Get(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "payment not found"})
		return
	}
	if err != nil {
		s.log.Error("payments.handleGet", zap.Int64("id", id), zap.Error(err))
		platform.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	platform.WriteJSON(w, http.StatusOK, p)
}
