package condition_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/condition"
)

// fuzzEnvs are the environments every condition the fuzzer finds is evaluated in: the test
// event with callbacks, nothing at all, and data of every shape in the wrong places.
func fuzzEnvs() []condition.Env {
	full := testEnv()
	full.IsIn = func(ref condition.Ref, at time.Time) (bool, error) {
		if ref.ID%2 == 0 {
			return false, errors.New("no such object")
		}
		return at.Unix()%2 == 0, nil
	}
	full.Count = func(c condition.Counter) int { return int(c.Window / time.Second) }
	odd := condition.Env{
		Data: map[string]any{
			"event":   []any{nil, "x", []any{}, map[string]any{"": nil}},
			"alert":   "just text",
			"context": map[string]any{"event": map[string]any{"summary": json.Number("1e999"), "x": func() {}}},
		},
		Now:   time.Unix(-1<<40, 0),
		IsIn:  func(condition.Ref, time.Time) (bool, error) { return true, nil },
		Count: func(condition.Counter) int { return -1 << 62 },
	}
	return []condition.Env{full, {}, odd}
}

func FuzzParse(f *testing.F) {
	for _, cases := range evalCases {
		for _, tc := range cases {
			f.Add(tc.text)
		}
	}
	for _, s := range []string{
		`now is_in {"id": 1, "type": "SUPPORT_HOUR"} and now not is_in {"id": 2, "type": "ON_CALL_SCHEDULE"}`,
		`trigger_count.10m > 5 or resetting_trigger_count.PT30S >= 2`,
		`event.customDetails[key\ wi:th\ spaces].some_field == 'Hello there'`,
		`event.summary regex '(?i)^a+$' and event.x == 'a\'b\\c'`,
		"event.x == [1, {a: [true, nil]}, -2.5e3]",
		"(event.x == 1",
		"event.x == 'é",
	} {
		f.Add(s)
	}
	envs := fuzzEnvs()
	f.Fuzz(func(t *testing.T, text string) {
		c, err := condition.Parse(text)
		if err != nil {
			var se *condition.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %T %v, want a *SyntaxError", text, err, err)
			}
			if se.Offset < 0 || se.Offset > len(text) || se.Line < 1 || se.Column < 1 || se.Msg == "" {
				t.Fatalf("Parse(%q) = %+v", text, se)
			}
			return
		}
		if c.Text() != text {
			t.Fatalf("Text() = %q, want %q", c.Text(), text)
		}
		for _, ctr := range c.Counters() {
			if ctr.Window < condition.MinWindow || ctr.Window > condition.MaxWindow {
				t.Fatalf("Parse(%q) accepted the window %v", text, ctr.Window)
			}
		}
		for _, ref := range c.Refs() {
			if ref.ID <= 0 || ref.Type != condition.RefSupportHour && ref.Type != condition.RefOnCallSchedule {
				t.Fatalf("Parse(%q) accepted the object %+v", text, ref)
			}
		}
		for _, env := range envs {
			c.Eval(env)
		}
	})
}
