package schedule

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// CoverageStatus is where a coverage request stands. Only a PENDING request can change, and
// only once.
type CoverageStatus string

const (
	CoveragePending   CoverageStatus = "PENDING"
	CoverageAccepted  CoverageStatus = "ACCEPTED"  // the colleague covers: an override exists
	CoverageDeclined  CoverageStatus = "DECLINED"  // the colleague said no
	CoverageCancelled CoverageStatus = "CANCELLED" // the requester (or an ADMIN) withdrew it
	// CoverageExpired is never stored: a PENDING request reads as EXPIRED once its start has
	// passed, because a colleague can no longer take over all of it.
	CoverageExpired CoverageStatus = "EXPIRED"
)

// ParseCoverageStatus accepts a status name in any case.
func ParseCoverageStatus(s string) (CoverageStatus, error) {
	st := CoverageStatus(strings.ToUpper(strings.TrimSpace(s)))
	switch st {
	case CoveragePending, CoverageAccepted, CoverageDeclined, CoverageCancelled, CoverageExpired:
		return st, nil
	}
	return "", fault.Errorf("status %q is not one of PENDING, ACCEPTED, DECLINED, CANCELLED, EXPIRED", s)
}

// MaxCoverageMessage is the longest message a requester may add, in characters.
const MaxCoverageMessage = 1000

// CoverageRequest asks User to cover [Start, End) of Requester's shifts in a schedule. An
// accepted request becomes an override putting User on call for that range.
type CoverageRequest struct {
	ID         int64          `json:"id"`
	Schedule   ScheduleName   `json:"schedule"`
	Requester  auth.Ref       `json:"requester"`
	User       auth.Ref       `json:"user"`
	Start      time.Time      `json:"start"`
	End        time.Time      `json:"end"`
	Message    string         `json:"message"`
	Status     CoverageStatus `json:"status"`
	OverrideID int64          `json:"overrideId,omitempty"`
	CreatedAt  time.Time      `json:"createdAt"`
	DecidedAt  *time.Time     `json:"decidedAt,omitempty"`
}

// ScheduleName names a schedule inside another resource.
type ScheduleName struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Validate checks a new request at now: a colleague other than the requester, a range like
// an override's that starts after now, and a message of at most MaxCoverageMessage
// characters. Whether the requester is on call for the range is CheckCover's question.
func (c *CoverageRequest) Validate(now time.Time) error {
	c.Message = strings.TrimSpace(c.Message)
	switch {
	case c.User.ID <= 0:
		return fault.Errorf("user.id is required: the colleague you ask to cover")
	case c.User.ID == c.Requester.ID:
		return fault.Errorf("you cannot ask yourself to cover your own shift")
	case utf8.RuneCountInString(c.Message) > MaxCoverageMessage:
		return fault.Errorf("message must be at most %d characters", MaxCoverageMessage)
	}
	if err := ValidateOverride(Override{User: c.User, Start: c.Start, End: c.End}); err != nil {
		return err
	}
	if !c.Start.After(now) {
		return fault.Errorf("start %s has passed: a colleague can only take over a shift that has not begun", c.Start.UTC().Format(time.RFC3339))
	}
	return nil
}

// StatusAt is the request's status as a reader sees it at now: PENDING turns EXPIRED once
// the start has passed.
func (c *CoverageRequest) StatusAt(now time.Time) CoverageStatus {
	if c.Status == CoveragePending && !now.Before(c.Start) {
		return CoverageExpired
	}
	return c.Status
}

// CheckCover returns Invalid unless user u is on call in the plan for the whole of
// [start, end), by layers, static shifts and overrides alike. Part of a shift is fine; a
// range that runs into a gap or into someone else's turn is not. The message names u's
// shifts within the range on the schedule's clock, so the requester sees what they can ask
// for; callers say why it matters.
func (p *Plan) CheckCover(u auth.Ref, start, end time.Time) error {
	var mine []string
	for _, s := range p.Shifts(start, end) {
		if s.User.ID != u.ID {
			continue
		}
		if !s.Start.After(start) && !s.End.Before(end) {
			return nil
		}
		mine = append(mine, WallOf(maxTime(s.Start, start), p.loc).String()+" to "+WallOf(minTime(s.End, end), p.loc).String())
	}
	what := "they are not on call at any time in it"
	if len(mine) > 0 {
		what = "they are on call only from " + strings.Join(mine, ", from ")
	}
	return fault.Errorf("user %d is not on call for all of %s to %s (%s): %s",
		u.ID, WallOf(start, p.loc), WallOf(end, p.loc), p.loc, what)
}
