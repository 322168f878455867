// Package rules applies an alert source's rules to its events before they touch the
// database: the event filter, the event-type filters, the templates and the priority rule
// with its support hours. The Events API and the dry run of an alert source both go through
// Set.Apply, so what a dry run shows is what an event does.
package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/condition"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/supporthours"
	"github.com/tocsinhq/tocsin/internal/template"
)

// Hours looks up the support hours an alert source refers to by id (the store does).
type Hours interface {
	SupportHoursByID(ctx context.Context, id int64) (supporthours.Hours, error)
}

// The fields of an alert source that hold conditions; each has resetting counters of its own.
const fieldFilter = "eventFilter"

var fieldTypes = [3]string{"eventTypeFilterCreate", "eventTypeFilterAccept", "eventTypeFilterResolve"}

// Set is the compiled rules of one alert source.
type Set struct {
	src       *alert.Source
	filter    *condition.Condition
	types     [3]*condition.Condition // create, accept, resolve
	summary   *template.Template
	details   *template.Template
	alertKey  *template.Template
	routing   *template.Template
	links     []linkTemplate
	priority  *priorityTemplate
	hours     *supporthours.Calendar // nil without support hours
	hoursRef  int64                  // the support hours' id, when referred to by id
	autoRaise bool
	counters  *Counters
	refs      map[int64]*supporthours.Calendar // support hours named by is_in
}

type linkTemplate struct {
	text string
	href *template.Template
}

type priorityTemplate struct {
	value    *template.Template
	mappings map[string]alert.Priority // lower-cased value → priority
}

// Compile checks an alert source's rules and compiles them. An error says which field is
// wrong and where; it is an Invalid fault, so saving a source with a bad rule answers 400.
// counters keeps the trigger counts of the source's conditions; nil keeps none.
func Compile(ctx context.Context, src *alert.Source, hours Hours, counters *Counters) (*Set, error) {
	s := &Set{src: src, counters: counters, refs: map[int64]*supporthours.Calendar{}}
	var err error
	for _, c := range []struct {
		field string
		text  string
		dst   **condition.Condition
	}{
		{fieldFilter, src.EventFilter, &s.filter},
		{fieldTypes[0], src.EventTypeFilterCreate, &s.types[0]},
		{fieldTypes[1], src.EventTypeFilterAccept, &s.types[1]},
		{fieldTypes[2], src.EventTypeFilterResolve, &s.types[2]},
	} {
		if strings.TrimSpace(c.text) == "" {
			continue
		}
		if *c.dst, err = condition.Parse(c.text); err != nil {
			return nil, fault.Errorf("%s: %v", c.field, err)
		}
		for _, ref := range (*c.dst).Refs() {
			if ref.Type != "SUPPORT_HOUR" {
				return nil, fault.Errorf("%s: is_in supports only SUPPORT_HOUR objects, not %q", c.field, ref.Type)
			}
			h, err := hours.SupportHoursByID(ctx, ref.ID)
			if err != nil {
				return nil, fault.Errorf("%s: support hours %d: %s", c.field, ref.ID, fault.MessageOf(err))
			}
			if s.refs[ref.ID], err = h.Calendar(); err != nil {
				return nil, fault.Errorf("%s: support hours %d: %s", c.field, ref.ID, fault.MessageOf(err))
			}
		}
	}
	for _, t := range []struct {
		field string
		raw   json.RawMessage
		dst   **template.Template
	}{
		{"summaryTemplate", src.SummaryTemplate, &s.summary},
		{"detailsTemplate", src.DetailsTemplate, &s.details},
		{"alertKeyTemplate", src.AlertKeyTemplate, &s.alertKey},
		{"routingTemplate", src.RoutingTemplate, &s.routing},
	} {
		if *t.dst, err = template.ParseWire(t.raw); err != nil {
			return nil, fault.Errorf("%s: %v", t.field, err)
		}
	}
	if s.links, err = compileLinks(src.LinkTemplates); err != nil {
		return nil, err
	}
	if s.priority, err = compilePriority(src.PriorityTemplate); err != nil {
		return nil, err
	}
	if err := s.compileHours(ctx, hours); err != nil {
		return nil, err
	}
	return s, nil
}

