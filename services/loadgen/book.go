package loadgen

import (
	"math/rand/v2"
	"sync"

	"github.com/jackc/pgx/v5"
)

var pgxNoRows = pgx.ErrNoRows

// Sizes of what the UI remembers.
const (
	ordersPerUser = 5
	recentOrders  = 1024
	recentPays    = 1024
)

// book remembers orders and payments users made, so payment charges and lookups name real rows.
type book struct {
	mu     sync.Mutex
	byUser map[int64][]int64
	orders ring
	pays   ring
}

type ring struct {
	ids  []int64
	next int
}

func (r *ring) add(id int64, size int) {
	if len(r.ids) < size {
		r.ids = append(r.ids, id)
		return
	}
	r.ids[r.next] = id
	r.next = (r.next + 1) % size
}

func newBook() *book { return &book{byUser: map[int64][]int64{}} }

func (b *book) addOrder(user, id int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := b.byUser[user]
	for _, x := range ids {
		if x == id {
			return
		}
	}
	ids = append(ids, id)
	if len(ids) > ordersPerUser {
		ids = ids[len(ids)-ordersPerUser:]
	}
	b.byUser[user] = ids
	b.orders.add(id, recentOrders)
}

func (b *book) addPayment(id int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pays.add(id, recentPays)
}

// order returns one of the user's orders, else a recent order of anyone's.
func (b *book) order(user int64, r *rand.Rand) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ids := b.byUser[user]; len(ids) > 0 {
		return ids[r.IntN(len(ids))], true
	}
	if len(b.orders.ids) > 0 {
		return b.orders.ids[r.IntN(len(b.orders.ids))], true
	}
	return 0, false
}

func (b *book) payment(r *rand.Rand) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pays.ids) == 0 {
		return 0, false
	}
	return b.pays.ids[r.IntN(len(b.pays.ids))], true
}
