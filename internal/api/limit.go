package api

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyLimiter throttles events per integration key with a token bucket per key. Limits are
// per replica: with several replicas behind a balancer a key may send up to n times as much.
type keyLimiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	keys  map[string]*rate.Limiter
	swept time.Time
}

func newKeyLimiter(perSecond float64, burst int) *keyLimiter {
	if burst < 1 {
		burst = 1
	}
	return &keyLimiter{limit: rate.Limit(perSecond), burst: burst, keys: map[string]*rate.Limiter{}}
}

// allow takes one token for key; when none is left it says how long to wait.
func (l *keyLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l.limit <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute { // forget keys whose bucket has refilled
		for k, lim := range l.keys {
			if lim.TokensAt(now) >= float64(l.burst) {
				delete(l.keys, k)
			}
		}
		l.swept = now
	}
	lim, ok := l.keys[key]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.keys[key] = lim
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	wait := time.Duration(math.Ceil((1-lim.TokensAt(now))/float64(l.limit))) * time.Second
	return false, max(wait, time.Second)
}
