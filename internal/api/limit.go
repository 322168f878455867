package api

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// boundedLimiter is a token bucket per key that remembers at most max keys. When full, it
// forgets the keys whose bucket has refilled, and if none has, an arbitrary one (whose next
// request starts with a full bucket). A limit of 0 or less lets everything through. Limits
// are per replica: with several replicas behind a balancer a key may get n times as much.
type boundedLimiter struct {
	limit rate.Limit
	burst int
	max   int
	mu    sync.Mutex
	keys  map[string]*rate.Limiter
	swept time.Time
}

func newBoundedLimiter(perSecond float64, burst, maxKeys int) *boundedLimiter {
	return &boundedLimiter{limit: rate.Limit(perSecond), burst: burst, max: maxKeys, keys: map[string]*rate.Limiter{}}
}

// take takes a token from key's bucket; when none is left it says how long until one is.
func (l *boundedLimiter) take(key string, now time.Time) (bool, time.Duration) {
	if l.limit <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.bucket(key, now)
	if lim.AllowN(now, 1) {
		return true, 0
	}
	return false, l.until(lim, now)
}

// reserve takes a token from key's bucket when it has one, and returns the reservation, which
// CancelAt gives back. When it has none it takes nothing and says how long until it has.
func (l *boundedLimiter) reserve(key string, now time.Time) (*rate.Reservation, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.bucket(key, now)
	if wait := l.until(lim, now); wait > 0 {
		return nil, wait
	}
	return lim.ReserveN(now, 1), 0
}

// bucket returns key's bucket, made full when key has none; l.mu must be held.
func (l *boundedLimiter) bucket(key string, now time.Time) *rate.Limiter {
	lim, ok := l.keys[key]
	if !ok {
		l.makeRoom(now)
		lim = rate.NewLimiter(l.limit, l.burst)
		l.keys[key] = lim
	}
	return lim
}

func (l *boundedLimiter) until(lim *rate.Limiter, now time.Time) time.Duration {
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
}

// makeRoom makes room for one more key. It looks for refilled buckets at most once a second,
// as that walks every key.
func (l *boundedLimiter) makeRoom(now time.Time) {
	if len(l.keys) < l.max {
		return
	}
	if now.Sub(l.swept) >= time.Second {
		for k, lim := range l.keys {
			if lim.TokensAt(now) >= float64(l.burst) {
				delete(l.keys, k)
			}
		}
		l.swept = now
	}
	for k := range l.keys {
		if len(l.keys) < l.max {
			break
		}
		delete(l.keys, k)
	}
}

// eventKeysMax bounds the integration keys the event limiter remembers; only keys of real
// sources get a bucket.
const eventKeysMax = 100_000

// wholeSeconds rounds a wait up to whole seconds, at least one, as Retry-After gives it.
func wholeSeconds(wait time.Duration) time.Duration {
	return max(time.Second, time.Duration(math.Ceil(wait.Seconds()))*time.Second)
}
