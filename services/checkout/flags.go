package checkout

import (
	"context"
	"sync"
	"time"

	"github.com/sandbox-labs/sandbox/services/release"
)

// FlagCacheTTL is how long a flag row is cached: flips show up within seconds without a query per request.
const FlagCacheTTL = 2 * time.Second

// Flags reads feature_flags with a short cache.
type Flags struct {
	store Store
	ttl   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	cache map[string]cachedFlag
}

type cachedFlag struct {
	flag Flag
	at   time.Time
}

// NewFlags returns a cached flag reader.
func NewFlags(store Store, ttl time.Duration) *Flags {
	return &Flags{store: store, ttl: ttl, now: time.Now, cache: map[string]cachedFlag{}}
}

// Enabled reports whether flag name is on for userID. A missing flag or a read error counts as off.
func (f *Flags) Enabled(ctx context.Context, name string, userID int64) bool {
	f.mu.Lock()
	c, ok := f.cache[name]
	f.mu.Unlock()
	if !ok || f.now().Sub(c.at) >= f.ttl {
		fl, err := f.store.Flag(ctx, name)
		if err != nil {
			fl = Flag{Name: name}
		}
		c = cachedFlag{flag: fl, at: f.now()}
		f.mu.Lock()
		f.cache[name] = c
		f.mu.Unlock()
	}
	return c.flag.Enabled && release.InCohort(name, userID, c.flag.RolloutPercent)
}
