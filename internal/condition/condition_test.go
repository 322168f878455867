package condition_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/condition"
)

var testNow = time.Date(2024, 5, 15, 16, 0, 0, 0, time.UTC)

// testData is an event as the Events API would hand it over, with the odd values a
// monitoring tool sends in customDetails.
func testData() map[string]any {
	var custom any
	if err := json.Unmarshal([]byte(`{
		"env": "prod",
		"locationX": 0.54,
		"key wi:th spaces": {"some_field": "Hello there"},
		"my-key": "dash",
		"alerts": [{"severity": "critical"}, {"severity": "warning"}],
		"0": "zero key",
		"num": "17",
		"yes": "TRUE",
		"started": "2024-05-15T15:18:00Z",
		"epoch": 1715786280,
		"epochMs": 1715786280000,
		"host": "DB-1.example.com",
		"tags": ["prod", "DB", 5],
		"prefixes": ["web", "disk"],
		"isProd": true,
		"nothing": null,
		"obj": {"a": 1, "b": [1, 2]}
	}`), &custom); err != nil {
		panic(err)
	}
	return map[string]any{
		"event": map[string]any{
			"summary":       "Disk FULL on db-1",
			"priority":      "HIGH",
			"severity":      float64(3),
			"count":         json.Number("42"),
			"big":           json.Number("9007199254740992"),
			"small":         int(7),
			"customDetails": custom,
			"links":         []any{map[string]any{"href": "https://awebsite.de/some/page", "text": "A title"}},
			"labels":        map[string]string{"team": "ops"},
			"names":         []string{"ann", "bob"},
		},
		"alert": map[string]any{"priority": "LOW", "id": float64(12)},
	}
}

func testEnv() condition.Env { return condition.Env{Data: testData(), Now: testNow} }

func mustParse(t testing.TB, text string) *condition.Condition {
	t.Helper()
	c, err := condition.Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return c
}

