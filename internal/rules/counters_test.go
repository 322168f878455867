package rules_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/condition"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/rules"
	"github.com/tocsinhq/tocsin/internal/template"
)

// passed applies n events a minute apart to set and returns which were not dropped.
func passed(set *rules.Set, n int) string {
	now := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	var out []int
	for i := range n {
		if !set.Apply(alert.Event{Type: alert.EventAlert, Summary: "x"}, now.Add(time.Duration(i)*time.Minute)).Dropped {
			out = append(out, i)
		}
	}
	return fmt.Sprint(out)
}

// A resetting counter that matches restarts only itself: trigger_count of the same window
// keeps counting every event.
func TestTriggerCountNotResetByResettingCounter(t *testing.T) {
	set := compile(t, alert.Source{EventFilter: `resetting_trigger_count.10m >= 2 or trigger_count.10m >= 3`}, hours{})
	// Event i has trigger_count i+1: events 2, 3 and 4 pass by it, event 1 by the resetting one.
	if got := passed(set, 5); got != "[1 2 3 4]" {
		t.Errorf("events passed %v, want [1 2 3 4]", got)
	}
}

// A resetting counter restarts when the condition it is in matches, not when another
// condition of the source with the same counter does.
func TestResettingCounterPerCondition(t *testing.T) {
	set := compile(t, alert.Source{EventFilter: `resetting_trigger_count.10m >= 1`,
		EventTypeFilterCreate: `resetting_trigger_count.10m >= 3`}, hours{})
	// The event filter matches (and restarts its own count) every time; the create filter
	// matches every third event.
	if got := passed(set, 6); got != "[2 5]" {
		t.Errorf("events passed %v, want [2 5]", got)
	}
	// Two sources sharing the counters do not reset each other either.
	counters := rules.NewCounters()
	a := alert.Source{ID: 1, Name: "a", IntegrationType: "API", AlertCreation: alert.OneAlertPerEmail, AlertPriorityRule: alert.RuleHigh,
		EventFilter: `resetting_trigger_count.10m >= 2`}
	b := a
	b.ID, b.Name = 2, "b"
	setA, err := rules.Compile(context.Background(), &a, hours{}, counters)
	if err != nil {
		t.Fatal(err)
	}
	setB, err := rules.Compile(context.Background(), &b, hours{}, counters)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	var got []string
	for i := range 4 {
		at := now.Add(time.Duration(i) * time.Minute)
		if !setA.Apply(alert.Event{Type: alert.EventAlert}, at).Dropped {
			got = append(got, fmt.Sprint("a", i))
		}
		if !setB.Apply(alert.Event{Type: alert.EventAlert}, at).Dropped {
			got = append(got, fmt.Sprint("b", i))
		}
	}
	if fmt.Sprint(got) != "[a1 b1 a3 b3]" {
		t.Errorf("events passed %v, want [a1 b1 a3 b3]", got)
	}
}

// Counts stop at 10,000 events: a count reaches 10,000 and stays there, and a comparison
// that would need more is refused when the source is saved.
func TestTriggerCountLimit(t *testing.T) {
	set := compile(t, alert.Source{EventFilter: `trigger_count.2d >= 10000`}, hours{})
	now := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	var first, n int
	for i := range 10050 {
		if !set.Apply(alert.Event{Type: alert.EventAlert}, now.Add(time.Duration(i)*time.Second)).Dropped {
			if n == 0 {
				first = i
			}
			n++
		}
	}
	if first != 9999 || n != 51 {
		t.Errorf("the first event to pass was %d and %d passed, want 9999 and 51", first, n)
	}
	for _, text := range []string{`trigger_count.2d > 10000`, `trigger_count.10m >= 10001`, `20000 > resetting_trigger_count.1h`} {
		src := alert.Source{Name: "s", IntegrationType: "API", AlertCreation: alert.OneAlertPerEmail, AlertPriorityRule: alert.RuleHigh,
			EventTypeFilterCreate: text}
		_, err := rules.Compile(context.Background(), &src, hours{}, nil)
		if !fault.Is(err, fault.Invalid) || !strings.Contains(fault.MessageOf(err), "eventTypeFilterCreate: line 1") ||
			!strings.Contains(fault.MessageOf(err), "10000") {
			t.Errorf("%s: error %v, want Invalid naming the field, the position and the limit", text, err)
		}
	}
}

