// Package heartbeat watches heartbeat monitors: jobs and hosts that promise to ping tocsin at
// least once per interval, and the alert a monitor opens on its alert source when the pings
// stop.
//
// A monitor's state records which event tocsin last raised for it: UNKNOWN before its first
// ping (it never alerts), HEALTHY, and OVERDUE once its ALERT went out. Its deadline is its
// last ping plus its interval plus a grace (see Grace). The Watcher takes pings in memory,
// writes them together about once a second, and settles every monitor whose state disagrees
// with its deadline: an ALERT for a HEALTHY monitor past it, a RESOLVE for an OVERDUE monitor
// pinged since.
package heartbeat

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// State is a monitor's state as ilert names it.
type State string

const (
	Unknown State = "UNKNOWN" // no ping yet
	Healthy State = "HEALTHY" // pinged within its deadline, or not yet settled as overdue
	Overdue State = "OVERDUE" // its deadline passed and its ALERT event went out
)

// Limits of a monitor's fields, as ilert documents them.
const (
	MinIntervalSec = 25
	MaxIntervalSec = 2678400 // 31 days
	MaxNameLen     = 255
	MaxTeams       = 50
)

// The grace after a monitor's interval: a tenth of the interval, at least MinGrace. It covers
// the second a ping may wait in memory before it is written, the loop's one-second rounds and
// a little clock skew between replicas, so a monitor pinged on time is never reported
// overdue.
const (
	GracePercent = 10
	MinGrace     = 5 * time.Second
)

// KeyBytes is the randomness of an integration key: 256 bits, 43 URL-safe characters.
const KeyBytes = 32

// keyLen is the length of an integration key (KeyBytes in unpadded base64url).
var keyLen = base64.RawURLEncoding.EncodedLen(KeyBytes)

// wellFormedKey reports whether key could be a monitor's integration key, so that a ping
// with anything else costs no database lookup.
func wellFormedKey(key string) bool {
	if len(key) != keyLen {
		return false
	}
	for i := range len(key) {
		switch c := key[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// Monitor is a heartbeat monitor.
type Monitor struct {
	ID           int64
	Name         string
	State        State
	IntervalSec  int
	AlertSummary string // the summary of the alert it opens; empty for the default
	SourceID     int64  // the alert source the alert opens on
	Teams        []auth.TeamRef
	// IntegrationKey is the secret in the ping URL, generated when the monitor is created.
	IntegrationKey string
	LastPingAt     *time.Time // as last written; pings wait up to a second in memory
	// OverdueSourceID is the alert source an OVERDUE monitor's alert was opened on (the
	// monitor may have moved since); 0 otherwise.
	OverdueSourceID int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Normalize trims the text fields.
func (m *Monitor) Normalize() {
	m.Name = strings.TrimSpace(m.Name)
	m.AlertSummary = strings.TrimSpace(m.AlertSummary)
}

// Validate checks the fields a client writes. minIntervalSec is MinIntervalSec unless a test
// lowered it. It returns Invalid naming the first field that is wrong.
func (m *Monitor) Validate(minIntervalSec int) error {
	switch {
	case m.Name == "":
		return fault.Errorf("name is required")
	case utf8.RuneCountInString(m.Name) > MaxNameLen:
		return fault.Errorf("name must be at most %d characters", MaxNameLen)
	case m.IntervalSec < minIntervalSec || m.IntervalSec > MaxIntervalSec:
		return fault.Errorf("intervalSec must be between %d and %d", minIntervalSec, MaxIntervalSec)
	case utf8.RuneCountInString(m.AlertSummary) > alert.MaxSummaryLen:
		return fault.Errorf("alertSummary must be at most %d characters", alert.MaxSummaryLen)
	case m.SourceID <= 0:
		return fault.Errorf("alertSource.id is required: the alert source an overdue monitor opens its alert on")
	case len(m.Teams) > MaxTeams:
		return fault.Errorf("at most %d teams", MaxTeams)
	}
	seen := map[int64]bool{}
	for _, t := range m.Teams {
		if t.ID <= 0 {
			return fault.Errorf("teams[].id is required")
		}
		if seen[t.ID] {
			return fault.Errorf("team %d is listed twice in teams", t.ID)
		}
		seen[t.ID] = true
	}
	return nil
}

// Interval is the monitor's interval as a duration.
func (m *Monitor) Interval() time.Duration { return time.Duration(m.IntervalSec) * time.Second }

// Grace is the grace of a monitor with this interval: GracePercent of it, at least MinGrace.
func Grace(intervalSec int) time.Duration {
	return max(time.Duration(intervalSec)*time.Second*GracePercent/100, MinGrace)
}

// Deadline is when a monitor with this interval, last pinged at lastPing, becomes overdue.
func Deadline(lastPing time.Time, intervalSec int) time.Time {
	return lastPing.Add(time.Duration(intervalSec)*time.Second + Grace(intervalSec))
}

// AlertKey is the alert key of a monitor's events, so that its ALERTs fold into one open
// alert and its RESOLVE finds it.
func AlertKey(monitorID int64) string { return "heartbeat-" + strconv.FormatInt(monitorID, 10) }

// Summary is the summary of the alert a monitor opens.
func Summary(name, alertSummary string) string {
	if alertSummary != "" {
		return alertSummary
	}
	return "Heartbeat " + name + " is overdue"
}

// Ping is a ping held in memory until it is written.
type Ping struct {
	MonitorID int64
	At        time.Time
}

// Claim is a monitor a replica has leased, until Lease, to settle it: a HEALTHY monitor past
// its deadline, or an OVERDUE one pinged since it became overdue.
type Claim struct {
	MonitorID    int64
	Name         string
	AlertSummary string
	IntervalSec  int
	State        State     // the state it was claimed in
	SourceID     int64     // where its event goes: its alert source, or for an OVERDUE monitor the source its alert was opened on
	LastPingAt   time.Time // as written when it was claimed
	Lease        time.Time // the claim's identity: the state is written only while it holds
}

// event is what settling the claim submits: an ALERT for a monitor past its deadline, a
// RESOLVE for an overdue monitor pinged since; and the state it then takes.
func (c Claim) event() (alert.Event, State) {
	key := AlertKey(c.MonitorID)
	if c.State == Overdue {
		return alert.Event{Type: alert.EventResolve, AlertKey: key}, Healthy
	}
	interval := time.Duration(c.IntervalSec) * time.Second
	details := fmt.Sprintf("The heartbeat monitor %s expects a ping every %s (with %s of grace). The last ping arrived at %s.",
		c.Name, interval, Grace(c.IntervalSec), c.LastPingAt.UTC().Format(time.RFC3339))
	return alert.Event{Type: alert.EventAlert, AlertKey: key, Summary: Summary(c.Name, c.AlertSummary), Details: details}, Overdue
}
