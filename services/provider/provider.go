// Package provider is the "external" payment service provider (PSP) stub the payments service calls through
// payment-sdk. It speaks two API versions, /v3/charges (payment-sdk 3.x) and /v4/charges (payment-sdk 4.x),
// answers with PSP-like latency and never fails on its own: background noise is the gateway's job, so every
// error the trainee sees comes from a fault.
package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"time"

	"github.com/sandbox-labs/sandbox/services/platform"
)

// PSP-like latency: a fixed base plus an exponential tail, capped. With these values the provider's own p99 is
// about BaseLatency + TailMean*ln(100) = 40 + 30*4.6 ≈ 180 ms, which keeps the healthy edge p99 near 200 ms.
const (
	BaseLatency = 40 * time.Millisecond
	TailMean    = 30 * time.Millisecond
	MaxLatency  = 400 * time.Millisecond
)

// Latency shapes the artificial response delay.
type Latency struct {
	Base     time.Duration
	TailMean time.Duration
	Max      time.Duration
}

// DefaultLatency is the latency of the running stub.
var DefaultLatency = Latency{Base: BaseLatency, TailMean: TailMean, Max: MaxLatency}

// Sample draws one delay. u is a uniform number in [0,1).
func (l Latency) Sample(u float64) time.Duration {
	d := l.Base + time.Duration(-math.Log(1-u)*float64(l.TailMean))
	if l.Max > 0 && d > l.Max {
		d = l.Max
	}
	return d
}

// V3ChargeRequest is the body of POST /v3/charges.
type V3ChargeRequest struct {
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

// V4ChargeRequest is the body of POST /v4/charges: the amount moved into an object and options are required.
type V4ChargeRequest struct {
	Amount struct {
		ValueCents int64  `json:"value_cents"`
		Currency   string `json:"currency"`
	} `json:"amount"`
	Options *struct {
		IdempotencyKey string            `json:"idempotency_key,omitempty"`
		PaymentMethod  string            `json:"payment_method"`
		Capture        bool              `json:"capture"`
		Metadata       map[string]string `json:"metadata,omitempty"`
	} `json:"options"`
}

// ChargeResponse is what both API versions return.
type ChargeResponse struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	APIVersion  string `json:"api_version"`
}

// Mount adds the provider routes to s.
func Mount(s *platform.Server, lat Latency) {
	s.Handle("POST /v3/charges", func(w http.ResponseWriter, r *http.Request) {
		var req V3ChargeRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid json: " + err.Error()})
			return
		}
		if req.AmountCents <= 0 {
			platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "amount_cents must be positive"})
			return
		}
		wait(r.Context(), lat)
		platform.WriteJSON(w, http.StatusOK, ChargeResponse{ID: chargeID(), Status: "succeeded",
			AmountCents: req.AmountCents, Currency: currency(req.Currency), APIVersion: "3"})
	})
	s.Handle("POST /v4/charges", func(w http.ResponseWriter, r *http.Request) {
		var req V4ChargeRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid json: " + err.Error()})
			return
		}
		if req.Amount.ValueCents <= 0 {
			platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "amount.value_cents must be positive"})
			return
		}
		if req.Options == nil {
			platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "options are required in API v4"})
			return
		}
		wait(r.Context(), lat)
		platform.WriteJSON(w, http.StatusOK, ChargeResponse{ID: chargeID(), Status: "succeeded",
			AmountCents: req.Amount.ValueCents, Currency: currency(req.Amount.Currency), APIVersion: "4"})
	})
}

// Run serves the provider stub.
func Run(ctx context.Context, cfg platform.Config) error {
	s := platform.NewServer(cfg, platform.NewLogger(cfg))
	Mount(s, DefaultLatency)
	if err := s.Run(ctx); err != nil {
		return fmt.Errorf("provider: %w", err)
	}
	return nil
}

func wait(ctx context.Context, lat Latency) {
	d := lat.Sample(mrand.Float64())
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func currency(c string) string {
	if c == "" {
		return "USD"
	}
	return c
}

func chargeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "ch_" + hex.EncodeToString(b)
}