// evalCases are conditions and whether they hold in testEnv, grouped by what they test.
var evalCases = map[string][]struct {
	text string
	want bool
}{
	"Equal": {
		{`event.priority == 'HIGH'`, true},
		{`event.priority == 'high'`, true}, // == is matches: case-insensitive
		{`event.priority == "HIGH"`, true},
		{`event.priority == HIGH`, true},
		{`event.priority == 'LOW'`, false},
		{`event.priority != 'LOW'`, true},
		{`event.priority != 'high'`, false},
		{`event.severity == 3`, true},
		{`event.severity == 3.0`, true},
		{`event.severity == '3'`, true}, // implicit casting
		{`'1' == 1`, true},
		{`1 == '1.0'`, true},
		{`'1' == 2`, false},
		{`event.severity != '4'`, true},
		{`event.count == 42`, true}, // json.Number
		{`event.small == 7`, true},  // int
		{`event.customDetails.num == 17`, true},
		{`event.customDetails.num == 17.5`, false},
		{`event.customDetails.isProd == true`, true},
		{`event.customDetails.yes == true`, true},
		{`event.customDetails.isProd == 'true'`, true},
		{`event.customDetails.isProd == 1`, false},
		{`true == true`, true},
		{`true != false`, true},
		{`event.customDetails.tags == ["PROD", "db", 5]`, true},
		{`event.customDetails.tags == ["prod", "db"]`, false},
		{`event.customDetails.obj == {"a": 1, "b": [1, 2]}`, true},
		{`event.customDetails.obj == {"a": 1, "b": [1, 3]}`, false},
		{`event.customDetails.obj == 'x'`, false},
		{`3 == 'three'`, false},
		{`3 != 'three'`, true},
		{`9007199254740992 == 9007199254740992.0`, true},
		{`9007199254740992 == 9007199254740993.0`, true}, // float precision, as documented
		{`9007199254740992 == 9007199254740994.0`, false},
		{`9007199254740992 == 9007199254740993`, false}, // two integers compare exactly
		{`event.big == 9007199254740992`, true},
	},
	"Matches": {
		{`event.priority matches 'high'`, true},
		{`event.priority matches 'LOW'`, false},
		{`event.priority exact_matches 'HIGH'`, true},
		{`event.priority exact_matches 'high'`, false},
		{`event.priority not_matches 'high'`, false},
		{`event.priority not matches 'low'`, true},
		{`event.priority not_exact_matches 'high'`, true},
		{`event.priority not exact_matches 'HIGH'`, false},
		{`event.customDetails.tags exact_matches ["prod", "DB", 5]`, true},
		{`event.customDetails.tags exact_matches ["prod", "db", 5]`, false},
	},
	"Nil": {
		{`event.customDetails.dontExist == nil`, true},
		{`event.customDetails.nothing == nil`, true},
		{`event.customDetails.nothing == null`, true},
		{`event.customDetails.env == nil`, false},
		{`event.customDetails.env != nil`, true},
		{`event.customDetails.dontExist != nil`, false},
		{`event.customDetails.dontExist == ''`, false},
		{`event.customDetails.dontExist == 0`, false},
		{`event.customDetails.dontExist.deeper[3] == nil`, true},
		{`nil == nil`, true},
		{`unknown == nil`, false}, // a bare word is text, not a path
		{`event.customDetails.dontExist contains 'x'`, false},
		{`event.customDetails.dontExist not_contains 'x'`, false}, // cannot compare: false in either form
		{`not (event.customDetails.dontExist contains 'x')`, true},
		{`event.customDetails.dontExist > 1`, false},
		{`event.customDetails.dontExist <= 1`, false},
		{`event.customDetails.dontExist in [nil, 'a']`, true},
		{`event.customDetails.dontExist`, false},
	},
	"Order": {
		{`event.severity > 2`, true},
		{`event.severity > 3`, false},
		{`event.severity >= 3`, true},
		{`event.severity < 3.5`, true},
		{`event.severity <= 2.99`, false},
		{`event.customDetails.num > 9`, true}, // '17' read as a number, not compared as text
		{`event.customDetails.num < '9'`, false},
		{`event.customDetails.locationX < 1`, true},
		{`event.customDetails.locationX >= 0.54`, true},
		{`-24 < -3`, true},
		{`event.count not > 41`, false},
		{`event.count not <= 41`, true},
		{`3 > 'three'`, false},
		{`3 >= 'three' or 3 < 9`, true},
		{`3 <= 'three' and 3 < 9`, false},
		{`event.customDetails.env > 1`, false},
		{`event.customDetails.tags > 1`, false},
		{`event.customDetails.isProd > 0`, false},
	},
	"Datetime": {
		{`event.customDetails.started < now`, true},
		{`now > event.customDetails.started`, true},
		{`event.customDetails.started > now`, false},
		{`event.customDetails.epoch < now`, true},
		{`event.customDetails.epochMs < now`, true},
		{`event.customDetails.epoch == event.customDetails.started`, true}, // both read as datetimes
		{`event.customDetails.epochMs == '2024-05-15T15:18:00Z'`, true},
		{`event.customDetails.started == 1715786280`, true},
		{`event.customDetails.started >= '2024-05-15T15:18:00Z'`, true},
		{`event.customDetails.started < '2024-05-15T17:18:00+02:00'`, false}, // the same instant
		{`event.customDetails.started <= '2024-05-15T17:18:00+02:00'`, true},
		{`event.customDetails.started > '2024-05-15'`, true},
		{`'2024-05-15T15:18:00Z' < '2024-05-16T00:00'`, true},
		{`now == '2024-05-15T16:00:00Z'`, true},
		{`now == 1715788800`, true},
		{`now == 1715788800000`, true},
		{`now >= 1715788800001`, false},
		{`now > 'yesterday'`, false},
		{`now > event.customDetails.dontExist`, false},
		{`now contains '2024'`, false},
	},
	"Contains": {
		{`event.summary contains 'disk'`, true},
		{`event.summary contains 'full on'`, true},
		{`event.summary contains disk`, true},
		{`event.summary contains 'cpu'`, false},
		{`event.summary exact_contains 'disk'`, false},
		{`event.summary exact_contains 'Disk'`, true},
		{`event.summary not_contains 'cpu'`, true},
		{`event.summary not contains 'disk'`, false},
		{`event.summary not_exact_contains 'disk'`, true},
		{`event.summary not exact_contains 'FULL'`, false},
		{`event.severity contains 3`, true}, // numbers are written out
		{`event.customDetails.locationX contains '.54'`, true},
		{`event.customDetails.isProd contains 'ru'`, true},
		{`event.summary contains event.customDetails.env`, false},
		{`event.customDetails.host contains event.customDetails.env`, false},
		{`event.summary contains event.labels.team`, false},
		{`'team ops' contains event.labels.team`, true},
		{`event.summary contains event.customDetails.dontExist`, false},
		{`event.summary not_contains event.customDetails.dontExist`, false},
		{`event.customDetails.tags contains 'prod'`, false}, // lists take in
		{`event.summary contains ''`, true},
	},
	"StartsEnds": {
		{`event.summary starts_with 'disk'`, true},
		{`event.summary exact_starts_with 'disk'`, false},
		{`event.summary exact_starts_with 'Disk'`, true},
		{`event.summary starts_with 'full'`, false},
		{`event.summary not_starts_with 'full'`, true},
		{`event.summary not starts_with 'DISK'`, false},
		{`event.summary not_exact_starts_with 'disk'`, true},
		{`event.summary ends_with 'DB-1'`, true},
		{`event.summary exact_ends_with 'DB-1'`, false},
		{`event.summary not_ends_with 'db-1'`, false},
		{`event.summary not_exact_ends_with 'db-1'`, false},
		{`event.customDetails.host ends_with .example.com`, true},
	},
	"Regex": {
		{`event.summary regex '^disk\s+full'`, true}, // case-insensitive by default
		{`event.summary exact_regex '^disk\s+full'`, false},
		{`event.summary exact_regex '^Disk\s+FULL'`, true},
		{`event.summary regex 'db-\d$'`, true},
		{`event.summary regex "db-\d{2}"`, false},
		{`event.summary not_regex 'cpu|memory'`, true},
		{`event.summary not regex 'disk'`, false},
		{`event.summary not_exact_regex 'disk'`, true},
		{`event.severity regex '^3$'`, true},
		{`event.customDetails.dontExist regex '.*'`, false},
	},
	"Any": {
		{`event.summary contains_any ["cpu", "FULL"]`, true},
		{`event.summary contains_any ["cpu", "memory"]`, false},
		{`event.summary contains_any []`, false},
		{`event.summary exact_contains_any ["full", "disk"]`, false},
		{`event.summary exact_contains_any ["full", "FULL"]`, true},
		{`event.summary not_contains_any ["cpu", "memory"]`, true},
		{`event.summary not contains_any ["cpu", "disk"]`, false},
		{`event.summary starts_with_any ['web', 'DISK']`, true},
		{`event.summary starts_with_any ['web', 'db']`, false},
		{`event.summary not_starts_with_any ['web', 'db']`, true},
		{`event.summary exact_starts_with_any ['disk']`, false},
		{`event.summary ends_with_any [db-1, db-2]`, true},
		{`event.summary ends_with_any [db-2, db-3]`, false},
		{`event.summary not_exact_ends_with_any ['DB-1']`, true},
		{`event.summary starts_with_any event.customDetails.prefixes`, true},
		{`event.summary ends_with_any event.customDetails.prefixes`, false},
		{`event.summary contains_any event.names`, false},
		{`event.summary contains_any event.customDetails.env`, false},
		{`event.summary not_contains_any event.customDetails.env`, false},
		{`event.severity contains_any [1, 2, 3]`, true},
	},
	"In": {
		{`event.customDetails.env in ["DE", "prod"]`, true},
		{`event.customDetails.env in ["DE", "CH"]`, false},
		{`event.customDetails.env in ["PROD"]`, true},
		{`event.customDetails.env exact_in ["PROD"]`, false},
		{`event.customDetails.env exact_in ["prod"]`, true},
		{`event.customDetails.env not_in ["DE", "CH"]`, true},
		{`event.customDetails.env not in ["prod"]`, false},
		{`event.customDetails.env not_exact_in ["PROD"]`, true},
		{`event.severity in [1, 2, 3]`, true},
		{`event.severity in ['3']`, true},
		{`'db' in event.customDetails.tags`, true},
		{`5 in event.customDetails.tags`, true},
		{`'u-turn' in event.customDetails.tags`, false},
		{`'bob' in event.names`, true},
		{`'bob' in event.customDetails.env`, false},
		{`'bob' not_in event.customDetails.env`, false},
		{`'bob' in event.customDetails.dontExist`, false},
		{`event.customDetails.env in []`, false},
	},
	"Paths": {
		{`event.summary == 'Disk FULL on db-1'`, true},
		{`event.customDetails.locationX == 0.54`, true},
		{`event.customDetails['key wi:th spaces'].some_field == 'Hello there'`, true},
		{`event.customDetails["key wi:th spaces"]['some_field'] == 'Hello there'`, true},
		{`event.customDetails[key\ wi:th\ spaces].some_field == 'Hello there'`, true},
		{`event.customDetails[ 'my-key' ] == dash`, true},
		{`event.links[0].href == 'https://awebsite.de/some/page'`, true},
		{`event.links[1].href == nil`, true},
		{`event.links[99999].href == nil`, true},
		{`event.customDetails.alerts[1].severity == warning`, true},
		{`event.customDetails.alerts[0]['severity'] == critical`, true},
		{`event.customDetails[0] == 'zero key'`, true}, // an index is tried as a key on objects
		{`event.customDetails.tags[1] == 'db'`, true},
		{`event.customDetails.tags['1'] == nil`, true},
		{`event.labels.team == ops`, true},
		{`event.names[1] == bob`, true},
		{`event.summary.deeper == nil`, true},
		{`event.summary[0] == nil`, true},
		{`alert.priority == LOW`, true},
		{`alert.id == 12`, true},
		{`context.event.summary == nil`, true},
		{`event.customDetails.isProd`, true},
		{`event.customDetails.yes`, false}, // only a boolean is true on its own
		{`event.customDetails.env`, false},
		{`event.customDetails.tags[2] == 5`, true},
	},
	"Logic": {
		{`true`, true},
		{`false`, false},
		{`not false`, true},
		{`not not true`, true},
		{`true and false`, false},
		{`true or false`, true},
		{`false or false or true`, true},
		{`true and true and false`, false},
		{`not true or true`, true},                // (not true) or true
		{`not (true or true)`, false},             // parentheses first
		{`true or true and false`, true},          // and before or: true or (true and false)
		{`(true or true) and false`, false},       // parentheses change it
		{`false and true or true`, true},          // (false and true) or true
		{`false and (true or true)`, false},       //
		{`not false and false`, false},            // (not false) and false
		{`not (false and false)`, true},           //
		{`not event.severity > 5 and true`, true}, // not applies to the comparison
		{"event.severity > 2\nand (\n  event.priority == 'HIGH'\n)", true},
		{`event.summary not contains 'dev stage' and (event.customDetails.env in ["DE", "CH", "AT"] or event.severity >= 3)`, true},
		{`(((event.severity == 3)))`, true},
		{`event.severity==3&&true`, false}, // bare text '3&&true'
		{`event.severity>=3 and event.priority!=low`, true},
		{`3 > 'three' or not (3 > 'three')`, true},
	},
}

