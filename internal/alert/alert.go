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

// FilterTypes returns the log filter categories of a log entry type.
func FilterTypes(logEntryType string) []string {
	switch logEntryType {
	case LogReceived, LogSourceResponse, LogCommentBySystem:
		return []string{"ALERT_SOURCE_EVENTS"}
	case LogRouted, LogNotRouted:
		return []string{"ALERT_SOURCE_EVENTS", "ALERT_UPDATES"}
	}
	return []string{"ALERT_UPDATES"}
}
