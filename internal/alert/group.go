package alert

import (
	"time"

	"github.com/tocsinhq/tocsin/internal/similarity"
)

// DefaultScoreThreshold is the similarity INTELLIGENT_GROUPING asks for when the source sets
// no scoreThreshold.
const DefaultScoreThreshold = 0.8

// Candidate is an open alert of a source that a new event might be grouped into.
type Candidate struct {
	Status   Status
	OpenedAt time.Time
	Summary  string
	Details  string
}

// Groups reports whether the source's alert creation mode groups events into open alerts
// beyond their alert keys.
func (s *Source) Groups() bool {
	switch s.AlertCreation {
	case OnePendingAlertAllowed, OneOpenAlertAllowed, OneAlertGroupedPerWindow, IntelligentGrouping:
		return true
	}
	return false
}

// GroupWindow is how far back an event may be grouped into an alert opened before it: the
// source's alertGroupingWindow for the window modes, unbounded (0) for the others.
func (s *Source) GroupWindow() time.Duration {
	if s.AlertCreation != OneAlertGroupedPerWindow && s.AlertCreation != IntelligentGrouping {
		return 0
	}
	d, err := ParsePeriod(s.AlertGroupingWindow)
	if err != nil {
		return 0
	}
	return d
}

// GroupInto picks the open alert, among candidates (newest first, none resolved), that an
// ALERT event which would open a new alert is added to instead, by the source's alert
// creation mode; -1 means open a new alert:
//
//   - ONE_PENDING_ALERT_ALLOWED: the newest PENDING alert (grouping until accepted);
//   - ONE_OPEN_ALERT_ALLOWED: the newest open alert (grouping until resolved);
//   - ONE_ALERT_GROUPED_PER_WINDOW: the newest open alert opened within alertGroupingWindow;
//   - INTELLIGENT_GROUPING: of the open alerts opened within alertGroupingWindow, the one
//     whose summary and details are most similar to the event's (similarity.Score), if that
//     reaches scoreThreshold.
func (s *Source) GroupInto(ev *Event, candidates []Candidate, now time.Time) int {
	window := s.GroupWindow()
	inWindow := func(c Candidate) bool { return window == 0 || !c.OpenedAt.Before(now.Add(-window)) }
	switch s.AlertCreation {
	case OnePendingAlertAllowed:
		for i, c := range candidates {
			if c.Status == Pending {
				return i
			}
		}
	case OneOpenAlertAllowed, OneAlertGroupedPerWindow:
		for i, c := range candidates {
			if c.Status != Resolved && inWindow(c) {
				return i
			}
		}
	case IntelligentGrouping:
		threshold := DefaultScoreThreshold
		if s.ScoreThreshold != nil {
			threshold = *s.ScoreThreshold
		}
		best, bestScore := -1, 0.0
		text := ev.Summary + "\n" + ev.Details
		for i, c := range candidates {
			if c.Status == Resolved || !inWindow(c) {
				continue
			}
			if score := similarity.Score(text, c.Summary+"\n"+c.Details); score >= threshold && score > bestScore {
				best, bestScore = i, score
			}
		}
		return best
	}
	return -1
}