func TestEval(t *testing.T) {
	env := testEnv()
	for group, cases := range evalCases {
		t.Run(group, func(t *testing.T) {
			for _, tc := range cases {
				if got := mustParse(t, tc.text).Eval(env); got != tc.want {
					t.Errorf("%s: got %v, want %v", tc.text, got, tc.want)
				}
			}
		})
	}
}

func TestEvalTypes(t *testing.T) {
	// Values a caller may build by hand rather than decode from JSON.
	env := condition.Env{Data: map[string]any{"event": map[string]any{
		"i8": int8(-3), "i16": int16(300), "i32": int32(70000), "i64": int64(1) << 40,
		"u": uint(5), "u8": uint8(255), "u16": uint16(65535), "u32": uint32(1) << 31, "u64": uint64(1) << 63,
		"f32": float32(0.5), "ptr": new(int), "fn": func() {}, "ch": make(chan int),
		"nan": json.Number("NaN"), "hugeNum": json.Number("1e400"),
	}}}
	for _, tc := range []struct {
		text string
		want bool
	}{
		{`event.i8 == -3`, true},
		{`event.i16 > 299`, true},
		{`event.i32 == '70000'`, true},
		{`event.i64 == 1099511627776`, true},
		{`event.u == 5`, true},
		{`event.u8 == 255`, true},
		{`event.u16 contains 655`, true},
		{`event.u32 == 2147483648`, true},
		{`event.u64 == 9223372036854775808.0`, true},
		{`event.u64 > 9223372036854775807`, false}, // at float precision they are the same
		{`event.f32 == 0.5`, true},
		{`event.ptr == nil`, false},
		{`event.ptr != nil`, true},
		{`event.fn == nil`, false},
		{`event.ch == event.ch`, false},
		{`event.fn contains 'x'`, false},
		{`event.ch in [1]`, false},
		{`event.nan == 'NaN'`, true}, // not a number: kept as text
		{`event.hugeNum > 1`, false},
	} {
		if got := mustParse(t, tc.text).Eval(env); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestEvalEmptyEnv(t *testing.T) {
	for _, text := range []string{`event.x == nil`, `now == '0001-01-01T00:00:00Z'`, `trigger_count.10m == 0`} {
		if !mustParse(t, text).Eval(condition.Env{}) {
			t.Errorf("%s is false in an empty Env", text)
		}
	}
	var c *condition.Condition
	if c.Eval(testEnv()) {
		t.Error("a nil Condition is true")
	}
}

func TestIsIn(t *testing.T) {
	support := condition.Ref{ID: 1, Type: condition.RefSupportHour}
	schedule := condition.Ref{ID: 7, Type: condition.RefOnCallSchedule}
	var asked []time.Time
	env := testEnv()
	env.IsIn = func(ref condition.Ref, at time.Time) (bool, error) {
		asked = append(asked, at)
		switch ref {
		case support:
			return at.Hour() >= 9 && at.Hour() < 17, nil
		case schedule:
			return false, nil
		}
		return false, errors.New("not found")
	}
	for _, tc := range []struct {
		text string
		want bool
		at   time.Time
	}{
		{`now is_in {"id": 1, "type": "SUPPORT_HOUR"}`, true, testNow},
		{`now not is_in {"id": 1, "type": "SUPPORT_HOUR"}`, false, testNow},
		{`now not_is_in {"id": 1, "type": "SUPPORT_HOUR"}`, false, testNow},
		{`now is_in {"id":7,"type":"ON_CALL_SCHEDULE"}`, false, testNow},
		{`now not is_in {"id":7,"type":"ON_CALL_SCHEDULE"}`, true, testNow},
		{`now is_in {id: 1, type: support_hour}`, true, testNow},
		{`'2024-05-15T20:00:00Z' is_in {'id': 1, 'type': 'SUPPORT_HOUR'}`, false, testNow.Add(4 * time.Hour)},
		{`'2024-05-15T20:00:00Z' not is_in {"id": 1, "type": "SUPPORT_HOUR"}`, true, testNow.Add(4 * time.Hour)},
		{`1715763600 is_in {"id": 1, "type": "SUPPORT_HOUR"}`, true, testNow.Add(-7 * time.Hour)},
		{`1715763600000 is_in {"id": 1, "type": "SUPPORT_HOUR"}`, true, testNow.Add(-7 * time.Hour)},
		{`event.customDetails.started is_in {"id": 1, "type": "SUPPORT_HOUR"}`, true, testNow.Add(-42 * time.Minute)},
		{`event.customDetails.epochMs is_in {"id": 1, "type": "SUPPORT_HOUR"}`, true, testNow.Add(-42 * time.Minute)},
		// A failed lookup is false in both forms.
		{`now is_in {"id": 2, "type": "SUPPORT_HOUR"}`, false, testNow},
		{`now not is_in {"id": 2, "type": "SUPPORT_HOUR"}`, false, testNow},
		// So is a left side that is not a datetime; IsIn is not asked.
		{`event.customDetails.env is_in {"id": 1, "type": "SUPPORT_HOUR"}`, false, time.Time{}},
		{`event.customDetails.dontExist not is_in {"id": 1, "type": "SUPPORT_HOUR"}`, false, time.Time{}},
	} {
		asked = nil
		if got := mustParse(t, tc.text).Eval(env); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.text, got, tc.want)
		}
		switch {
		case tc.at.IsZero() && len(asked) != 0:
			t.Errorf("%s: IsIn asked about %v", tc.text, asked)
		case !tc.at.IsZero() && (len(asked) != 1 || !asked[0].Equal(tc.at)):
			t.Errorf("%s: IsIn asked about %v, want %v", tc.text, asked, tc.at)
		}
	}
	t.Run("NilIsIn", func(t *testing.T) {
		env := testEnv()
		for _, text := range []string{`now is_in {"id": 1, "type": "SUPPORT_HOUR"}`, `now not is_in {"id": 1, "type": "SUPPORT_HOUR"}`} {
			if mustParse(t, text).Eval(env) {
				t.Errorf("%s is true without IsIn", text)
			}
		}
	})
}

