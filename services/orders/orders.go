// Package orders creates orders and charges them through payments. v2.3.0 code does not know
// orders.order_metadata; v2.4.0 (PR #905) writes it. Both name their columns, so reads work on either schema.
package orders

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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/release"
)

// Retry policy of the orders-catch-23502 decoy.
const (
	catchAttempts = 3
	catchBackoff  = 50 * time.Millisecond
)

// Item is one line of an order.
type Item struct {
	ProductID int64 `json:"product_id"`
	Qty       int64 `json:"qty"`
}

// CreateRequest is the body of POST /orders. Checkout sends total_cents (after discount) and discount_code;
// the edge sends only items, which orders prices itself.
type CreateRequest struct {
	UserID        int64          `json:"user_id"`
	Items         []Item         `json:"items"`
	PaymentMethod string         `json:"payment_method"`
	Metadata      map[string]any `json:"metadata,omitempty"`
	DiscountCode  string         `json:"discount_code,omitempty"`
	TotalCents    int64          `json:"total_cents,omitempty"`
}

// Order is one row of orders, plus the payment made for it.
type Order struct {
	ID             int64           `json:"id"`
	UserID         int64           `json:"user_id"`
	TotalCents     int64           `json:"total_cents"`
	Status         string          `json:"status"`
	DiscountCode   *string         `json:"discount_code,omitempty"`
	IdempotencyKey *string         `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	Payment        json.RawMessage `json:"payment,omitempty"`
}

// Service is the orders role.
type Service struct {
	rel          release.Release
	log          *zap.Logger
	db           *pgxpool.Pool
	paymentsURL  string
	http         *http.Client
	writeMeta    bool
	catch23502   bool
	inserts      *prometheus.CounterVec
	insertSQL    string
	selectColumn string
}

// Statements. v2.3.0 does not know order_metadata; PR #905 adds it to the insert and the reads.
const (
	orderColumns    = `id, user_id, total_cents, status, discount_code, idempotency_key, created_at`
	orderColumnsV24 = orderColumns + `, order_metadata`
	insertV230      = `INSERT INTO orders (user_id, total_cents, status, discount_code, idempotency_key)
VALUES ($1, $2, 'created', NULLIF($3, ''), NULLIF($4, ''))
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING ` + orderColumns
	insertV240 = `INSERT INTO orders (user_id, total_cents, status, discount_code, idempotency_key, order_metadata)
VALUES ($1, $2, 'created', NULLIF($3, ''), NULLIF($4, ''), $5)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING ` + orderColumnsV24
)

// New builds the service; reg receives orders_inserts_total.
func New(cfg platform.Config, log *zap.Logger, db *pgxpool.Pool, paymentsURL string, hc *http.Client, reg prometheus.Registerer) *Service {
	rel := cfg.Release
	s := &Service{rel: rel, log: log, db: db, paymentsURL: strings.TrimRight(paymentsURL, "/"), http: hc,
		// PR #905: v2.4.0 writes order_metadata. orders-keep-schema keeps that code in a fix-forward release.
		writeMeta:  rel.HasPR(release.PROrderMetadata) || rel.HasPatch(release.PatchOrdersKeepSchema),
		catch23502: rel.HasPatch(release.PatchOrdersCatch23502),
		inserts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orders_inserts_total",
			Help: "Order inserts by result (ok|error); errors are logged with their SQLSTATE."}, []string{"result"}),
	}
	s.insertSQL, s.selectColumn = insertV230, orderColumns
	if s.writeMeta {
		s.insertSQL, s.selectColumn = insertV240, orderColumnsV24
	}
	reg.MustRegister(s.inserts)
	return s
}

// Mount adds the orders routes to srv.
func (s *Service) Mount(srv *platform.Server) {
	srv.Handle("POST /orders", s.handleCreate)
	srv.Handle("GET /orders", s.handleList)
	srv.Handle("GET /orders/{id}", s.handleGet)
}

// Run serves the orders role.
func Run(ctx context.Context, cfg platform.Config) error {
	log := platform.NewLogger(cfg)
	db, err := platform.OpenDB(ctx, cfg)
	if err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	defer db.Close()
	srv := platform.NewServer(cfg, log)
	New(cfg, log, db, cfg.Get("SANDBOX_PAYMENTS_URL", "http://payments:8080"), platform.HTTPClient(5*time.Second),
		srv.Metrics.Registry).Mount(srv)
	if err := srv.Run(ctx); err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	return nil
}

var validMethods = map[string]bool{"card": true, "saved_card": true, "wallet": true}

// errBadRequest marks client errors (4xx).
type errBadRequest struct {
	code int
	msg  string
}

func (e errBadRequest) Error() string { return e.msg }

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid json: " + err.Error()})
		return
	}
	if req.UserID == 0 {
		req.UserID, _ = strconv.ParseInt(r.Header.Get("X-User-ID"), 10, 64)
	}
	key := r.Header.Get("Idempotency-Key")
	order, replay, err := s.createOrder(r.Context(), req, key)
	var bad errBadRequest
	switch {
	case errors.As(err, &bad):
		platform.WriteJSON(w, bad.code, map[string]string{"error": bad.msg})
		return
	case err != nil:
		// createOrder has logged the cause once.
		platform.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if order.Status != "paid" {
		if err := s.charge(r.Context(), &order, req.PaymentMethod, key); err != nil {
			s.log.Error("orders.charge: payment failed", zap.Int64("order_id", order.ID),
				zap.String("payment_method", req.PaymentMethod), zap.Error(err))
			platform.WriteJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "order": order})
			return
		}
	}
	code := http.StatusCreated
	if replay {
		w.Header().Set("Idempotent-Replayed", "true")
		code = http.StatusOK
	}
	platform.WriteJSON(w, code, order)
}

// createOrder validates, prices and inserts an order. With an Idempotency-Key that already exists it returns
// the existing order and replay=true.
func (s *Service) createOrder(ctx context.Context, req CreateRequest, key string) (Order, bool, error) {
	if req.UserID <= 0 || len(req.Items) == 0 {
		return Order{}, false, errBadRequest{http.StatusBadRequest, "user_id and items are required"}
	}
	if !validMethods[req.PaymentMethod] {
		return Order{}, false, errBadRequest{http.StatusBadRequest, "payment_method must be card, saved_card or wallet"}
	}
	total := req.TotalCents
	if total <= 0 {
		var err error
		if total, err = s.price(ctx, req.Items); err != nil {
			return Order{}, false, err
		}
	}
	args := []any{req.UserID, total, req.DiscountCode, key}
	if s.writeMeta {
		args = append(args, s.metadata(req))
	}
	var (
		o   Order
		err error
	)
	attempts := 1
	if s.catch23502 {
		attempts = catchAttempts
	}
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return Order{}, false, fmt.Errorf("insert order: %w", ctx.Err())
			case <-time.After(catchBackoff * time.Duration(i)):
			}
		}
		o, err = s.scanOrder(s.db.QueryRow(ctx, s.insertSQL, args...))
		if !isSQLState(err, "23502") {
			break
		}
	}
	if errors.Is(err, errNoRows) && key != "" {
		// ON CONFLICT DO NOTHING: the key exists, this is a retry of an earlier request.
		s.inserts.WithLabelValues("ok").Inc()
		o, err = s.scanOrder(s.db.QueryRow(ctx, `SELECT `+s.selectColumn+` FROM orders WHERE idempotency_key = $1`, key))
		if err != nil {
			return Order{}, false, fmt.Errorf("load order for idempotency key: %w", err)
		}
		return o, true, nil
	}
	if err != nil {
		s.inserts.WithLabelValues("error").Inc()
		s.logInsertError(err, req, key)
		return Order{}, false, fmt.Errorf("insert order: %w", err)
	}
	s.inserts.WithLabelValues("ok").Inc()
	return o, false, nil
}

// logInsertError writes the one error line of a failed insert with the SQLSTATE, column and statement.
func (s *Service) logInsertError(err error, req CreateRequest, key string) {
	fields := []zap.Field{zap.Int64("user_id", req.UserID), zap.String("idempotency_key", key),
		zap.String("statement", s.insertSQL), zap.Error(err)}
	msg := "orders.createOrder: insert into orders failed"
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		fields = append(fields, zap.String("sqlstate", pg.Code), zap.String("table", pg.TableName),
			zap.String("column", pg.ColumnName), zap.String("constraint", pg.ConstraintName))
		msg += ": SQLSTATE " + pg.Code + ": " + pg.Message
	}
	s.log.Error(msg, fields...)
}

// metadata is what PR #905 stores in order_metadata: the caller's fields plus the writing release.
func (s *Service) metadata(req CreateRequest) []byte {
	m := map[string]any{"source": "api"}
	for k, v := range req.Metadata {
		m[k] = v
	}
	m["release"] = s.rel.Version
	b, _ := json.Marshal(m)
	return b
}

var errNoRows = errors.New("no rows")

type row interface{ Scan(...any) error }

func (s *Service) scanOrder(r row) (Order, error) {
	var o Order
	dest := []any{&o.ID, &o.UserID, &o.TotalCents, &o.Status, &o.DiscountCode, &o.IdempotencyKey, &o.CreatedAt}
	if s.writeMeta {
		dest = append(dest, &o.Metadata)
	}
	err := r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, errNoRows
	}
	return o, err
}

func isSQLState(err error, code string) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == code
}

// price sums the items at catalog prices.
func (s *Service) price(ctx context.Context, items []Item) (int64, error) {
	ids := make([]int64, 0, len(items))
	for _, it := range items {
		if it.Qty <= 0 {
			return 0, errBadRequest{http.StatusBadRequest, "qty must be positive"}
		}
		ids = append(ids, it.ProductID)
	}
	rows, err := s.db.Query(ctx, `SELECT id, price_cents FROM products WHERE id = ANY($1)`, ids)
	if err != nil {
		s.log.Error("orders.price: query products", zap.Error(err))
		return 0, fmt.Errorf("price items: %w", err)
	}
	prices := map[int64]int64{}
	for rows.Next() {
		var id, p int64
		if err := rows.Scan(&id, &p); err != nil {
			rows.Close()
			return 0, fmt.Errorf("price items: %w", err)
		}
		prices[id] = p
	}
	rows.Close()
	var total int64
	for _, it := range items {
		p, ok := prices[it.ProductID]
		if !ok {
			return 0, errBadRequest{http.StatusUnprocessableEntity, fmt.Sprintf("unknown product %d", it.ProductID)}
		}
		total += p * it.Qty
	}
	return total, nil
}

// charge pays order through payments POST /charge and records the outcome in orders.status.
func (s *Service) charge(ctx context.Context, o *Order, method, key string) error {
	body, _ := json.Marshal(map[string]any{"order_id": o.ID, "amount_cents": o.TotalCents, "payment_method": method,
		"idempotency_key": key})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.paymentsURL+"/charge", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("charge: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	status := "payment_failed"
	resp, err := s.http.Do(req)
	if err == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK {
			status, o.Payment = "paid", json.RawMessage(b)
		} else {
			err = fmt.Errorf("payments answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
		}
	} else {
		err = fmt.Errorf("call payments: %w", err)
	}
	if _, uerr := s.db.Exec(ctx, `UPDATE orders SET status = $2 WHERE id = $1`, o.ID, status); uerr != nil {
		err = errors.Join(err, fmt.Errorf("update order status: %w", uerr))
	} else {
		o.Status = status
	}
	return err
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	uid, err := strconv.ParseInt(r.URL.Query().Get("user_id"), 10, 64)
	if err != nil {
		uid, err = strconv.ParseInt(r.Header.Get("X-User-ID"), 10, 64)
	}
	if err != nil {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "user_id is required"})
		return
	}
	rows, err := s.db.Query(r.Context(), `SELECT `+s.selectColumn+` FROM orders WHERE user_id = $1 ORDER BY id DESC LIMIT 20`, uid)
	if err != nil {
		s.log.Error("orders.handleList: query", zap.Error(err))
		platform.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "list orders: " + err.Error()})
		return
	}
	defer rows.Close()
	out := []Order{}
	for rows.Next() {
		o, err := s.scanOrder(rows)
		if err != nil {
			s.log.Error("orders.handleList: scan", zap.Error(err))
			platform.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "list orders: " + err.Error()})
			return
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		s.log.Error("orders.handleList: rows", zap.Error(err))
		platform.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "list orders: " + err.Error()})
		return
	}
	platform.WriteJSON(w, http.StatusOK, map[string]any{"orders": out})
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "id must be an integer"})
		return
	}
	o, err := s.scanOrder(s.db.QueryRow(r.Context(), `SELECT `+s.selectColumn+` FROM orders WHERE id = $1`, id))
	if errors.Is(err, errNoRows) {
		platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "order not found"})
		return
	}
	if err != nil {
		s.log.Error("orders.handleGet: query", zap.Int64("id", id), zap.Error(err))
		platform.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "get order: " + err.Error()})
		return
	}
	platform.WriteJSON(w, http.StatusOK, o)
}
