package alert

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// EventType is what an event asks for.
type EventType string

const (
	EventAlert   EventType = "ALERT"
	EventAccept  EventType = "ACCEPT"
	EventResolve EventType = "RESOLVE"
	EventComment EventType = "COMMENT"
)

// Event is an inbound event of the Events API, after aliases are resolved and text trimmed.
type Event struct {
	IntegrationKey string
	Type           EventType
	Summary        string
	Details        string
	AlertKey       string
	Priority       Priority // empty when the event does not say
	Severity       *int
	Images         []Image
	Links          []Link
	Comments       []Comment
	Labels         map[string]string
	CustomDetails  json.RawMessage
	RoutingKey     string
}

// Comment is a comment carried by an event.
type Comment struct {
	Creator string `json:"creator"`
	Content string `json:"content"`
}

// Limits on event fields. An event that breaks one is rejected with 400, never truncated.
const (
	MaxSummaryLen  = 1024
	MaxDetailsLen  = 128 * 1024
	MaxAlertKeyLen = 255
	MaxKeyLen      = 255
	MinKeyLen      = 22 // a chosen integration key: 22 random base64url characters are 128 bits
	MaxItems       = 50 // images, links, comments, labels
	MaxTextLen     = 4096
)

// wireEvent is the JSON shape real clients send: ilert-go, ilert-rust, ilagent and v1 clients.
type wireEvent struct {
	IntegrationKey *string            `json:"integrationKey"`
	APIKey         *string            `json:"apiKey"`
	EventType      *string            `json:"eventType"`
	Summary        *string            `json:"summary"`
	Details        *string            `json:"details"`
	AlertKey       *string            `json:"alertKey"`
	IncidentKey    *string            `json:"incidentKey"`
	Priority       *string            `json:"priority"`
	Severity       *int               `json:"severity"`
	Images         []Image            `json:"images"`
	Links          []Link             `json:"links"`
	Comments       []Comment          `json:"comments"`
	Labels         map[string]*string `json:"labels"`
	CustomDetails  json.RawMessage    `json:"customDetails"`
	RoutingKey     *string            `json:"routingKey"`
	// Accepted and ignored until their features exist: logs and services.
	Logs     json.RawMessage `json:"logs"`
	Services json.RawMessage `json:"services"`
}

// ParseEvent decodes and validates an Events API body. keyFromPath, when not empty, is the
// integration key named in the URL and wins over the body's.
func ParseEvent(body []byte, keyFromPath string) (Event, error) {
	var w wireEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return Event{}, fault.FromJSON("the body is not a valid event", err)
	}
	if dec.More() {
		return Event{}, fault.Errorf("the body must hold a single JSON object")
	}
	ev := Event{
		IntegrationKey: cmp.Or(keyFromPath, deref(w.IntegrationKey), deref(w.APIKey)),
		Type:           EventType(upper(deref(w.EventType))),
		Summary:        strings.TrimSpace(deref(w.Summary)),
		Details:        deref(w.Details),
		AlertKey:       cmp.Or(strings.TrimSpace(deref(w.AlertKey)), strings.TrimSpace(deref(w.IncidentKey))),
		Priority:       Priority(upper(deref(w.Priority))),
		Severity:       w.Severity,
		Images:         w.Images,
		Links:          w.Links,
		Comments:       w.Comments,
		RoutingKey:     strings.TrimSpace(deref(w.RoutingKey)),
	}
	if ev.Severity != nil && *ev.Severity == 0 { // clients that always send the field send 0 for "none"
		ev.Severity = nil
	}
	if len(w.Labels) > 0 {
		ev.Labels = make(map[string]string, len(w.Labels))
		for k, v := range w.Labels {
			ev.Labels[k] = deref(v)
		}
	}
	if c := bytes.TrimSpace(w.CustomDetails); len(c) > 0 && !bytes.Equal(c, []byte("null")) {
		ev.CustomDetails = c
	}
	return ev, ev.Validate()
}