func TestRefs(t *testing.T) {
	c := mustParse(t, `now is_in {"id": 3, "type": "SUPPORT_HOUR"} or (now not is_in {"id": 9, "type": "on_call_schedule"}
		and now is_in {"type": "SUPPORT_HOUR", "id": 3}) or event.x == {"id": 4, "type": "SUPPORT_HOUR"}`)
	want := []condition.Ref{{ID: 3, Type: "SUPPORT_HOUR"}, {ID: 9, Type: "ON_CALL_SCHEDULE"}}
	if got := c.Refs(); !reflect.DeepEqual(got, want) {
		t.Errorf("Refs() = %v, want %v", got, want)
	}
	c.Refs()[0].ID = 99
	if c.Refs()[0].ID != 3 {
		t.Error("changing the slice Refs returned changed the condition")
	}
	if got := mustParse(t, `event.x == 1`).Refs(); len(got) != 0 {
		t.Errorf("Refs() = %v without is_in", got)
	}
}

func TestCounters(t *testing.T) {
	counts := map[condition.Counter]int{
		{Window: 10 * time.Minute}:                  100,
		{Window: 10 * time.Minute, Resetting: true}: 4,
		{Window: 30 * time.Second}:                  1,
		{Window: 2 * 24 * time.Hour}:                5000,
	}
	var asked []condition.Counter
	env := testEnv()
	env.Count = func(c condition.Counter) int { asked = append(asked, c); return counts[c] }
	for _, tc := range []struct {
		text string
		want bool
	}{
		{`trigger_count.10m > 99`, true},
		{`trigger_count.10m > 100`, false},
		{`trigger_count.PT10M >= 100`, true},
		{`trigger_count.pt10m == 100`, true},
		{`trigger_count.600s == 100`, true},
		{`trigger_count.PT600S == 100`, true},
		{`resetting_trigger_count.10m >= 5`, false},
		{`resetting_trigger_count.PT10M >= 4`, true},
		{`trigger_count.30s < 2`, true},
		{`trigger_count.PT30S not < 2`, false},
		{`trigger_count.2d > 4999`, true},
		{`trigger_count.P2D > 4999`, true},
		{`trigger_count.PT48H > 4999`, true},
		{`trigger_count.P1DT24H > 4999`, true},
		{`trigger_count.1d23h60m > 4999`, true},
		{`trigger_count.1h == 0`, true},
		{`5 < trigger_count.10m`, true},
		{`trigger_count.10m>=100 and resetting_trigger_count.10m<5`, true},
		{`trigger_count.10m > '99'`, true},
		{`trigger_count.10m in [100]`, true},
	} {
		if got := mustParse(t, tc.text).Eval(env); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.text, got, tc.want)
		}
	}
	t.Run("CountedOnlyWhenReached", func(t *testing.T) {
		asked = nil
		mustParse(t, `false and trigger_count.10m > 1 or true or resetting_trigger_count.10m > 1`).Eval(env)
		if len(asked) != 0 {
			t.Errorf("Count asked for %v", asked)
		}
	})
	t.Run("NilCount", func(t *testing.T) {
		env := testEnv()
		if !mustParse(t, `trigger_count.10m == 0 and not (resetting_trigger_count.5s > 0)`).Eval(env) {
			t.Error("counters are not 0 without Count")
		}
	})
	t.Run("Counters", func(t *testing.T) {
		c := mustParse(t, `trigger_count.10m > 5 or trigger_count.PT10M > 9 or resetting_trigger_count.10m > 1
			or (trigger_count.5s > 1 and resetting_trigger_count.PT10M > 2)`)
		want := []condition.Counter{{Window: 10 * time.Minute}, {Window: 10 * time.Minute, Resetting: true}, {Window: 5 * time.Second}}
		if got := c.Counters(); !reflect.DeepEqual(got, want) {
			t.Errorf("Counters() = %v, want %v", got, want)
		}
		if got := mustParse(t, `event.trigger_count > 1`).Counters(); len(got) != 0 {
			t.Errorf("Counters() = %v for a field named trigger_count", got)
		}
	})
}

