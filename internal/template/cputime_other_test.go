//go:build !unix

package template

import "time"

var start = time.Now()

// cpuTime is, where the process's CPU time is not at hand, the time since the tests started.
func cpuTime() time.Duration { return time.Since(start) }