func compileLinks(raw json.RawMessage) ([]linkTemplate, error) {
	if isNull(raw) {
		return nil, nil
	}
	var wire []struct {
		Text         string          `json:"text"`
		HrefTemplate json.RawMessage `json:"hrefTemplate"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fault.Errorf("linkTemplates: must be a list of {text, hrefTemplate}")
	}
	if len(wire) > alert.MaxItems {
		return nil, fault.Errorf("linkTemplates: at most %d links", alert.MaxItems)
	}
	out := make([]linkTemplate, 0, len(wire))
	for i, w := range wire {
		href, err := template.ParseWire(w.HrefTemplate)
		if err != nil {
			return nil, fault.Errorf("linkTemplates[%d].hrefTemplate: %v", i, err)
		}
		if href == nil {
			return nil, fault.Errorf("linkTemplates[%d]: hrefTemplate is required", i)
		}
		out = append(out, linkTemplate{text: w.Text, href: href})
	}
	return out, nil
}

func compilePriority(raw json.RawMessage) (*priorityTemplate, error) {
	if isNull(raw) {
		return nil, nil
	}
	var wire struct {
		ValueTemplate json.RawMessage `json:"valueTemplate"`
		Mappings      []struct {
			Value    string `json:"value"`
			Priority string `json:"priority"`
		} `json:"mappings"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fault.Errorf("priorityTemplate: must be {valueTemplate, mappings}")
	}
	value, err := template.ParseWire(wire.ValueTemplate)
	if err != nil {
		return nil, fault.Errorf("priorityTemplate.valueTemplate: %v", err)
	}
	if value == nil {
		return nil, fault.Errorf("priorityTemplate: valueTemplate is required")
	}
	p := &priorityTemplate{value: value, mappings: map[string]alert.Priority{}}
	for i, m := range wire.Mappings {
		pr := alert.Priority(strings.ToUpper(m.Priority))
		if pr != alert.High && pr != alert.Low {
			return nil, fault.Errorf("priorityTemplate.mappings[%d].priority must be HIGH or LOW", i)
		}
		p.mappings[strings.ToLower(strings.TrimSpace(m.Value))] = pr
	}
	return p, nil
}

// inlineHours is the legacy wire form of an alert source's support hours.
type inlineHours struct {
	ID              int64                          `json:"id"`
	TimeZone        string                         `json:"timezone"`
	AutoRaiseAlerts *bool                          `json:"autoRaiseAlerts"`
	AutoRaiseOld    *bool                          `json:"autoRaiseIncidents"` // the older name
	SupportDays     map[string]*supporthours.Range `json:"supportDays"`
}

func (s *Set) compileHours(ctx context.Context, lookup Hours) error {
	s.autoRaise = s.src.AutoRaiseAlerts
	if isNull(s.src.SupportHours) {
		if s.src.AlertPriorityRule == alert.RuleHighDuringSupportHours || s.src.AlertPriorityRule == alert.RuleLowDuringSupportHours {
			return fault.Errorf("alertPriorityRule %s needs supportHours", s.src.AlertPriorityRule)
		}
		return nil
	}
	var in inlineHours
	if err := json.Unmarshal(s.src.SupportHours, &in); err != nil {
		return fault.Errorf("supportHours: must be {\"id\": …} or {\"timezone\", \"supportDays\"}")
	}
	var h *supporthours.Hours
	if in.ID != 0 {
		found, err := lookup.SupportHoursByID(ctx, in.ID)
		if err != nil {
			return fault.Errorf("supportHours: %s", fault.MessageOf(err))
		}
		h, s.hoursRef = &found, in.ID
	} else {
		h = &supporthours.Hours{Name: "inline", TimeZone: in.TimeZone, SupportDays: in.SupportDays}
		if err := h.Validate(); err != nil {
			return fault.Errorf("supportHours: %s", fault.MessageOf(err))
		}
		for _, on := range []*bool{in.AutoRaiseAlerts, in.AutoRaiseOld} {
			s.autoRaise = s.autoRaise || (on != nil && *on)
		}
	}
	cal, err := h.Calendar()
	if err != nil {
		return fault.Errorf("supportHours: %s", fault.MessageOf(err))
	}
	s.hours = cal
	return nil
}

func isNull(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t == "" || t == "null" || t == "{}"
}

