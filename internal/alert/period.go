package alert

import (
	"regexp"
	"strconv"
	"time"

	"github.com/tocsinhq/tocsin/internal/fault"
)

var periodRE = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// ParsePeriod parses an ISO-8601 duration made of weeks, days, hours, minutes and seconds
// (PT4H, P1D, PT90M). Days are 24 hours here: these periods measure elapsed time.
func ParsePeriod(s string) (time.Duration, error) {
	m := periodRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s[len(s)-1] == 'T' {
		return 0, fault.Errorf("%q is not an ISO-8601 duration such as PT30M or P1D", s)
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var d time.Duration
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 32)
		if err != nil {
			return 0, fault.Errorf("%q has a number too large", s)
		}
		d += time.Duration(n) * u
	}
	if d <= 0 || d > 366*24*time.Hour {
		return 0, fault.Errorf("%q must be longer than zero and at most a year", s)
	}
	return d, nil
}
