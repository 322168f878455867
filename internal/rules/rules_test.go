package rules_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/rules"
	"github.com/tocsinhq/tocsin/internal/supporthours"
)

// hours is the support hours the tests' sources refer to, by id.
type hours map[int64]supporthours.Hours

func (h hours) SupportHoursByID(_ context.Context, id int64) (supporthours.Hours, error) {
	if x, ok := h[id]; ok {
		return x, nil
	}
	return supporthours.Hours{}, fault.NotFoundf("support hours %d do not exist", id)
}

func office(zone string, exceptions ...supporthours.Exception) supporthours.Hours {
	day := &supporthours.Range{Start: "08:00", End: "17:00"}
	return supporthours.Hours{ID: 1, Name: "office", TimeZone: zone, Exceptions: exceptions,
		SupportDays: map[string]*supporthours.Range{"MONDAY": day, "TUESDAY": day, "WEDNESDAY": day, "THURSDAY": day, "FRIDAY": day,
			"SATURDAY": nil, "SUNDAY": nil}}
}

func compile(t testing.TB, src alert.Source, h hours) *rules.Set {
	t.Helper()
	if src.Name == "" {
		src.Name, src.IntegrationType, src.AlertCreation = "s", "API", alert.OneAlertPerEmail
	}
	if src.AlertPriorityRule == "" {
		src.AlertPriorityRule = alert.RuleHigh
	}
	set, err := rules.Compile(context.Background(), &src, h, rules.NewCounters())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func local(t *testing.T, zone, at string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", at, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The nightly-job scenario with a fake clock: an event at 03:00 on a HIGH_DURING_SUPPORT_HOURS
// source is LOW and is raised at 08:00 that day; on a Saturday at Monday 08:00; before a
// holiday (an OUTSIDE exception) on the next support day; in several zones, across DST.
func TestAutoRaiseScenario(t *testing.T) {
	holiday := supporthours.Exception{Name: "Whit Monday", Start: "2026-05-25", End: "2026-05-25", SupportStatus: "OUTSIDE"}
	cases := []struct {
		zone, event, raise string
		exceptions         []supporthours.Exception
	}{
		{"Europe/Berlin", "2026-11-18 03:00", "2026-11-18 08:00", nil},                               // a Wednesday
		{"Europe/Berlin", "2026-11-21 03:00", "2026-11-23 08:00", nil},                               // a Saturday: Monday
		{"Europe/Berlin", "2026-11-20 17:30", "2026-11-23 08:00", nil},                               // Friday after hours
		{"Europe/Berlin", "2026-05-23 03:00", "2026-05-26 08:00", []supporthours.Exception{holiday}}, // Saturday before a holiday Monday
		{"Europe/Berlin", "2026-03-28 22:00", "2026-03-30 08:00", nil},                               // over the spring DST change
		{"America/New_York", "2026-10-31 23:00", "2026-11-02 08:00", nil},                            // over the autumn DST change
		{"Australia/Sydney", "2026-04-04 03:00", "2026-04-06 08:00", nil},                            // over the autumn DST change there
		{"Asia/Kolkata", "2026-11-18 03:00", "2026-11-18 08:00", nil},
	}
	for _, c := range cases {
		t.Run(c.zone+" "+c.event, func(t *testing.T) {
			h := hours{1: office(c.zone, c.exceptions...)}
			set := compile(t, alert.Source{AlertPriorityRule: alert.RuleHighDuringSupportHours, AutoRaiseAlerts: true,
				SupportHours: json.RawMessage(`{"id":1}`)}, h)
			at := local(t, c.zone, c.event)
			out := set.Apply(alert.Event{Type: alert.EventAlert, Summary: "nightly summary"}, at)
			if out.Dropped || out.Priority != alert.Low {
				t.Fatalf("at %s: %+v, want a LOW alert", at, out)
			}
			raise, ok := set.NextRaise(at)
			if want := local(t, c.zone, c.raise); !ok || !raise.Equal(want) {
				t.Fatalf("raised at %s (%v), want %s", raise.In(want.Location()), ok, want)
			}
			if p := set.Apply(alert.Event{Type: alert.EventAlert}, raise).Priority; p != alert.High {
				t.Fatalf("at the raise the priority is %s, want HIGH", p)
			}
		})
	}
}

// LOW_DURING_SUPPORT_HOURS is LOW inside and raises when support hours end; without
// auto-raise nothing is raised; the legacy inline support hours work alike.
func TestPriorityRules(t *testing.T) {
	h := hours{1: office("Europe/Berlin")}
	wed10 := local(t, "Europe/Berlin", "2026-11-18 10:00")
	low := compile(t, alert.Source{AlertPriorityRule: alert.RuleLowDuringSupportHours, AutoRaiseAlerts: true,
		SupportHours: json.RawMessage(`{"id":1}`)}, h)
	if p := low.Apply(alert.Event{Type: alert.EventAlert}, wed10).Priority; p != alert.Low {
		t.Errorf("LOW_DURING inside: %s", p)
	}
	if at, ok := low.NextRaise(wed10); !ok || !at.Equal(local(t, "Europe/Berlin", "2026-11-18 17:00")) {
		t.Errorf("LOW_DURING raises at %s %v, want 17:00 that day", at, ok)
	}
	off := compile(t, alert.Source{AlertPriorityRule: alert.RuleHighDuringSupportHours, SupportHours: json.RawMessage(`{"id":1}`)}, h)
	if _, ok := off.NextRaise(wed10); ok {
		t.Error("a source without autoRaiseAlerts raises")
	}
	inline := compile(t, alert.Source{AlertPriorityRule: alert.RuleHighDuringSupportHours, SupportHours: json.RawMessage(
		`{"timezone":"America/New_York","autoRaiseAlerts":true,"supportDays":{"MONDAY":{"start":"09:00","end":"18:00"}}}`)}, h)
	mon := local(t, "America/New_York", "2026-11-23 08:00")
	if at, ok := inline.NextRaise(mon); !ok || !at.Equal(local(t, "America/New_York", "2026-11-23 09:00")) {
		t.Errorf("inline support hours raise at %s %v", at, ok)
	}
	older := compile(t, alert.Source{AlertPriorityRule: alert.RuleHighDuringSupportHours, SupportHours: json.RawMessage(
		`{"timezone":"America/New_York","autoRaiseIncidents":true,"supportDays":{"MONDAY":{"start":"09:00","end":"18:00"}}}`)}, h)
	if _, ok := older.NextRaise(mon); !ok {
		t.Error("inline support hours with the older autoRaiseIncidents do not raise")
	}
	// The event's own priority counts on HIGH sources only.
	high := compile(t, alert.Source{}, h)
	if p := high.Apply(alert.Event{Type: alert.EventAlert, Priority: alert.Low}, wed10).Priority; p != alert.Low {
		t.Errorf("a HIGH source ignores the event's LOW: %s", p)
	}
	if p := low.Apply(alert.Event{Type: alert.EventAlert, Priority: alert.High}, wed10).Priority; p != alert.Low {
		t.Errorf("a support-hours source honours the event's priority: %s", p)
	}
	// A priority template maps a value to a priority, and falls back to the rule.
	mapped := compile(t, alert.Source{PriorityTemplate: json.RawMessage(`{"valueTemplate":{"textTemplate":"{{ customDetails.level }}"},
		"mappings":[{"value":"crit","priority":"HIGH"},{"value":"warn","priority":"LOW"}]}`), AlertPriorityRule: alert.RuleHigh}, h)
	for level, want := range map[string]alert.Priority{"warn": alert.Low, "CRIT": alert.High, "other": alert.High} {
		ev := alert.Event{Type: alert.EventAlert, CustomDetails: json.RawMessage(fmt.Sprintf(`{"level":%q}`, level))}
		if p := mapped.Apply(ev, wed10).Priority; p != want {
			t.Errorf("level %s: %s, want %s", level, p, want)
		}
	}
}

// Filters drop or retype events; templates shape what is left.
func TestFiltersAndTemplates(t *testing.T) {
	now := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	set := compile(t, alert.Source{
		EventFilter:            `event.customDetails.env == 'prod'`,
		EventTypeFilterResolve: `event.customDetails.state == 'ok'`,
		SummaryTemplate:        json.RawMessage(`{"textTemplate":"{{ customDetails.host }}: {{ summary }}"}`),
		AlertKeyTemplate:       json.RawMessage(`{"textTemplate":"{{ customDetails.host }}/{{ customDetails.check }}"}`),
		LinkTemplates:          json.RawMessage(`[{"text":"Runbook","hrefTemplate":{"textTemplate":"https://runbooks.example.com/{{ customDetails.check }}"}}]`),
	}, hours{})
	ev := func(custom string) alert.Event {
		return alert.Event{Type: alert.EventAlert, Summary: "disk 91% full", CustomDetails: json.RawMessage(custom)}
	}
	if out := set.Apply(ev(`{"env":"dev","host":"db-1"}`), now); !out.Dropped {
		t.Errorf("a dev event passed the filter: %+v", out)
	}
	out := set.Apply(ev(`{"env":"prod","host":"db-1","check":"disk"}`), now)
	if out.Dropped || out.Event.Summary != "db-1: disk 91% full" || out.Event.AlertKey != "db-1/disk" ||
		len(out.Event.Links) != 1 || out.Event.Links[0].Href != "https://runbooks.example.com/disk" {
		t.Errorf("templated event: %+v", out.Event)
	}
	if out := set.Apply(ev(`{"env":"prod","host":"db-1","check":"disk","state":"ok"}`), now); out.Event.Type != alert.EventResolve || !out.Retyped {
		t.Errorf("an ok event is %s, want RESOLVE", out.Event.Type)
	}
}

// trigger_count counts the source's events in a window; resetting_trigger_count restarts
// after it matched.
func TestTriggerCounts(t *testing.T) {
	set := compile(t, alert.Source{EventFilter: `trigger_count.10m >= 3`}, hours{})
	now := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	var passed []int
	for i := range 5 {
		if !set.Apply(alert.Event{Type: alert.EventAlert}, now.Add(time.Duration(i)*time.Minute)).Dropped {
			passed = append(passed, i)
		}
	}
	if fmt.Sprint(passed) != "[2 3 4]" {
		t.Errorf("events passed %v, want [2 3 4] (the third in ten minutes and after)", passed)
	}
	if !set.Apply(alert.Event{Type: alert.EventAlert}, now.Add(time.Hour)).Dropped {
		t.Error("an event an hour later passed: the window is ten minutes")
	}
	resetting := compile(t, alert.Source{EventFilter: `resetting_trigger_count.10m >= 2`}, hours{})
	passed = nil
	for i := range 5 {
		if !resetting.Apply(alert.Event{Type: alert.EventAlert}, now.Add(time.Duration(i)*time.Minute)).Dropped {
			passed = append(passed, i)
		}
	}
	if fmt.Sprint(passed) != "[1 3]" {
		t.Errorf("events passed %v, want [1 3] (every second one)", passed)
	}
}

// Bad rules are refused when the source is saved, saying which field and where.
func TestCompileErrors(t *testing.T) {
	cases := map[string]alert.Source{
		"eventFilter":         {EventFilter: `event.summary contains`},
		"summaryTemplate":     {SummaryTemplate: json.RawMessage(`{"textTemplate":"{{ summary"}`)},
		"supportHours":        {AlertPriorityRule: alert.RuleHighDuringSupportHours, SupportHours: json.RawMessage(`{"id":9}`)},
		"needs supportHours":  {AlertPriorityRule: alert.RuleHighDuringSupportHours},
		"priorityTemplate":    {PriorityTemplate: json.RawMessage(`{"valueTemplate":{"textTemplate":"x"},"mappings":[{"value":"a","priority":"URGENT"}]}`)},
		"linkTemplates":       {LinkTemplates: json.RawMessage(`[{"text":"x"}]`)},
		"inline supportHours": {AlertPriorityRule: alert.RuleHighDuringSupportHours, SupportHours: json.RawMessage(`{"timezone":"Mars/Olympus","supportDays":{}}`)},
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			src.Name, src.IntegrationType, src.AlertCreation = "s", "API", alert.OneAlertPerEmail
			if src.AlertPriorityRule == "" {
				src.AlertPriorityRule = alert.RuleHigh
			}
			_, err := rules.Compile(context.Background(), &src, hours{}, nil)
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("error %v, want Invalid", err)
			}
			field := strings.Fields(name)[len(strings.Fields(name))-1]
			if !strings.Contains(fault.MessageOf(err), field) {
				t.Errorf("message %q does not name %s", fault.MessageOf(err), field)
			}
		})
	}
}

