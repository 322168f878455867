package condition

import (
	"fmt"
	"strings"
	"time"
)

// parseWindow parses a counter's window: an ISO-8601 duration (PT10M, P1DT12H) or a
// shorthand of numbers with units s, m, h and d (10m, 1h30m, 2d), between MinWindow and
// MaxWindow.
func parseWindow(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("the window is missing, e.g. 10m or PT10M")
	}
	var d time.Duration
	var ok bool
	if up := strings.ToUpper(s); up[0] == 'P' {
		d, ok = parseISODuration(up[1:])
	} else {
		d, ok = parseUnits(strings.ToLower(s), map[byte]time.Duration{
			's': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour,
		})
	}
	if !ok {
		return 0, fmt.Errorf("the window is not a duration such as 30s, 10m, 2h, 1d or PT10M")
	}
	if d < MinWindow || d > MaxWindow {
		return 0, fmt.Errorf("the window must be between 5 seconds and 2 days")
	}
	return d, nil
}

// parseISODuration parses what follows the P of an ISO-8601 duration: [nW][nD][T[nH][nM][nS]].
func parseISODuration(s string) (time.Duration, bool) {
	date, clock, hasT := strings.Cut(s, "T")
	if hasT && clock == "" || date == "" && clock == "" {
		return 0, false
	}
	d1, ok := parseUnits(date, map[byte]time.Duration{'W': 7 * 24 * time.Hour, 'D': 24 * time.Hour})
	if !ok {
		return 0, false
	}
	d2, ok := parseUnits(clock, map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second})
	return d1 + d2, ok
}

// parseUnits parses numbers each followed by one of units, each unit at most once. The sum
// saturates just above MaxWindow, so that huge numbers are out of range rather than overflow.
func parseUnits(s string, units map[byte]time.Duration) (time.Duration, bool) {
	var total time.Duration
	seen := map[byte]bool{}
	for s != "" {
		n := leadingDigits(s)
		if n == 0 || n > 6 || n == len(s) {
			return 0, false
		}
		unit, ok := units[s[n]]
		if !ok || seen[s[n]] {
			return 0, false
		}
		seen[s[n]] = true
		v := 0
		for _, c := range s[:n] {
			v = v*10 + int(c-'0')
		}
		if time.Duration(v) > MaxWindow/unit {
			total = MaxWindow + 1
		} else {
			total = min(total+time.Duration(v)*unit, MaxWindow+1)
		}
		s = s[n+1:]
	}
	return total, true
}
