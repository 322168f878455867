package schedule

import (
	"math"
	"slices"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// Horizon is how far beyond a requested range Shifts looks to find where the shifts that
// overlap the range really begin and end. A shift longer than that (one user alone in a
// layer, say) is cut at the horizon.
const Horizon = 31 * 24 * time.Hour

// Plan is a schedule and its overrides prepared for computation: zone loaded, periods,
// walls and restrictions parsed. It is read-only and safe for concurrent use.
type Plan struct {
	loc       *time.Location
	layers    []layerPlan
	static    []Shift    // sorted by start, not overlapping
	overrides []Override // later ones win
}

type layerPlan struct {
	users   []auth.Ref
	wall    time.Time // startsOn's date and time of day, held in UTC
	start   time.Time // the first handoff
	end     time.Time // the layer's end; zero when it has none
	days    int       // rotation in calendar days, or 0 when step is used
	step    time.Duration
	windows []window // the restrictions; none means every hour of the week
}

// window is one restriction: from fromMin minutes after midnight on fromDay until toMin
// minutes after midnight days later (toMin may be 1440, the next midnight).
type window struct {
	fromDay time.Weekday
	fromMin int
	days    int
	toMin   int
}

// Compile checks s and prepares it, with its overrides, for computation. Returns Invalid,
// saying where, if the zone, a rotation, a wall or a restriction is wrong.
func Compile(s *Schedule, overrides []Override) (*Plan, error) {
	loc, err := zone.Load(s.Timezone)
	if err != nil {
		return nil, err
	}
	p := &Plan{loc: loc, overrides: overrides}
	switch s.Type {
	case Recurring:
		p.layers = make([]layerPlan, len(s.ScheduleLayers))
		for i := range s.ScheduleLayers {
			if err := p.layers[i].compile(&s.ScheduleLayers[i], loc); err != nil {
				return nil, layerError(i, err)
			}
		}
	case Static:
		p.static = make([]Shift, len(s.Shifts))
		for i, sh := range s.Shifts {
			if err := checkWall(sh.Start, "start"); err != nil {
				return nil, fault.Errorf("shifts[%d]: %s", i, fault.MessageOf(err))
			}
			if err := checkWall(sh.End, "end"); err != nil {
				return nil, fault.Errorf("shifts[%d]: %s", i, fault.MessageOf(err))
			}
			start, end := sh.Start.In(loc).UTC(), sh.End.In(loc).UTC()
			if !start.Before(end) {
				return nil, fault.Errorf("shifts[%d]: end %s must be after start %s", i, sh.End, sh.Start)
			}
			p.static[i] = Shift{User: sh.User, Start: start, End: end}
		}
		slices.SortStableFunc(p.static, func(a, b Shift) int { return a.Start.Compare(b.Start) })
		for i := 1; i < len(p.static); i++ {
			if p.static[i].Start.Before(p.static[i-1].End) {
				return nil, fault.Errorf("shifts overlap: the shift from %s overlaps the one from %s",
					WallOf(p.static[i].Start, loc), WallOf(p.static[i-1].Start, loc))
			}
		}
	default:
		return nil, fault.Errorf("type %q is not one of STATIC, RECURRING", s.Type)
	}
	return p, nil
}

func (lp *layerPlan) compile(l *Layer, loc *time.Location) error {
	if err := checkWall(l.StartsOn, "startsOn"); err != nil {
		return err
	}
	if len(l.Users) == 0 {
		return fault.Errorf("users needs at least one user")
	}
	rot, err := ParseRotation(l.Rotation)
	if err != nil {
		return fault.Errorf("rotation: %s", fault.MessageOf(err))
	}
	starts := l.StartsOn
	starts.Normalize(loc)
	lp.users = l.Users
	lp.wall = starts.civil
	lp.start = starts.In(loc).UTC()
	lp.days, lp.step = rot.Days, rot.Elapsed
	if !l.EndsOn.IsZero() {
		if err := checkWall(l.EndsOn, "endsOn"); err != nil {
			return err
		}
		lp.end = l.EndsOn.In(loc).UTC()
		if !lp.start.Before(lp.end) {
			return fault.Errorf("endsOn %s must be after startsOn %s", l.EndsOn, l.StartsOn)
		}
	}
	lp.windows = make([]window, len(l.Restrictions))
	for j, r := range l.Restrictions {
		fromDay, fromMin, err := parseTimeOfWeek(r.From, false)
		if err != nil {
			return fault.Errorf("restrictions[%d].from: %s", j, fault.MessageOf(err))
		}
		toDay, toMin, err := parseTimeOfWeek(r.To, true)
		if err != nil {
			return fault.Errorf("restrictions[%d].to: %s", j, fault.MessageOf(err))
		}
		days := (int(toDay) - int(fromDay) + 7) % 7
		if days == 0 && toMin <= fromMin {
			days = 7 // the same time next week
		}
		lp.windows[j] = window{fromDay: fromDay, fromMin: fromMin, days: days, toMin: toMin}
	}
	return nil
}

// Location returns the schedule's time zone.
func (p *Plan) Location() *time.Location { return p.loc }

// OnCallAt returns the user on call at t, and false when nobody is. It is the fast path for
// paging: it computes only what covers t, and agrees with Shifts.
func (p *Plan) OnCallAt(t time.Time) (auth.Ref, bool) {
	for i := len(p.overrides) - 1; i >= 0; i-- {
		o := &p.overrides[i]
		if !t.Before(o.Start) && t.Before(o.End) {
			return o.User, true
		}
	}
	if len(p.static) > 0 {
		i, _ := slices.BinarySearchFunc(p.static, t, func(s Shift, t time.Time) int {
			if !s.End.After(t) {
				return -1
			}
			if s.Start.After(t) {
				return 1
			}
			return 0
		})
		if i < len(p.static) && !t.Before(p.static[i].Start) && t.Before(p.static[i].End) {
			return p.static[i].User, true
		}
		return auth.Ref{}, false
	}
	for i := len(p.layers) - 1; i >= 0; i-- {
		if u, ok := p.layers[i].userAt(t, p.loc); ok {
			return u, true
		}
	}
	return auth.Ref{}, false
}

// ShiftAt returns the shift covering t (with its start and end, looking up to Horizon
// either way), and false when nobody is on call at t.
func (p *Plan) ShiftAt(t time.Time) (Shift, bool) {
	for _, s := range p.Shifts(t, t) {
		if !t.Before(s.Start) && t.Before(s.End) {
			return s, true
		}
	}
	return Shift{}, false
}

// NextShift returns the first shift that starts after t, looking up to Horizon ahead.
func (p *Plan) NextShift(t time.Time) (Shift, bool) {
	for _, s := range p.Shifts(t, t.Add(Horizon)) {
		if s.Start.After(t) {
			return s, true
		}
	}
	return Shift{}, false
}

// Shifts returns the shifts that overlap [from, until), in order: where layers overlap the
// later one wins, overrides win over everything, a user's adjacent shifts are joined into
// one, and times nobody covers are left out as gaps. Shifts keep their real start and end
// (up to Horizon outside the range). A zero-length range (from == until) asks for the shift
// at that instant.
func (p *Plan) Shifts(from, until time.Time) []Shift {
	out, _ := p.ShiftsUpTo(from, until, math.MaxInt)
	return out
}

// chunk is how much of the timeline ShiftsUpTo works out at a time when the range may hold
// more than its limit.
const chunk = 7 * 24 * time.Hour

// ShiftsUpTo returns Shifts(from, until) and true when there are at most limit of them;
// otherwise the first limit and false. When the range may hold more than limit shifts (many
// layers of many short restrictions), it works the timeline out a week at a time and stops
// once it has found more than limit, so that such a range costs about limit shifts; other
// ranges are worked out in one go.
func (p *Plan) ShiftsUpTo(from, until time.Time, limit int) ([]Shift, bool) {
	if until.Before(from) {
		return []Shift{}, true
	}
	if until.Equal(from) {
		until = from.Add(time.Millisecond)
	}
	a, b := from.Add(-Horizon), until.Add(Horizon)
	step := b.Sub(a)
	if p.mostShifts(b.Sub(a)) > limit {
		step = chunk
	}
	in := func(s Shift) bool { return s.End.After(from) && s.Start.Before(until) }
	var line []Shift // the timeline so far; only its last shift may still grow
	found := 0       // the shifts of line but its last that overlap [from, until)
	for c := a; c.Before(b); c = c.Add(step) {
		for _, s := range p.timeline(c, minTime(c.Add(step), b)) {
			if n := len(line); n > 0 && line[n-1].User.ID == s.User.ID && line[n-1].End.Equal(s.Start) {
				line[n-1].End = s.End // the same shift, cut where the chunks meet
				continue
			}
			if n := len(line); n > 0 && in(line[n-1]) {
				found++
			}
			line = append(line, s)
		}
		if found > limit {
			break
		}
	}
	out := []Shift{}
	for _, s := range line {
		if in(s) {
			if len(out) == limit {
				return out, false
			}
			out = append(out, s)
		}
	}
	return out, true
}

// mostShifts bounds the shifts a stretch of length d can hold: each handoff, restriction
// edge, static shift and override can start one, and no more start than those.
func (p *Plan) mostShifts(d time.Duration) int {
	weeks := int(d/(7*24*time.Hour)) + 1
	n := len(p.static) + 2*len(p.overrides) + 1
	for _, lp := range p.layers {
		turn := lp.step
		if lp.days > 0 {
			turn = time.Duration(lp.days) * 24 * time.Hour
		}
		n += weeks * (int(7*24*time.Hour/turn) + 1 + 2*len(lp.windows))
	}
	return n
}

// Gaps returns the stretches of [from, until) where nobody is on call.
func (p *Plan) Gaps(from, until time.Time) []Shift {
	gaps := []Shift{}
	at := from
	for _, s := range p.timeline(from, until) {
		if s.Start.After(at) {
			gaps = append(gaps, Shift{Start: at, End: s.Start})
		}
		at = s.End
	}
	if at.Before(until) {
		gaps = append(gaps, Shift{Start: at, End: until})
	}
	return gaps
}

// timeline computes the merged shifts within [a, b), cut at a and b.
func (p *Plan) timeline(a, b time.Time) []Shift {
	a, b = a.UTC(), b.UTC()
	var sources [][]Shift // lowest precedence first
	if p.static != nil {
		sources = append(sources, clip(p.static, a, b))
	}
	for i := range p.layers {
		sources = append(sources, p.layers[i].shifts(a, b, p.loc))
	}
	for _, o := range p.overrides {
		if o.End.After(a) && o.Start.Before(b) {
			sources = append(sources, []Shift{{User: o.User, Start: maxTime(o.Start, a).UTC(), End: minTime(o.End, b).UTC()}})
		}
	}
	return join(overlay(sources))
}

// userAt returns the user of the layer at t, and false when the layer does not cover t.
func (lp *layerPlan) userAt(t time.Time, loc *time.Location) (auth.Ref, bool) {
	if t.Before(lp.start) || (!lp.end.IsZero() && !t.Before(lp.end)) {
		return auth.Ref{}, false
	}
	if len(lp.windows) > 0 && !lp.restrictionsCover(t, loc) {
		return auth.Ref{}, false
	}
	k, _, _ := lp.turnAt(t, loc)
	return lp.users[k%len(lp.users)], true
}

// turnAt returns the number of the turn covering t (t must not be before the start) and its
// bounds.
func (lp *layerPlan) turnAt(t time.Time, loc *time.Location) (int, time.Time, time.Time) {
	if lp.days == 0 {
		// In whole seconds (rotations are): a time.Duration stops at 292 years, after which
		// the turn would stop moving.
		step := int64(lp.step / time.Second)
		k := (t.Unix() - lp.start.Unix()) / step
		s := time.Unix(lp.start.Unix()+k*step, 0).In(lp.start.Location())
		return int(k), s, s.Add(lp.step)
	}
	k := floorDiv(dayNumber(t.In(loc))-dayNumber(lp.wall), lp.days)
	s := lp.handoff(k, loc)
	for k > 0 && s.After(t) {
		k--
		s = lp.handoff(k, loc)
	}
	e := lp.handoff(k+1, loc)
	for !e.After(t) {
		k++
		s, e = e, lp.handoff(k+1, loc)
	}
	return k, s, e
}

// handoff returns the start of turn k of a layer rotating by calendar days.
func (lp *layerPlan) handoff(k int, loc *time.Location) time.Time {
	w := lp.wall
	return resolve(time.Date(w.Year(), w.Month(), w.Day()+k*lp.days, w.Hour(), w.Minute(), w.Second(), 0, time.UTC), loc)
}

// shifts returns the layer's turns within [a, b), cut to its restrictions.
func (lp *layerPlan) shifts(a, b time.Time, loc *time.Location) []Shift {
	if !lp.end.IsZero() && lp.end.Before(b) {
		b = lp.end
	}
	if lp.start.After(a) {
		a = lp.start
	}
	if !a.Before(b) {
		return nil
	}
	var turns []Shift
	k, s, e := lp.turnAt(a, loc)
	for s.Before(b) {
		turns = append(turns, Shift{User: lp.users[k%len(lp.users)], Start: maxTime(s, a), End: minTime(e, b)})
		k++
		if lp.days == 0 {
			s, e = e, e.Add(lp.step)
		} else {
			s, e = e, lp.handoff(k+1, loc)
		}
	}
	if len(lp.windows) == 0 {
		return turns
	}
	return intersect(turns, lp.spans(a, b, loc))
}

// spans returns the restriction windows within [a, b), sorted and merged.
func (lp *layerPlan) spans(a, b time.Time, loc *time.Location) []Shift {
	var ws []Shift
	first, last := dayNumber(a.In(loc))-8, dayNumber(b.In(loc))+1
	for d := first; d <= last; d++ {
		wd := time.Weekday(((d+4)%7 + 7) % 7) // 1970-01-01 was a Thursday
		for _, w := range lp.windows {
			if w.fromDay != wd {
				continue
			}
			s, e := w.bounds(d, loc)
			if e.After(a) && s.Before(b) && s.Before(e) {
				ws = append(ws, Shift{Start: maxTime(s, a), End: minTime(e, b)})
			}
		}
	}
	slices.SortFunc(ws, func(x, y Shift) int { return x.Start.Compare(y.Start) })
	merged := ws[:0]
	for _, w := range ws {
		if n := len(merged); n > 0 && !w.Start.After(merged[n-1].End) {
			merged[n-1].End = maxTime(merged[n-1].End, w.End)
			continue
		}
		merged = append(merged, w)
	}
	return merged
}

// restrictionsCover reports whether t lies in one of the layer's restriction windows. It
// looks at each restriction's latest window starting at or before t, the same windows spans
// produces.
func (lp *layerPlan) restrictionsCover(t time.Time, loc *time.Location) bool {
	lt := t.In(loc)
	today := dayNumber(lt)
	for _, w := range lp.windows {
		d := today - (int(lt.Weekday())-int(w.fromDay)+7)%7
		s, e := w.bounds(d, loc)
		if s.After(t) {
			s, e = w.bounds(d-7, loc)
		}
		if !t.Before(s) && t.Before(e) {
			return true
		}
	}
	return false
}

// bounds returns the window that starts on day d (days since 1970-01-01 on the schedule's
// clock), which must fall on the window's fromDay.
func (w window) bounds(d int, loc *time.Location) (time.Time, time.Time) {
	return resolve(time.Date(1970, time.January, 1+d, 0, w.fromMin, 0, 0, time.UTC), loc),
		resolve(time.Date(1970, time.January, 1+d+w.days, 0, w.toMin, 0, 0, time.UTC), loc)
}

// intersect returns the parts of turns that lie within spans; both are sorted and each is
// free of overlaps.
func intersect(turns, spans []Shift) []Shift {
	var out []Shift
	j := 0
	for _, t := range turns {
		for j < len(spans) && !spans[j].End.After(t.Start) {
			j++
		}
		for k := j; k < len(spans) && spans[k].Start.Before(t.End); k++ {
			s, e := maxTime(t.Start, spans[k].Start), minTime(t.End, spans[k].End)
			if s.Before(e) {
				out = append(out, Shift{User: t.User, Start: s, End: e})
			}
		}
	}
	return out
}

// overlay lays sources over each other, later sources over earlier ones: the result names,
// for every stretch of time, the user of the highest source covering it. Each source is
// sorted and free of overlaps.
func overlay(sources [][]Shift) []Shift {
	var bounds []time.Time
	for _, src := range sources {
		for _, s := range src {
			bounds = append(bounds, s.Start, s.End)
		}
	}
	slices.SortFunc(bounds, time.Time.Compare)
	bounds = slices.CompactFunc(bounds, time.Time.Equal)
	cursor := make([]int, len(sources))
	var out []Shift
	for i := 0; i+1 < len(bounds); i++ {
		at := bounds[i]
		for j := len(sources) - 1; j >= 0; j-- {
			src := sources[j]
			for cursor[j] < len(src) && !src[cursor[j]].End.After(at) {
				cursor[j]++
			}
			if c := cursor[j]; c < len(src) && !src[c].Start.After(at) {
				out = append(out, Shift{User: src[c].User, Start: at, End: bounds[i+1]})
				break
			}
		}
	}
	return out
}

// join merges each shift into the one before when the same user goes on without a break.
func join(shifts []Shift) []Shift {
	out := []Shift{}
	for _, s := range shifts {
		if n := len(out); n > 0 && out[n-1].User.ID == s.User.ID && out[n-1].End.Equal(s.Start) {
			out[n-1].End = s.End
			continue
		}
		out = append(out, s)
	}
	return out
}

// clip returns the parts of sorted shifts within [a, b).
func clip(shifts []Shift, a, b time.Time) []Shift {
	var out []Shift
	for _, s := range shifts {
		if s.End.After(a) && s.Start.Before(b) {
			out = append(out, Shift{User: s.User, Start: maxTime(s.Start, a), End: minTime(s.End, b)})
		}
	}
	return out
}

// dayNumber returns the days from 1970-01-01 to t's date (as t's fields read).
func dayNumber(t time.Time) int {
	y, m, d := t.Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// FirstGap returns the first stretch in which nobody is on call within the period by which
// ilert's abort-on-gaps judges a schedule, and false when there is none. For a STATIC
// schedule the period runs from its first shift's start to its last shift's end. For a
// RECURRING one it starts at now, or at the first layer's start when that is later, and
// lasts four weeks or one full turn of the longest layer (every user once), whichever is
// longer, up to a year. Overrides do not count.
func FirstGap(s *Schedule, now time.Time) (Shift, bool, error) {
	p, err := Compile(s, nil)
	if err != nil {
		return Shift{}, false, err
	}
	var from, until time.Time
	if len(p.static) > 0 {
		from, until = p.static[0].Start, p.static[0].End
		for _, sh := range p.static {
			until = maxTime(until, sh.End)
		}
	} else {
		from = now
		span := 28 * 24 * time.Hour
		for i, lp := range p.layers {
			if i == 0 || lp.start.Before(from) {
				from = maxTime(now, lp.start)
			}
			turn := lp.step
			if lp.days > 0 {
				turn = time.Duration(lp.days) * 24 * time.Hour
			}
			span = max(span, min(turn*time.Duration(len(lp.users)), MaxRotation))
		}
		until = from.Add(span)
	}
	if gaps := p.Gaps(from, until); len(gaps) > 0 {
		return gaps[0], true, nil
	}
	return Shift{}, false, nil
}