// Outcome is what the rules make of an event.
type Outcome struct {
	// Dropped is true when a filter dropped the event: it touches no alert. Why is in Reason.
	Dropped bool
	Reason  string
	// Err is set when one of the source's conditions or templates could not be worked out on
	// the event (condition.ErrTooMuchWork, template.ErrWorkLimit: more work than one
	// evaluation may do). Its rules then fail open, as an alerting tool should: a filter that
	// cannot be evaluated drops nothing, an event-type filter that cannot be evaluated leaves
	// the event its own type, and a template that cannot be rendered leaves the event's own
	// value. Worth logging.
	Err error
	// Event is the event after the event-type filters and the templates.
	Event alert.Event
	// Priority is the priority of an alert the event opens.
	Priority alert.Priority
	// Retyped is true when an event-type filter changed the event's type.
	Retyped bool
}

// plain reports whether the source has no rule that reads the event's fields.
func (s *Set) plain() bool {
	return s.filter == nil && s.types == [3]*condition.Condition{} && s.summary == nil && s.details == nil &&
		s.alertKey == nil && s.routing == nil && len(s.links) == 0 && s.priority == nil
}

// Apply runs the rules over an event received at now.
func (s *Set) Apply(ev alert.Event, now time.Time) Outcome {
	if s.plain() {
		return Outcome{Event: ev, Priority: s.Priority(ev, nil, now)}
	}
	data := map[string]any{"event": EventData(ev)}
	env := condition.Env{Data: data, Now: now, IsIn: s.isIn}
	out := Outcome{Event: ev}
	if s.counters != nil {
		s.counters.add(s.src.ID, now)
	}
	if s.filter != nil {
		if ok, err := s.match(fieldFilter, s.filter, env, now); err != nil {
			out.note(fieldFilter, err)
		} else if !ok {
			out.Dropped, out.Reason = true, "the event does not match the eventFilter"
			return out
		}
	}
	t, ok, ferr := s.eventType(ev.Type, env, now)
	if ferr != nil {
		out.note(ferr.field, ferr.err)
	}
	if !ok {
		out.Dropped, out.Reason = true, "the event matches no event-type filter"
		return out
	} else if t != ev.Type {
		out.Event.Type, out.Retyped = t, true
	}
	fields := data["event"].(map[string]any)
	render := func(field string, t *template.Template, dst *string) {
		if t == nil {
			return
		}
		v, err := t.Execute(fields)
		if err != nil {
			out.note(field, err)
			return
		}
		if v = strings.TrimSpace(v); v != "" {
			*dst = v
		}
	}
	render("summaryTemplate", s.summary, &out.Event.Summary)
	render("detailsTemplate", s.details, &out.Event.Details)
	render("alertKeyTemplate", s.alertKey, &out.Event.AlertKey)
	render("routingTemplate", s.routing, &out.Event.RoutingKey)
	out.Event.Summary = clip(out.Event.Summary, alert.MaxSummaryLen)
	out.Event.Details = clip(out.Event.Details, alert.MaxDetailsLen)
	out.Event.AlertKey = clip(out.Event.AlertKey, alert.MaxAlertKeyLen)
	out.Event.RoutingKey = clip(out.Event.RoutingKey, alert.MaxKeyLen)
	for _, l := range s.links {
		if len(out.Event.Links) >= alert.MaxItems {
			break
		}
		href, err := l.href.Execute(fields)
		if err != nil {
			out.note("linkTemplates", err)
			continue
		}
		if href = strings.TrimSpace(href); href != "" {
			out.Event.Links = append(out.Event.Links, alert.Link{Href: clip(href, alert.MaxTextLen), Text: l.text})
		}
	}
	out.Priority = s.Priority(out.Event, fields, now)
	return out
}

// note records that the rule in field could not be worked out on the event (the first such).
func (out *Outcome) note(field string, err error) {
	if out.Err == nil {
		out.Err = fmt.Errorf("the %s could not be worked out on the event, which goes on without it: %w", field, err)
	}
}

