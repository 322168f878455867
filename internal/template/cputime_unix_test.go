//go:build unix

package template

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the test process has used. Unlike the wall clock it does not grow
// while other processes keep the machine busy, so time bounds on it do not flake.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
