// Package alert is tocsin's alert core: what an event does to an alert, and the alert's
// lifecycle PENDING → ACCEPTED → RESOLVED. It is pure: no storage, no clock of its own.
package alert

import (
	"encoding/json"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
)

// Status is an alert's place in its lifecycle. An alert is open until it is RESOLVED.
type Status string

const (
	Pending  Status = "PENDING"
	Accepted Status = "ACCEPTED"
	Resolved Status = "RESOLVED"
)

// ParseStatus accepts a status in any case.
func ParseStatus(s string) (Status, bool) {
	switch st := Status(upper(s)); st {
	case Pending, Accepted, Resolved:
		return st, true
	}
	return "", false
}

// Priority decides which of a user's notification rules apply and whether the alert escalates.
type Priority string

const (
	High Priority = "HIGH"
	Low  Priority = "LOW"
)

// Alert is ilert's Alert, plus eventCount: how many events the alert has received.
type Alert struct {
	ID               int64             `json:"id"`
	Summary          string            `json:"summary"`
	Details          string            `json:"details"`
	ReportTime       time.Time         `json:"reportTime"`
	ResolvedOn       *time.Time        `json:"resolvedOn,omitempty"`
	Status           Status            `json:"status"`
	AlertSource      SourceRef         `json:"alertSource"`
	EscalationPolicy PolicyRef         `json:"escalationPolicy"`
	Priority         Priority          `json:"priority"`
	AlertKey         string            `json:"alertKey"`
	AssignedTo       *auth.Account     `json:"assignedTo,omitempty"`
	Responders       []Responder       `json:"responders"`
	Images           []Image           `json:"images"`
	Links            []Link            `json:"links"`
	Severity         *int              `json:"severity,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	CustomDetails    json.RawMessage   `json:"customDetails,omitempty"`
	MergeState       string            `json:"mergeState"`
	EventCount       int               `json:"eventCount"`
	AcceptedAt       *time.Time        `json:"acceptedAt,omitempty"`
	UpdatedAt        time.Time         `json:"updatedAt"`
}

// SourceRef names the alert source of an alert.
type SourceRef struct {
	ID              int64  `json:"id"`
	Name            string `json:"name,omitempty"`
	IntegrationType string `json:"integrationType,omitempty"`
}

// PolicyRef names the escalation policy of an alert.
type PolicyRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name,omitempty"`
}

// Responder is a user working on an alert.
type Responder struct {
	User       auth.Ref   `json:"user"`
	Status     Status     `json:"status"` // PENDING or ACCEPTED
	AcceptedAt *time.Time `json:"acceptedAt,omitempty"`
}

// Image is a picture attached to an alert.
type Image struct {
	Src  string `json:"src"`
	Href string `json:"href,omitempty"`
	Alt  string `json:"alt,omitempty"`
}

// Link is a link attached to an alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// LogEntry is one line of an alert's timeline.
type LogEntry struct {
	ID           int64             `json:"id"`
	Timestamp    time.Time         `json:"timestamp"`
	LogEntryType string            `json:"logEntryType"`
	Text         string            `json:"text"`
	AlertID      int64             `json:"alertId"`
	FilterTypes  []string          `json:"filterTypes"`
	Vars         map[string]string `json:"vars,omitempty"`
}

// Log entry types (ilert's logEntryType values) written by the alert core.
const (
	LogReceived         = "AlertReceivedLogEntry"
	LogSourceResponse   = "AlertSourceResponseLogEntry"
	LogCreatedByUser    = "AlertCreatedByUserLogEntry"
	LogUserResponse     = "UserResponseLogEntry"
	LogAssignedByUser   = "AlertAssignedByUserLogEntry"
	LogCommentByUser    = "AlertCommentAddedLogEntry"
	LogCommentBySystem  = "AlertCommentAddedBySystemLogEntry"
	LogRouted           = "AlertRoutedSuccessfulLogEntry"
	LogNotRouted        = "AlertNotRoutedLogEntry"
	LogResponderRemoved = "StakeholderRemovedLogEntry"
)

// Log filter types: the categories of ilert's filterTypes, by which a timeline is filtered.
// tocsin writes no entries of NOTIFICATIONS, CALL_ROUTING_EVENTS, CONNECTOR_EVENTS or
// INCIDENT_COMMUNICATIONS yet, so filtering by them selects nothing.
const (
	FilterNotifications          = "NOTIFICATIONS"
	FilterSourceEvents           = "ALERT_SOURCE_EVENTS"
	FilterCallRouting            = "CALL_ROUTING_EVENTS"
	FilterUpdates                = "ALERT_UPDATES"
	FilterConnectorEvents        = "CONNECTOR_EVENTS"
	FilterIncidentCommunications = "INCIDENT_COMMUNICATIONS"
)

// IsLogFilterType reports whether s is one of ilert's log filter types.
func IsLogFilterType(s string) bool {
	switch s {
	case FilterNotifications, FilterSourceEvents, FilterCallRouting, FilterUpdates, FilterConnectorEvents,
		FilterIncidentCommunications:
		return true
	}
	return false
}

// sourceEventEntries is the one table of log filter categories: the log entry types that are
// ALERT_SOURCE_EVENTS, and whether each is an ALERT_UPDATES entry too. Every type not listed
// is ALERT_UPDATES only. FilterTypes and LogFilterFor both read it, so the categories an entry
// shows and the entries a filter selects cannot disagree.
var sourceEventEntries = []struct {
	logEntryType string
	alsoUpdate   bool
}{
	{LogReceived, false},
	{LogSourceResponse, false},
	{LogCommentBySystem, false},
	{LogRouted, true},
	{LogNotRouted, true},
}

// FilterTypes returns the log filter categories of a log entry type.
func FilterTypes(logEntryType string) []string {
	for _, e := range sourceEventEntries {
		if e.logEntryType == logEntryType {
			if e.alsoUpdate {
				return []string{FilterSourceEvents, FilterUpdates}
			}
			return []string{FilterSourceEvents}
		}
	}
	return []string{FilterUpdates}
}

// LogFilter is what a set of log filter types selects, in a form a query can use: the entries
// whose type is in Types or, when Except is true, those whose type is not in Types. So
// {Except: true} with no Types selects every entry and {} selects none.
type LogFilter struct {
	Types  []string
	Except bool
}

// LogFilterFor returns the entries that filterTypes select: those with at least one of the
// given categories (see FilterTypes). No filter types select every entry; unknown ones, and
// the categories tocsin writes no entries of, select none.
func LogFilterFor(filterTypes []string) LogFilter {
	if len(filterTypes) == 0 {
		return LogFilter{Except: true}
	}
	var sources, updates bool
	for _, ft := range filterTypes {
		sources = sources || ft == FilterSourceEvents
		updates = updates || ft == FilterUpdates
	}
	// ALERT_UPDATES selects every type outside the table, which cannot be listed, so the
	// filter then names the listed types it does not select; otherwise the ones it does.
	f := LogFilter{Except: updates}
	for _, e := range sourceEventEntries {
		selected := sources || (updates && e.alsoUpdate)
		if selected != f.Except {
			f.Types = append(f.Types, e.logEntryType)
		}
	}
	return f
}