func TestText(t *testing.T) {
	text := "  event.summary contains 'disk'\n"
	if got := mustParse(t, text).Text(); got != text {
		t.Errorf("Text() = %q, want %q", got, text)
	}
}

func TestLiterals(t *testing.T) {
	// Each condition compares a literal with event.value set to want.
	for _, tc := range []struct {
		literal string
		want    any
	}{
		{`'hey a string'`, "hey a string"},
		{`Platin`, "Platin"},
		{`'the system\'s up'`, "the system's up"},
		{`'an escaped \\ backslash'`, `an escaped \ backslash`},
		{`'\d+ stays'`, `\d+ stays`},
		{`"double \"quoted\""`, `double "quoted"`},
		{`"it's"`, "it's"},
		{`''`, ""},
		{`'multi
line'`, "multi\nline"},
		{`key\ with\ spaces`, "key with spaces"},
		{`\for`, "for"},
		{`\event.summary`, "event.summary"},
		{`'and'`, "and"},
		{`example.com`, "example.com"},
		{`10.0.0.1`, "10.0.0.1"},
		{`1e5x`, "1e5x"},
		{`über`, "über"},
		{`a:b/c?d`, "a:b/c?d"},
		{`42`, float64(42)},
		{`-24`, float64(-24)},
		{`0.42`, 0.42},
		{`-1.5e3`, -1500.0},
		{`9223372036854775807`, json.Number("9223372036854775807")},
		{`true`, true},
		{`false`, false},
		{`nil`, nil},
		{`["one", 'two', 3, nil, [true]]`, []any{"one", "two", float64(3), nil, []any{true}}},
		{`{"id": 1, 'type': "SUPPORT_HOUR", key: [], x: {}}`, map[string]any{"id": float64(1), "type": "SUPPORT_HOUR", "key": []any{}, "x": map[string]any{}}},
	} {
		text := "event.value exact_matches " + tc.literal
		env := condition.Env{Data: map[string]any{"event": map[string]any{"value": tc.want}}}
		if !mustParse(t, text).Eval(env) {
			t.Errorf("%s does not equal %#v", tc.literal, tc.want)
		}
	}
}

