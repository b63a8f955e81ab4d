package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/platform"
)

// User is one shop user.
type User struct {
	ID    int64  `json:"user_id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Source loads all users.
type Source interface {
	Users(ctx context.Context) ([]User, error)
}

// PGSource reads users from Postgres.
type PGSource struct{ Pool *pgxpool.Pool }

// Users implements Source.
func (s PGSource) Users(ctx context.Context) ([]User, error) {
	rows, err := s.Pool.Query(ctx, "SELECT id, name, email FROM users ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("query users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Name, &u.Email); err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	return out, nil
}

// Auth issues and checks session tokens.
type Auth struct {
	secret []byte
	src    Source
	log    *zap.Logger
	// Latencies of the handlers (zero in tests).
	Login, Session Dist

	loadMu sync.Mutex // one synchronous first load at a time
	mu     sync.RWMutex
	users  map[int64]User
}

// New returns an Auth signing with secret.
func New(secret []byte, src Source, log *zap.Logger) *Auth {
	return &Auth{secret: secret, src: src, log: log, Login: LoginLatency, Session: SessionLatency}
}

// Token is "<user id>.<hex HMAC-SHA256(secret, user id)>".
func (a *Auth) Token(userID int64) string {
	id := strconv.FormatInt(userID, 10)
	return id + "." + a.sign(id)
}

func (a *Auth) sign(id string) string {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify returns the user id a token was issued for.
func (a *Auth) Verify(token string) (int64, bool) {
	id, sig, ok := strings.Cut(token, ".")
	if !ok {
		return 0, false
	}
	if !hmac.Equal([]byte(sig), []byte(a.sign(id))) {
		return 0, false
	}
	uid, err := strconv.ParseInt(id, 10, 64)
	return uid, err == nil
}

// SetSource sets where users come from (Run sets it once the database answers).
func (a *Auth) SetSource(src Source) {
	a.mu.Lock()
	a.src = src
	a.mu.Unlock()
}

// Refresh reloads the user cache.
func (a *Auth) Refresh(ctx context.Context) error {
	a.mu.RLock()
	src := a.src
	a.mu.RUnlock()
	if src == nil {
		return errors.New("no user source yet")
	}
	us, err := src.Users(ctx)
	if err != nil {
		return err
	}
	m := make(map[int64]User, len(us))
	for _, u := range us {
		m[u.ID] = u
	}
	a.mu.Lock()
	a.users = m
	a.mu.Unlock()
	return nil
}

// Keep refreshes the cache until ctx ends: every second until the first load succeeds, then every interval.
func (a *Auth) Keep(ctx context.Context, interval time.Duration) {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := a.Refresh(ctx); err != nil {
			a.log.Warn("refresh user cache", zap.Error(err))
			if !a.loaded() {
				wait = time.Second
				continue
			}
		}
		wait = interval
	}
}

func (a *Auth) loaded() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.users != nil
}

// ensure loads the users if no load has succeeded yet, so the first requests after start wait for
// Postgres instead of failing.
func (a *Auth) ensure(ctx context.Context) {
	if a.loaded() {
		return
	}
	a.loadMu.Lock()
	defer a.loadMu.Unlock()
	if a.loaded() {
		return
	}
	if err := a.Refresh(ctx); err != nil {
		a.log.Warn("load users on request", zap.Error(err))
	}
}

func (a *Auth) user(id int64) (User, bool, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	u, ok := a.users[id]
	return u, ok, a.users != nil
}

// Mount registers the auth routes.
func (a *Auth) Mount(handle func(string, http.HandlerFunc)) {
	handle("POST /login", a.handleLogin)
	handle("GET /session", a.handleSession)
}

func (a *Auth) handleLogin(w http.ResponseWriter, r *http.Request) {
	a.Login.Wait(r.Context())
	var req struct {
		UserID int64 `json:"user_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.UserID <= 0 {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {\"user_id\": <positive int>}"})
		return
	}
	a.ensure(r.Context())
	u, ok, loaded := a.user(req.UserID)
	if !loaded {
		platform.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "users not loaded yet"})
		return
	}
	if !ok {
		platform.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "unknown user"})
		return
	}
	platform.WriteJSON(w, http.StatusOK, map[string]any{"token": a.Token(u.ID), "user": u})
}

func (a *Auth) handleSession(w http.ResponseWriter, r *http.Request) {
	a.Session.Wait(r.Context())
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		platform.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing bearer token"})
		return
	}
	id, ok := a.Verify(strings.TrimSpace(tok))
	if !ok {
		platform.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid token"})
		return
	}
	a.ensure(r.Context())
	u, ok, loaded := a.user(id)
	if !loaded {
		platform.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "users not loaded yet"})
		return
	}
	if !ok {
		platform.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "unknown user"})
		return
	}
	platform.WriteJSON(w, http.StatusOK, u)
}

// Secret returns the signing key: SANDBOX_AUTH_SECRET, else one derived from the sandbox name, so every
// auth instance of a sandbox (rolling deploys) accepts the others' tokens.
func Secret(cfg platform.Config) []byte {
	return []byte(cfg.Get("SANDBOX_AUTH_SECRET", "sandbox-auth:"+cfg.Name))
}

// Run serves the auth role.
func Run(ctx context.Context, cfg platform.Config) error {
	log := platform.NewLogger(cfg)
	defer log.Sync() //nolint:errcheck
	s := platform.NewServer(cfg, log)
	a := New(Secret(cfg), nil, log)
	a.Mount(s.Handle)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		pool, err := platform.OpenDB(ctx, cfg)
		if err != nil {
			log.Error("open database", zap.Error(err))
			return
		}
		defer pool.Close()
		a.SetSource(PGSource{Pool: pool})
		a.Keep(ctx, RefreshInterval)
	}()
	if err := s.Run(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}