// Validate reports the first rule the event breaks.
func (ev *Event) Validate() error {
	switch {
	case ev.IntegrationKey == "":
		return fault.Errorf("integrationKey is required")
	case len(ev.IntegrationKey) > MaxKeyLen:
		return fault.Errorf("integrationKey must be at most %d characters", MaxKeyLen)
	case ev.Type == "":
		return fault.Errorf("eventType is required (ALERT, ACCEPT, RESOLVE or COMMENT)")
	}
	switch ev.Type {
	case EventAlert:
		if ev.Summary == "" {
			return fault.Errorf("summary is required for ALERT events")
		}
	case EventAccept, EventResolve, EventComment:
		if ev.AlertKey == "" {
			return fault.Errorf("alertKey is required for %s events", ev.Type)
		}
	default:
		return fault.Errorf("eventType %q is not one of ALERT, ACCEPT, RESOLVE, COMMENT", ev.Type)
	}
	switch {
	case ev.Priority != "" && ev.Priority != High && ev.Priority != Low:
		return fault.Errorf("priority %q is not one of HIGH, LOW", ev.Priority)
	case ev.Severity != nil && (*ev.Severity < 1 || *ev.Severity > 5):
		return fault.Errorf("severity must be between 1 and 5")
	case utf8.RuneCountInString(ev.Summary) > MaxSummaryLen:
		return fault.Errorf("summary must be at most %d characters", MaxSummaryLen)
	case len(ev.Details) > MaxDetailsLen:
		return fault.Errorf("details must be at most %d bytes", MaxDetailsLen)
	case utf8.RuneCountInString(ev.AlertKey) > MaxAlertKeyLen:
		return fault.Errorf("alertKey must be at most %d characters", MaxAlertKeyLen)
	case len(ev.RoutingKey) > MaxKeyLen:
		return fault.Errorf("routingKey must be at most %d characters", MaxKeyLen)
	case len(ev.Comments) > MaxItems || len(ev.Labels) > MaxItems:
		return fault.Errorf("comments and labels may have at most %d entries each", MaxItems)
	case ev.CustomDetails != nil && ev.CustomDetails[0] != '{':
		return fault.Errorf("customDetails must be a JSON object")
	}
	if err := ValidateAttachments(ev.Images, ev.Links); err != nil {
		return err
	}
	for i, c := range ev.Comments {
		if strings.TrimSpace(c.Content) == "" || len(c.Content) > MaxDetailsLen || len(c.Creator) > MaxTextLen {
			return fault.Errorf("comments[%d].content is required and must be at most %d bytes", i, MaxDetailsLen)
		}
	}
	for k, v := range ev.Labels {
		if k == "" || len(k) > MaxTextLen || len(v) > MaxTextLen {
			return fault.Errorf("labels need non-empty names, each name and value at most %d characters", MaxTextLen)
		}
	}
	if ev.Type == EventComment && !slices.ContainsFunc(ev.CommentTexts(), func(t string) bool { return t != "" }) {
		return fault.Errorf("a COMMENT event needs comments, a summary or details")
	}
	return nil
}

// ValidateAttachments reports the first rule images or links break: at most MaxItems of each,
// an image needs a src and a link an href, and no field is longer than MaxTextLen bytes. Events
// and alerts opened by hand attach them under the same rules.
func ValidateAttachments(images []Image, links []Link) error {
	if len(images) > MaxItems || len(links) > MaxItems {
		return fault.Errorf("images and links may have at most %d entries each", MaxItems)
	}
	for i, im := range images {
		if im.Src == "" || len(im.Src) > MaxTextLen || len(im.Href) > MaxTextLen || len(im.Alt) > MaxTextLen {
			return fault.Errorf("images[%d].src is required and each field must be at most %d characters", i, MaxTextLen)
		}
	}
	for i, l := range links {
		if l.Href == "" || len(l.Href) > MaxTextLen || len(l.Text) > MaxTextLen {
			return fault.Errorf("links[%d].href is required and each field must be at most %d characters", i, MaxTextLen)
		}
	}
	return nil
}

// CommentTexts returns the comments an event adds to its alert: its comments, or for a
// COMMENT event without any, its summary or details.
func (ev *Event) CommentTexts() []string {
	var out []string
	for _, c := range ev.Comments {
		text := strings.TrimSpace(c.Content)
		if c.Creator != "" {
			text = c.Creator + ": " + text
		}
		out = append(out, text)
	}
	if len(out) == 0 && ev.Type == EventComment {
		out = append(out, cmp.Or(ev.Summary, strings.TrimSpace(ev.Details)))
	}
	return out
}

// KeyOf returns the comparison form of an alert key: keys match case-insensitively.
func KeyOf(alertKey string) string { return strings.ToLower(strings.TrimSpace(alertKey)) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func upper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