func TestWindows(t *testing.T) {
	good := map[string]time.Duration{
		"5s": 5 * time.Second, "PT5S": 5 * time.Second, "30s": 30 * time.Second, "10m": 10 * time.Minute,
		"2h": 2 * time.Hour, "1d": 24 * time.Hour, "2d": 48 * time.Hour, "1h30m": 90 * time.Minute,
		"PT1H30M": 90 * time.Minute, "P1D": 24 * time.Hour, "P1DT12H": 36 * time.Hour, "PT172800S": 48 * time.Hour,
		"10M": 10 * time.Minute, "pt3m": 3 * time.Minute,
	}
	for in, want := range good {
		c, err := condition.Parse("trigger_count." + in + " > 1")
		if err != nil {
			t.Errorf("window %s: %v", in, err)
			continue
		}
		if got := c.Counters()[0].Window; got != want {
			t.Errorf("window %s = %v, want %v", in, got, want)
		}
	}
	bad := map[string]string{
		"4s":          "between 5 seconds and 2 days",
		"PT4S":        "between 5 seconds and 2 days",
		"0m":          "between 5 seconds and 2 days",
		"3d":          "between 5 seconds and 2 days",
		"P1W":         "between 5 seconds and 2 days",
		"PT48H1S":     "between 5 seconds and 2 days",
		"999999d":     "between 5 seconds and 2 days",
		"P999999W":    "between 5 seconds and 2 days",
		"10":          "not a duration",
		"m":           "not a duration",
		"10x":         "not a duration",
		"10m10m":      "not a duration",
		"P":           "not a duration",
		"PT":          "not a duration",
		"P1H":         "not a duration",
		"PT1D":        "not a duration",
		"1.5h":        "unexpected",
		"9999999999s": "not a duration",
	}
	for in, want := range bad {
		_, err := condition.Parse("trigger_count." + in + " > 1")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("window %s: error %v, want one saying %q", in, err, want)
		}
	}
}

func ExampleCondition_Eval() {
	c, err := condition.Parse(`event.customDetails.env == 'prod' and event.summary contains 'disk'`)
	if err != nil {
		fmt.Println(err)
		return
	}
	env := condition.Env{Data: map[string]any{"event": map[string]any{
		"summary":       "Disk full on db-1",
		"customDetails": map[string]any{"env": "PROD"},
	}}}
	fmt.Println(c.Eval(env))
	// Output: true
}

func ExampleParse_error() {
	_, err := condition.Parse(`event.summary contains disk full`)
	fmt.Println(err)
	// Output: line 1, column 29: unexpected "full"; expected and, or or the end of the condition (quote text that contains spaces: 'like this')
}
