package dispatch

import (
	"cmp"
	"context"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/client"
)

// Backoff is the wait between attempts at a message that failed for now: Min (1 s when
// zero), doubling up to Max (30 s when zero), less up to a quarter at random
// (client.RetryWait).
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Next returns the next wait.
func (b *Backoff) Next() time.Duration {
	b.n++
	return client.RetryWait(cmp.Or(b.Min, time.Second), cmp.Or(b.Max, 30*time.Second), b.n)
}

// Reset starts again from Min, after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Sleep waits d or until ctx ends, and reports whether the wait was whole.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
