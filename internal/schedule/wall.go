package schedule

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// Wall is a date and time of day on a schedule's clock, with no zone of its own: the
// schedule's time zone turns it into an instant. Layer starts and ends and the shifts of a
// STATIC schedule are Walls, so that a 09:00 handoff stays at 09:00 when the clocks change.
//
// Its text form is "2024-03-31T09:00" (with ":05" when the seconds are not zero). Text that
// carries an offset ("2024-03-31T07:00:00Z") is accepted too; Normalize turns it into the
// schedule's wall clock.
type Wall struct {
	civil time.Time // the date and time of day, held in UTC; zero when unset
	at    time.Time // parsed from text with an offset and not yet normalized
}

// Wall-clock text forms, without and with an offset.
var (
	wallLayouts   = []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}
	offsetLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02 15:04:05Z07:00"}
)

// ParseWall reads a wall-clock date and time ("2024-03-31T09:00", seconds optional) or an
// ISO-8601 instant with an offset.
func ParseWall(s string) (Wall, error) {
	s = strings.TrimSpace(s)
	for _, l := range wallLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return Wall{civil: t.Truncate(time.Second)}, nil
		}
	}
	for _, l := range offsetLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return Wall{at: t.Truncate(time.Second)}, nil
		}
	}
	return Wall{}, fault.Errorf("%q is not a date and time such as 2024-03-31T09:00 or 2024-03-31T07:00:00Z", s)
}

// MustWall is ParseWall for constants in tests and examples; it panics on bad text.
func MustWall(s string) Wall {
	w, err := ParseWall(s)
	if err != nil {
		panic(err)
	}
	return w
}

// WallOf returns the wall clock of instant t in loc.
func WallOf(t time.Time, loc *time.Location) Wall {
	l := t.In(loc)
	return Wall{civil: time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)}
}

// IsZero reports whether w is unset.
func (w Wall) IsZero() bool { return w.civil.IsZero() && w.at.IsZero() }

// In returns the instant w names in loc. A time the clocks skip (02:30 on the night they
// spring forward) is the first moment after the gap (03:00), so that wall-clock times keep
// their order (02:30 is not after 03:00) and agree with support hours; a time that happens
// twice (01:30 on the night they fall back in New York) is the earlier of the two.
func (w Wall) In(loc *time.Location) time.Time {
	if !w.at.IsZero() {
		return w.at
	}
	return resolve(w.civil, loc)
}

// resolve returns the instant at which loc's clocks show the wall clock held (in UTC) by
// wall, with the rules of Wall.In. time.Date leaves the choice open ("not guaranteed"), and
// in practice picks differently east and west of Greenwich.
func resolve(wall time.Time, loc *time.Location) time.Time {
	if loc == time.UTC {
		return wall
	}
	naive := wall.Unix()
	// The offsets in force a day either side: no zone changes its clocks twice in two days.
	before, after := offsetAt(naive-86400, loc), offsetAt(naive+86400, loc)
	if before == after {
		return time.Unix(naive-int64(before), int64(wall.Nanosecond())).UTC()
	}
	early, late := naive-int64(before), naive-int64(after)
	earlyOK, lateOK := offsetAt(early, loc) == before, offsetAt(late, loc) == after
	var unix int64
	switch {
	case earlyOK && lateOK:
		unix = min(early, late)
	case earlyOK:
		unix = early
	case lateOK:
		unix = late
	default: // in the gap: the moment the clocks jump, which ends the zone period of late
		_, end := time.Unix(late, 0).In(loc).ZoneBounds()
		return end.UTC()
	}
	return time.Unix(unix, int64(wall.Nanosecond())).UTC()
}

func offsetAt(unix int64, loc *time.Location) int {
	_, off := time.Unix(unix, 0).In(loc).Zone()
	return off
}

// Normalize turns a Wall parsed with an offset into the wall clock of that instant in loc.
func (w *Wall) Normalize(loc *time.Location) {
	if !w.at.IsZero() {
		*w = WallOf(w.at, loc)
	}
}

// String returns the text form; an unnormalized Wall keeps its offset.
func (w Wall) String() string {
	switch {
	case !w.at.IsZero():
		return w.at.Format(time.RFC3339)
	case w.civil.IsZero():
		return ""
	case w.civil.Second() != 0:
		return w.civil.Format("2006-01-02T15:04:05")
	}
	return w.civil.Format("2006-01-02T15:04")
}

// Before reports whether w is earlier than v on the same clock.
func (w Wall) Before(v Wall) bool { return w.civil.Before(v.civil) }

func (w Wall) MarshalJSON() ([]byte, error) {
	if w.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(w.String())
}

func (w *Wall) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*w = Wall{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if strings.TrimSpace(s) == "" { // ilert clients send "" for unset times
		*w = Wall{}
		return nil
	}
	v, err := ParseWall(s)
	if err != nil {
		return errors.New(fault.MessageOf(err)) // the JSON decoder adds where
	}
	*w = v
	return nil
}