// match evaluates the condition in field, with that field's counters, and restarts the
// resetting counters of the field when it matched.
func (s *Set) match(field string, c *condition.Condition, env condition.Env, now time.Time) (bool, error) {
	if s.counters != nil {
		env.Count = func(ctr condition.Counter) int { return s.counters.count(s.src.ID, field, ctr, now) }
	}
	ok, err := c.Evaluate(env)
	if ok && s.counters != nil {
		for _, ctr := range c.Counters() {
			if ctr.Resetting {
				s.counters.reset(s.src.ID, field, ctr.Window, now)
			}
		}
	}
	return ok, err
}

// fieldError is a condition that could not be evaluated, and the field it is in.
type fieldError struct {
	field string
	err   error
}

// eventType decides the event's type with the event-type filters: the first of resolve,
// accept and create whose filter matches gives the type; when none matches, the event keeps
// its own type unless that type has a filter (which then did not match) and is dropped. A
// filter that cannot be evaluated counts as not matching, except that the event keeps its own
// type when its own type's filter is that one; the first such filter is returned.
func (s *Set) eventType(declared alert.EventType, env condition.Env, now time.Time) (alert.EventType, bool, *fieldError) {
	if s.types == [3]*condition.Condition{} {
		return declared, true, nil
	}
	var failed *fieldError // the first filter that could not be evaluated
	order := []struct {
		i int
		t alert.EventType
	}{{2, alert.EventResolve}, {1, alert.EventAccept}, {0, alert.EventAlert}}
	for _, o := range order {
		c := s.types[o.i]
		if c == nil {
			continue
		}
		ok, err := s.match(fieldTypes[o.i], c, env, now)
		if err != nil {
			if failed == nil {
				failed = &fieldError{fieldTypes[o.i], err}
			}
			continue
		}
		if ok {
			return o.t, true, failed
		}
	}
	for _, o := range order {
		if o.t == declared && s.types[o.i] != nil {
			// Its own filter did not match; one that could not be evaluated keeps it.
			return declared, failed != nil && failed.field == fieldTypes[o.i], failed
		}
	}
	return declared, true, failed
}

// Priority decides the priority of an alert opened by ev at now: the priority template when
// it maps the event to one; else the event's own priority where the priority rule honours it
// (HIGH sources, and Grafana and ServiceNow ones); else the priority rule, with support hours.
func (s *Set) Priority(ev alert.Event, fields map[string]any, now time.Time) alert.Priority {
	if s.priority != nil {
		if fields == nil {
			fields = EventData(ev)
		}
		if v, err := s.priority.value.Execute(fields); err == nil { // cut short: the priority rule decides
			if p, ok := s.priority.mappings[strings.ToLower(strings.TrimSpace(v))]; ok {
				return p
			}
		}
	}
	switch s.src.AlertPriorityRule {
	case alert.RuleHighDuringSupportHours:
		if s.Inside(now) {
			return alert.High
		}
		return alert.Low
	case alert.RuleLowDuringSupportHours:
		if s.Inside(now) {
			return alert.Low
		}
		return alert.High
	}
	return alert.PriorityFor(s.src, &ev)
}

// Inside reports whether t is inside the source's support hours (false without any).
func (s *Set) Inside(t time.Time) bool { return s.hours != nil && s.hours.Inside(t) }

// NextRaise returns when pending LOW alerts of the source are next raised to HIGH: when
// support hours begin for HIGH_DURING_SUPPORT_HOURS, when they end for
// LOW_DURING_SUPPORT_HOURS. ok is false when the source does not auto-raise or its support
// hours never change.
func (s *Set) NextRaise(after time.Time) (time.Time, bool) {
	if !s.autoRaise || s.hours == nil {
		return time.Time{}, false
	}
	var want bool
	switch s.src.AlertPriorityRule {
	case alert.RuleHighDuringSupportHours:
		want = true
	case alert.RuleLowDuringSupportHours:
		want = false
	default:
		return time.Time{}, false
	}
	t := after
	for range 16 { // boundaries alternate; the wanted one is at most two away
		at, inside, ok := s.hours.Next(t)
		if !ok {
			return time.Time{}, false
		}
		if inside == want {
			return at, true
		}
		t = at
	}
	return time.Time{}, false
}

