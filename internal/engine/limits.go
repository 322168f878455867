package engine

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tocsinhq/tocsin/internal/notify"
)

// Limits caps the messages this replica sends per minute, per method (a provider's account
// limit, an SMS budget) and per user (nobody gets more than so many pages a minute). Zero means
// no cap. A message over a cap waits its turn; the wait does not count as an attempt.
type Limits struct {
	PerMethod map[notify.Method]int
	PerUser   int
}

type limiter struct {
	mu       sync.Mutex
	cfg      Limits
	byMethod map[notify.Method]*rate.Limiter
	byUser   map[int64]*rate.Limiter
}

func newLimiter(cfg Limits) *limiter {
	l := &limiter{cfg: cfg, byMethod: map[notify.Method]*rate.Limiter{}, byUser: map[int64]*rate.Limiter{}}
	for m, n := range cfg.PerMethod {
		if n > 0 {
			l.byMethod[m] = rate.NewLimiter(rate.Limit(float64(n)/60), n)
		}
	}
	return l
}

// wait takes a token for a message by method to user, or says how long to wait for one (and
// takes nothing).
func (l *limiter) wait(method notify.Method, user int64, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lims []*rate.Limiter
	if lim := l.byMethod[method]; lim != nil {
		lims = append(lims, lim)
	}
	if l.cfg.PerUser > 0 && user != 0 {
		lim := l.byUser[user]
		if lim == nil {
			if len(l.byUser) > 100_000 { // forget idle users rather than grow without bound
				l.byUser = map[int64]*rate.Limiter{}
			}
			lim = rate.NewLimiter(rate.Limit(float64(l.cfg.PerUser)/60), l.cfg.PerUser)
			l.byUser[user] = lim
		}
		lims = append(lims, lim)
	}
	var reservations []*rate.Reservation
	var longest time.Duration
	for _, lim := range lims {
		r := lim.ReserveN(now, 1)
		reservations = append(reservations, r)
		longest = max(longest, r.DelayFrom(now))
	}
	if longest > 0 {
		for _, r := range reservations {
			r.CancelAt(now)
		}
	}
	return longest
}
