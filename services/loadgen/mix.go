package loadgen

import (
	"hash/fnv"
	"strconv"
	"sync"

	"github.com/sandbox-labs/sandbox/services/release"
)

// Kind is one kind of user action.
type Kind string

// User actions.
const (
	KindSearch         Kind = "search"
	KindCatalog        Kind = "catalog"
	KindAuth           Kind = "auth"
	KindCheckout       Kind = "checkout"
	KindOrdersList     Kind = "orders_list"
	KindOrdersCreate   Kind = "orders_create"
	KindPaymentsCharge Kind = "payments_charge"
	KindPaymentsGet    Kind = "payments_get"
)

// Route is the edge route family a kind hits (the label of loadgen_requests_total and /stats by_route).
func (k Kind) Route() string {
	switch k {
	case KindSearch:
		return "/api/search"
	case KindCatalog:
		return "/api/catalog"
	case KindAuth:
		return "/api/auth"
	case KindCheckout:
		return "/api/checkout"
	case KindOrdersList, KindOrdersCreate:
		return "/api/orders"
	default:
		return "/api/payments"
	}
}

// Share is a kind's percent of all requests.
type Share struct {
	Kind    Kind
	Percent int
}

// DefaultMix is the traffic mix in percent of requests (sums to 100). The three affected families
// (checkout 8, orders 13, payments 10) are 31% of traffic; calibrate the edge error rate here.
var DefaultMix = []Share{
	{KindSearch, 30},
	{KindCatalog, 27},
	{KindAuth, 12},
	{KindCheckout, 8},
	{KindOrdersList, 7},
	{KindOrdersCreate, 6},
	{KindPaymentsCharge, 8},
	{KindPaymentsGet, 2},
}

// Picker hands out kinds in exact proportion, evenly interleaved (smooth weighted round robin), so every
// window of 100 requests has the mix and the edge error rate does not jitter with random draws.
type Picker struct {
	mu      sync.Mutex
	shares  []Share
	current []int
	total   int
}

// NewPicker returns a picker over shares.
func NewPicker(shares []Share) *Picker {
	p := &Picker{shares: shares, current: make([]int, len(shares))}
	for _, s := range shares {
		p.total += s.Percent
	}
	return p
}

// Next returns the next kind.
func (p *Picker) Next() Kind {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := -1
	for i, s := range p.shares {
		p.current[i] += s.Percent
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= p.total
	return p.shares[best].Kind
}

// NumUsers is the simulated user base; ids are 1..NumUsers and stable.
const NumUsers = 1000

// CardSharePercent of users pay by card; the rest use the saved-card path (the one the payment-sdk 4.0
// break hits, see payments.StoredCredentialPath). The split is by a stable hash of the user id.
const CardSharePercent = 50

// Payment methods.
const (
	MethodCard      = "card"
	MethodSavedCard = "saved_card"
)

func fnv32a(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// MethodFor returns a user's stable payment method: card, or secondary (the seed's saved-card path).
func MethodFor(userID int64, secondary string) string {
	if fnv32a("payment_method:"+strconv.FormatInt(userID, 10))%100 < CardSharePercent {
		return MethodCard
	}
	return secondary
}

// Flag is the state of the discount_codes feature flag as the web UI sees it.
type Flag struct {
	Enabled        bool `json:"enabled"`
	RolloutPercent int  `json:"rollout_percent"`
}

// DefaultFlag is the seeded state, used until the first read from Postgres.
var DefaultFlag = Flag{Enabled: true, RolloutPercent: release.CohortPercentCard}

// FlagName is the feature flag the UI reads.
const FlagName = release.FlagDiscountCodes

// InCohort reports whether the UI shows user the discount field: the flag is enabled and the user is in its
// rollout (release.InCohort, the rule checkout applies too).
func InCohort(userID int64, f Flag) bool {
	return f.Enabled && release.InCohort(FlagName, userID, f.RolloutPercent)
}

// DiscountCodes are the seeded valid codes a cohort user types in.
var DiscountCodes = []string{"SAVE10", "WELCOME15", "SPRING20"}

// CodeFor is the stable code a cohort user sends.
func CodeFor(userID int64) string {
	return DiscountCodes[fnv32a("code:"+strconv.FormatInt(userID, 10))%uint32(len(DiscountCodes))]
}

// SearchTerms are what users type in the search box (all match seeded products).
var SearchTerms = []string{"mug", "lamp", "chair", "desk", "backpack", "kettle", "red", "blue", "walnut",
	"silver", "clock", "speaker", "watch", "pillow", "modern", "classic"}

// NumProducts is the seeded catalog size (ids 1..NumProducts).
const NumProducts = 200
