package schedule

import (
	"regexp"
	"strconv"
	"time"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// Rotation is a layer's rotation period: whole calendar days on the schedule's clock, or an
// elapsed duration. Exactly one of Days and Elapsed is set.
type Rotation struct {
	Days    int           // P1D, P7D, P2W: the handoff keeps its time of day across DST changes
	Elapsed time.Duration // PT8H, PT12H, PT90M: that much real time, whatever the clocks do
}

// Limits of a rotation.
const (
	MinRotation = time.Hour
	MaxRotation = 366 * 24 * time.Hour
)

var rotationRE = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$`)

// ParseRotation reads an ISO-8601 period of weeks and days (P1D, P7D, P2W) or of hours and
// minutes (PT8H, PT12H, PT90M). Periods that mix the two are refused: a day on the
// schedule's clock is 23, 24 or 25 hours long, so "P1DT12H" has no single meaning.
func ParseRotation(s string) (Rotation, error) {
	m := rotationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s[len(s)-1] == 'T' {
		return Rotation{}, fault.Errorf("%q is not an ISO-8601 period such as P1D, P7D, PT8H or PT12H", s)
	}
	n := make([]int64, 4)
	for i := range n {
		if m[i+1] == "" {
			continue
		}
		v, err := strconv.ParseInt(m[i+1], 10, 32)
		if err != nil {
			return Rotation{}, fault.Errorf("%q has a number too large", s)
		}
		n[i] = v
	}
	days := n[0]*7 + n[1]
	elapsed := time.Duration(n[2])*time.Hour + time.Duration(n[3])*time.Minute
	switch {
	case days > 0 && elapsed > 0:
		return Rotation{}, fault.Errorf("%q mixes days and hours: use whole days (P1D, P7D) or hours (PT8H, PT36H)", s)
	case days > 0 && days <= int64(MaxRotation/(24*time.Hour)):
		return Rotation{Days: int(days)}, nil
	case days == 0 && elapsed >= MinRotation && elapsed <= MaxRotation:
		return Rotation{Elapsed: elapsed}, nil
	}
	return Rotation{}, fault.Errorf("%q must be between %s and %d days", s, "PT1H", int(MaxRotation/(24*time.Hour)))
}

// String returns the ISO-8601 form.
func (r Rotation) String() string {
	if r.Days > 0 {
		return "P" + strconv.Itoa(r.Days) + "D"
	}
	h, m := int(r.Elapsed/time.Hour), int(r.Elapsed%time.Hour/time.Minute)
	s := "PT"
	if h > 0 {
		s += strconv.Itoa(h) + "H"
	}
	if m > 0 {
		s += strconv.Itoa(m) + "M"
	}
	return s
}
