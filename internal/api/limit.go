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
	lim, ok := l.keys[key]
	if !ok {
		l.makeRoom(now)
		lim = rate.NewLimiter(l.limit, l.burst)
		l.keys[key] = lim
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	return false, l.until(lim, now)
}

// due says how long until key's bucket has a token, without taking one: 0 when it has one.
func (l *boundedLimiter) due(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.keys[key]; ok {
		return l.until(lim, now)
	}
	return 0
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
