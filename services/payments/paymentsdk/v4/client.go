// Package paymentsdk is payment-sdk 4.0, the client library for the payment provider's API v4.
//
// Breaking change from 3.x: Charge(amount Amount) became Charge(amount Amount, opts ChargeOptions).
package paymentsdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Version is this SDK's version.
const Version = "4.0"

// Amount is money in minor units.
type Amount struct {
	Cents    int64
	Currency string
}

// ChargeOptions are new in 4.0 and required by the provider's API v4.
type ChargeOptions struct {
	IdempotencyKey string
	PaymentMethod  string
	Capture        bool
	Metadata       map[string]string
}

// Receipt is the provider's answer to a successful charge.
type Receipt struct {
	ID          string
	Status      string
	AmountCents int64
	Currency    string
	SDKVersion  string
}

// Client calls the provider's API v4.
type Client struct {
	baseURL string
	http    *http.Client
	ctx     context.Context
}

// New returns a client for the provider at baseURL (e.g. http://provider:8080).
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), http: hc, ctx: context.Background()}
}

// WithContext returns a copy of the client whose calls end with ctx.
func (c *Client) WithContext(ctx context.Context) *Client {
	cp := *c
	cp.ctx = ctx
	return &cp
}

// Charge charges amount through POST /v4/charges.
func (c *Client) Charge(amount Amount, opts ChargeOptions) (Receipt, error) {
	body, _ := json.Marshal(map[string]any{
		"amount": map[string]any{"value_cents": amount.Cents, "currency": amount.Currency},
		"options": map[string]any{"idempotency_key": opts.IdempotencyKey, "payment_method": opts.PaymentMethod,
			"capture": opts.Capture, "metadata": opts.Metadata},
	})
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, c.baseURL+"/v4/charges", bytes.NewReader(body))
	if err != nil {
		return Receipt{}, fmt.Errorf("paymentsdk 4.0: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "payment-sdk-go/"+Version)
	if opts.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", opts.IdempotencyKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Receipt{}, fmt.Errorf("paymentsdk 4.0: charge: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return Receipt{}, fmt.Errorf("paymentsdk 4.0: charge: provider answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var out struct {
		ID          string `json:"id"`
		Status      string `json:"status"`
		AmountCents int64  `json:"amount_cents"`
		Currency    string `json:"currency"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return Receipt{}, fmt.Errorf("paymentsdk 4.0: decode receipt: %w", err)
	}
	return Receipt{ID: out.ID, Status: out.Status, AmountCents: out.AmountCents, Currency: out.Currency, SDKVersion: Version}, nil
}
