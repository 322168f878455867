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
	const limit = 366 * 24 * time.Hour
	tooLong := fault.Errorf("%q must be longer than zero and at most a year", s)
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var d time.Duration
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		// Each part is checked before it is multiplied, so that no number wraps around.
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || n > int64(limit/u) {
			return 0, tooLong
		}
		d += time.Duration(n) * u
	}
	if d <= 0 || d > limit {
		return 0, tooLong
	}
	return d, nil
}
