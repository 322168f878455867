package client_test

import (
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/client"
)

func TestRetryWait(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		lo, hi time.Duration
		n      int
		want   time.Duration // before the jitter takes up to a quarter off
	}{
		{s, 60 * s, 1, s},
		{s, 60 * s, 2, 2 * s},
		{s, 60 * s, 6, 32 * s},
		{s, 60 * s, 7, 60 * s},
		{s, 60 * s, 1000, 60 * s}, // no overflow after many failures
		{s, 60 * s, 0, s},
		{10 * s, s, 3, 10 * s}, // hi below lo: lo
	} {
		for range 50 {
			got := client.RetryWait(c.lo, c.hi, c.n)
			if got > c.want || got < c.want*3/4 {
				t.Fatalf("RetryWait(%s, %s, %d) = %s, want %s less up to a quarter", c.lo, c.hi, c.n, got, c.want)
			}
		}
	}
}
