package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// ControlRoom is the CLI's client of a sandbox's control room JSON API.
type ControlRoom struct {
	Base  string
	HTTP  *http.Client
	Token string // the sandbox's secret, sent as a bearer token on writes
}

// NewControlRoom returns a client for the control room at base (http://127.0.0.1:port).
func NewControlRoom(base string) *ControlRoom {
	return &ControlRoom{Base: base, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

func (c *ControlRoom) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("control room: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("control room %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("control room %s: decode: %w", path, err)
	}
	return nil
}

// Status fetches the status snapshot over a window.
func (c *ControlRoom) Status(ctx context.Context, window time.Duration) (status.Snapshot, error) {
	var s status.Snapshot
	err := c.getJSON(ctx, "/api/status?window="+url.QueryEscape(window.String()), &s)
	return s, err
}

// Timeline fetches every recorded event.
func (c *ControlRoom) Timeline(ctx context.Context) ([]status.Event, error) {
	var evs []status.Event
	err := c.getJSON(ctx, "/api/timeline", &evs)
	return evs, err
}

// State fetches the latest polled database state as raw JSON.
func (c *ControlRoom) State(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.getJSON(ctx, "/api/state", &raw)
	return raw, err
}

// Get fetches any control room JSON path into v.
func (c *ControlRoom) Get(ctx context.Context, path string, v any) error {
	return c.getJSON(ctx, path, v)
}

// Post sends v as JSON to a control room path.
func (c *ControlRoom) Post(ctx context.Context, path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set(status.AuthHeader, status.AuthScheme+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("control room: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("control room %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// Record posts a timeline event.
func (c *ControlRoom) Record(ctx context.Context, ev status.Event) error {
	if ev.At.IsZero() {
		ev.At = time.Now().UTC()
	}
	return c.Post(ctx, "/api/events", ev)
}