// BenchmarkApply is the cost of a source's rules per event: none, and an event filter with
// summary and alert key templates (the rules bench ingest --rules measures end to end).
func BenchmarkApply(b *testing.B) {
	ev := alert.Event{Type: alert.EventAlert, Summary: "tocsin bench event", AlertKey: "bench-1",
		CustomDetails: json.RawMessage(`{"host":"db-1","env":"prod"}`)}
	now := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		src  alert.Source
	}{
		{"none", alert.Source{}},
		{"filter+templates", alert.Source{
			EventFilter:      "event.eventType == 'ALERT' and event.summary contains 'bench' and not (event.alertKey starts_with 'skip')",
			SummaryTemplate:  json.RawMessage(`{"textTemplate":"{{ summary.upperCase() }} ({{ alertKey }})"}`),
			AlertKeyTemplate: json.RawMessage(`{"textTemplate":"r-{{ alertKey }}"}`)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			set := compile(b, c.src, hours{})
			for b.Loop() {
				if out := set.Apply(ev, now); out.Dropped {
					b.Fatal("dropped")
				}
			}
		})
	}
}

// A clone sees the counts so far and counts on its own.
func TestCountersClone(t *testing.T) {
	counters := rules.NewCounters()
	src := alert.Source{Name: "s", IntegrationType: "API", AlertCreation: alert.OneAlertPerEmail, AlertPriorityRule: alert.RuleHigh,
		EventFilter: `trigger_count.10m == 2`}
	set, err := rules.Compile(context.Background(), &src, hours{}, counters)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	set.Apply(alert.Event{Type: alert.EventAlert}, now)
	dry, err := rules.Compile(context.Background(), &src, hours{}, counters.Copy(src.ID))
	if err != nil {
		t.Fatal(err)
	}
	if dry.Apply(alert.Event{Type: alert.EventAlert}, now).Dropped {
		t.Fatal("the clone does not see the count so far")
	}
	if set.Apply(alert.Event{Type: alert.EventAlert}, now.Add(time.Minute)).Dropped {
		t.Fatal("the clone's event was counted by the original")
	}
}