// A rule that runs out of work on an event fails open, as an alerting tool should: the event
// goes on as if the rule were not there (a filter drops nothing, an event-type filter leaves
// the event its own type, a template leaves the event's value), and Err says which and why.
func TestApplyFailsOpenWhenARuleRunsOutOfWork(t *testing.T) {
	log := strings.Repeat("x", 400<<10)
	big := alert.Event{Type: alert.EventAlert, Summary: "disk full", CustomDetails: json.RawMessage(`{"log": "` + log + `"}`)}
	small := alert.Event{Type: alert.EventAlert, Summary: "disk full", CustomDetails: json.RawMessage(`{"log": "x"}`)}
	now := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	for field, src := range map[string]alert.Source{
		"eventFilter":            {EventFilter: `event.customDetails.log regex '[a-z]{500}y'`},
		"eventTypeFilterResolve": {EventTypeFilterResolve: `event.customDetails.log regex '[a-z]{500}y'`, EventTypeFilterCreate: `event.summary contains 'disk'`},
		"eventTypeFilterCreate":  {EventTypeFilterCreate: `event.customDetails.log regex '[a-z]{500}y'`},
	} {
		set := compile(t, src, hours{})
		start := time.Now()
		out := set.Apply(big, now)
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: Apply took %v", field, took)
		}
		if out.Dropped || out.Event.Type != alert.EventAlert || !errors.Is(out.Err, condition.ErrTooMuchWork) || !strings.Contains(out.Err.Error(), field) {
			t.Errorf("%s: Dropped %v (%s), type %s, Err %v; want the ALERT kept, with ErrTooMuchWork naming %s",
				field, out.Dropped, out.Reason, out.Event.Type, out.Err, field)
		}
		if out := set.Apply(small, now); out.Err != nil {
			t.Errorf("%s: a small event: Err %v", field, out.Err)
		}
	}
}

// A template that needs more work on an event than one render may do leaves the event's own
// value, and Err names it: a cut-short summary would say less than the event did.
func TestApplyKeepsTheEventsValueWhenATemplateRunsOutOfWork(t *testing.T) {
	// A path 1,000 steps deep, written 1,000 × 1,000 times: about 15 s of work without a budget.
	deep := "customDetails" + strings.Repeat(".a", 1000) + ".zz"
	loops := "{{#customDetails.arr}}{{#customDetails.arr}}{{" + deep + "}}{{/customDetails.arr}}{{/customDetails.arr}}x"
	set := compile(t, alert.Source{SummaryTemplate: json.RawMessage(`{"textTemplate":"` + loops + `"}`)}, hours{})
	items := "[" + strings.TrimSuffix(strings.Repeat("1,", 1000), ",") + "]"
	nested := strings.Repeat(`{"a": `, 1000) + "{}" + strings.Repeat("}", 1000)
	ev := alert.Event{Type: alert.EventAlert, Summary: "disk full", CustomDetails: json.RawMessage(`{"arr": ` + items + `, "a": ` + nested + `}`)}
	out := set.Apply(ev, time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC))
	if out.Dropped || out.Event.Summary != "disk full" || !errors.Is(out.Err, template.ErrWorkLimit) || !strings.Contains(out.Err.Error(), "summaryTemplate") {
		t.Fatalf("Dropped %v, summary %q, Err %v; want the event's own summary and ErrWorkLimit naming summaryTemplate", out.Dropped, out.Event.Summary, out.Err)
	}
	small := alert.Event{Type: alert.EventAlert, Summary: "disk full", CustomDetails: json.RawMessage(`{"arr": [1]}`)}
	if out := set.Apply(small, time.Now()); out.Err != nil || out.Event.Summary != "x" {
		t.Fatalf("a small event: summary %q, Err %v; want x", out.Event.Summary, out.Err)
	}
}
