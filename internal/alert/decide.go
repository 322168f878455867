package alert

import (
	"fmt"
	"strconv"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// Action is what an event does to the alerts of its source.
type Action int

const (
	ActNone    Action = iota // nothing changes; the response code says why
	ActOpen                  // open a new alert
	ActAppend                // add the event to the open alert with its key
	ActAccept                // accept the open alert
	ActResolve               // resolve the open alert
	ActComment               // add comments to the open alert
)

// Response codes of the Events API (responseCode in the 202 body).
const (
	CodeCreated         = "NEW_ALERT_CREATED"           // a new alert was opened
	CodeAppended        = "EVENT_ADDED_TO_ALERT"        // the event was added to the open alert with its key
	CodeAccepted        = "ALERT_ACCEPTED"              // the open alert was accepted
	CodeAlreadyAccepted = "ALERT_ALREADY_ACCEPTED"      // ACCEPT for an alert that already was
	CodeResolved        = "ALERT_RESOLVED"              // the open alert was resolved
	CodeCommented       = "COMMENT_ADDED"               // the comments were added to the open alert
	CodeNoOpenAlert     = "NO_OPEN_ALERT"               // ACCEPT, RESOLVE or COMMENT with a key no open alert has
	CodeSourceInactive  = "ALERT_SOURCE_INACTIVE"       // the source is switched off; the event was dropped
	CodeFiltered        = "EVENT_FILTERED"              // the source's eventFilter or event-type filters dropped the event
	CodeInMaintenance   = "ALERT_SOURCE_IN_MAINTENANCE" // the source is in a maintenance window: no alert was opened
)

// Decide says what an event does, given the open alert with the event's key (nil when there
// is none). An alert is open until it is resolved; a resolved alert is never reopened.
func Decide(ev *Event, open *Alert) (Action, string) {
	switch ev.Type {
	case EventAlert:
		if open == nil {
			return ActOpen, CodeCreated
		}
		return ActAppend, CodeAppended
	case EventAccept:
		switch {
		case open == nil:
			return ActNone, CodeNoOpenAlert
		case open.Status == Accepted:
			return ActNone, CodeAlreadyAccepted
		}
		return ActAccept, CodeAccepted
	case EventResolve:
		if open == nil {
			return ActNone, CodeNoOpenAlert
		}
		return ActResolve, CodeResolved
	case EventComment:
		if open == nil {
			return ActNone, CodeNoOpenAlert
		}
		return ActComment, CodeCommented
	}
	return ActNone, CodeNoOpenAlert
}

// PriorityFor returns the priority of a new alert from its source's rule and the event.
// The event's priority is honoured when the rule is HIGH, or for Grafana and ServiceNow
// sources, as ilert documents. Rules that depend on support hours use their in-hours value
// until support hours are configured on the source.
func PriorityFor(src *Source, ev *Event) Priority {
	honour := src.AlertPriorityRule == RuleHigh || src.IntegrationType == "GRAFANA" || src.IntegrationType == "SERVICENOW"
	if honour && ev.Priority != "" {
		return ev.Priority
	}
	switch src.AlertPriorityRule {
	case RuleLow, RuleLowDuringSupportHours:
		return Low
	}
	return High
}

// CanTransition checks a change of status made by a user. Accepting an accepted alert and
// resolving a resolved one are allowed and change nothing (changed is false).
func CanTransition(from, to Status) (changed bool, err error) {
	switch {
	case from == to:
		return false, nil
	case from == Resolved:
		return false, fault.New(fault.Invalid, "the alert is resolved and cannot be %s", lowerStatus(to))
	case to == Pending:
		return false, fault.New(fault.Invalid, "an alert cannot go back to PENDING")
	}
	return true, nil
}

func lowerStatus(s Status) string {
	switch s {
	case Accepted:
		return "accepted"
	case Resolved:
		return "resolved"
	}
	return "changed"
}

// Entry is a timeline entry, before it is stored.
type Entry struct {
	Type string
	Text string
	Vars map[string]string
}

// EventEntry is the timeline entry an event's action writes; eventCount is the alert's event
// count with this event. ActNone and ActComment write none (comments are their own entries).
func EventEntry(act Action, sourceName string, ev *Event, eventCount int) (Entry, bool) {
	switch act {
	case ActOpen:
		return Entry{Type: LogReceived, Text: "Alert created by alert source " + sourceName + ": " + ev.Summary}, true
	case ActAppend:
		return Entry{Type: LogReceived, Text: "Event received: " + ev.Summary,
			Vars: map[string]string{"eventCount": strconv.Itoa(eventCount)}}, true
	case ActAccept:
		return Entry{Type: LogSourceResponse, Text: "Alert accepted by alert source " + sourceName}, true
	case ActResolve:
		return Entry{Type: LogSourceResponse, Text: "Alert resolved by alert source " + sourceName}, true
	}
	return Entry{}, false
}

// RouteEntry is the timeline entry of an event's routing key; policyName is the policy with
// that routing key, or empty when none has it and the alert follows its source's policy.
func RouteEntry(routingKey, policyName string) Entry {
	if policyName == "" {
		return Entry{Type: LogNotRouted, Text: fmt.Sprintf("No escalation policy has routing key %q; the alert follows the alert source's policy", routingKey)}
	}
	return Entry{Type: LogRouted, Text: fmt.Sprintf("Alert routed to escalation policy %s by routing key %q", policyName, routingKey)}
}

// CommentEntries are the timeline entries of the comments an event carries.
func CommentEntries(ev *Event) []Entry {
	var out []Entry
	for _, text := range ev.CommentTexts() {
		out = append(out, Entry{Type: LogCommentBySystem, Text: text})
	}
	return out
}
