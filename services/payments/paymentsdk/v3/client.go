// Package paymentsdk is payment-sdk 3.1, the client library for the payment provider's API v3.
//
// Charge takes only the amount: Charge(amount Amount) (Receipt, error).
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
const Version = "3.1"

// Amount is money in minor units.
type Amount struct {
	Cents    int64
	Currency string
}

// Receipt is the provider's answer to a successful charge.
type Receipt struct {
	ID          string
	Status      string
	AmountCents int64
	Currency    string
	SDKVersion  string
}

// Client calls the provider's API v3.
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

// WithContext returns a copy of the client whose calls end with ctx (3.x has no per-call context).
func (c *Client) WithContext(ctx context.Context) *Client {
	cp := *c
	cp.ctx = ctx
	return &cp
}

// Charge charges amount through POST /v3/charges.
func (c *Client) Charge(amount Amount) (Receipt, error) {
	body, _ := json.Marshal(map[string]any{"amount_cents": amount.Cents, "currency": amount.Currency})
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, c.baseURL+"/v3/charges", bytes.NewReader(body))
	if err != nil {
		return Receipt{}, fmt.Errorf("paymentsdk 3.1: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "payment-sdk-go/"+Version)
	resp, err := c.http.Do(req)
	if err != nil {
		return Receipt{}, fmt.Errorf("paymentsdk 3.1: charge: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return Receipt{}, fmt.Errorf("paymentsdk 3.1: charge: provider answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var out struct {
		ID          string `json:"id"`
		Status      string `json:"status"`
		AmountCents int64  `json:"amount_cents"`
		Currency    string `json:"currency"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return Receipt{}, fmt.Errorf("paymentsdk 3.1: decode receipt: %w", err)
	}
	return Receipt{ID: out.ID, Status: out.Status, AmountCents: out.AmountCents, Currency: out.Currency, SDKVersion: Version}, nil
}