// HoursRefs returns the ids of the support hours the source's rules use: its priority rule's
// and those its conditions name with is_in.
func (s *Set) HoursRefs() []int64 {
	var ids []int64
	if s.hoursRef != 0 {
		ids = append(ids, s.hoursRef)
	}
	for id := range s.refs {
		if id != s.hoursRef {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (s *Set) isIn(ref condition.Ref, at time.Time) (bool, error) {
	cal, ok := s.refs[ref.ID]
	if !ok || ref.Type != "SUPPORT_HOUR" {
		return false, fmt.Errorf("rules: unknown %s %d", ref.Type, ref.ID)
	}
	return cal.Inside(at), nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// EventData is an event as templates and conditions see it: its JSON fields.
func EventData(ev alert.Event) map[string]any {
	m := map[string]any{
		"eventType": string(ev.Type), "summary": ev.Summary, "details": ev.Details, "alertKey": ev.AlertKey,
		"priority": string(ev.Priority), "routingKey": ev.RoutingKey,
	}
	if ev.Severity != nil {
		m["severity"] = float64(*ev.Severity)
	}
	if len(ev.Labels) > 0 {
		labels := make(map[string]any, len(ev.Labels))
		for k, v := range ev.Labels {
			labels[k] = v
		}
		m["labels"] = labels
	}
	var links, images []any
	for _, l := range ev.Links {
		links = append(links, map[string]any{"href": l.Href, "text": l.Text})
	}
	for _, i := range ev.Images {
		images = append(images, map[string]any{"src": i.Src, "href": i.Href, "alt": i.Alt})
	}
	m["links"], m["images"] = links, images
	var custom any
	if len(ev.CustomDetails) > 0 && json.Unmarshal(ev.CustomDetails, &custom) == nil {
		m["customDetails"] = custom
	} else {
		m["customDetails"] = map[string]any{}
	}
	return m
}

// Counters keeps, per alert source, when its recent events arrived, for the conditions'
// trigger_count.<window> and resetting_trigger_count.<window>. Each process counts the events
// it received; at most maxCounted per source are kept, so counts stop there.
//
// A resetting counter restarts when the condition it is in matches: the restart is kept per
// source, field (eventFilter, eventTypeFilterCreate, …) and window, so it restarts neither
// trigger_count of the same window nor the resetting counters of the source's other fields.
type Counters struct {
	mu     sync.Mutex
	events map[int64][]time.Time // per source, oldest first
	resets map[counterKey]time.Time
}

type counterKey struct {
	source int64
	field  string
	window time.Duration
}

const (
	maxCounted = condition.MaxCount // Parse refuses comparisons that need more
	maxWindow  = condition.MaxWindow
)

// NewCounters returns empty counters.
func NewCounters() *Counters {
	return &Counters{events: map[int64][]time.Time{}, resets: map[counterKey]time.Time{}}
}

// Copy returns a copy of one source's counts that counts on its own: a dry run evaluates the
// counts as they are without adding its event to them.
func (c *Counters) Copy(source int64) *Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := NewCounters()
	if ev, ok := c.events[source]; ok {
		out.events[source] = slices.Clone(ev)
	}
	for k, v := range c.resets {
		if k.source == source {
			out.resets[k] = v
		}
	}
	return out
}

// add counts an event of source at now, keeping the events in order (a dry run's may be
// in the past) and at most maxCounted of them, none older than maxWindow.
func (c *Counters) add(source int64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := c.events[source]
	cut := 0
	for cut < len(ev) && (now.Sub(ev[cut]) > maxWindow || len(ev)-cut >= maxCounted) {
		cut++
	}
	ev = ev[cut:]
	at := len(ev)
	for at > 0 && ev[at-1].After(now) {
		at--
	}
	c.events[source] = slices.Insert(ev, at, now)
}

// count returns the value of a counter of source used in field at now: the events within
// the window, and for a resetting counter only those after the field's last restart.
func (c *Counters) count(source int64, field string, ctr condition.Counter, now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	since := now.Add(-ctr.Window)
	if r, ok := c.resets[counterKey{source, field, ctr.Window}]; ok && ctr.Resetting && r.After(since) {
		since = r
	}
	ev := c.events[source]
	first, _ := slices.BinarySearchFunc(ev, since, func(t, since time.Time) int {
		if t.After(since) {
			return 1
		}
		return -1
	})
	return len(ev) - first
}

func (c *Counters) reset(source int64, field string, window time.Duration, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resets[counterKey{source, field, window}] = now
}
