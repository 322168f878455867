package client

import (
	"math/rand/v2"
	"time"
)

// RetryWait is the wait after the nth failure in a row (from 1) of something worth trying
// again: lo, doubled per further failure up to hi, less up to a quarter at random so that
// agents cut off together do not come back together.
func RetryWait(lo, hi time.Duration, n int) time.Duration {
	d := max(hi, lo)
	if n <= 32 {
		if v := lo << max(n-1, 0); v > 0 && v < d {
			d = v
		}
	}
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}
