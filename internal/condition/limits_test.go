package condition_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/condition"
)

// A regular expression whose compiled program is too large is refused when the condition is
// saved, where the pattern is: matching costs the text's length times the program's size.
func TestParseRefusesLargeRegex(t *testing.T) {
	for _, pattern := range []string{`x{1000}y`, `x{600}y{600}`, `[a-z]{999}y`, `(a{500}|b{500})`} {
		_, err := condition.Parse("event.t regex '" + pattern + "'")
		var se *condition.SyntaxError
		if !errors.As(err, &se) || se.Line != 1 || se.Column != 15 || !strings.Contains(se.Msg, "too large") ||
			!strings.Contains(se.Msg, "1000") {
			t.Errorf("%s: error %v, want one at line 1, column 15 saying it is too large (over 1000)", pattern, err)
		}
	}
	for _, pattern := range []string{`x{990}y`, `(?:x{30}){30}y`, `[a-z]{500}y`, `^disk (full|usage)`, `\d{1,3}(\.\d{1,3}){3}`} {
		if _, err := condition.Parse("event.t exact_regex '" + pattern + "'"); err != nil {
			t.Errorf("%s: %v", pattern, err)
		}
	}
}

// Counters stop at condition.MaxCount; a comparison that would need a count above it could
// never change, and is refused where the number is.
func TestParseRefusesUnreachableCount(t *testing.T) {
	if condition.MaxCount != 10000 {
		t.Fatalf("MaxCount = %d; the docs say 10,000", condition.MaxCount)
	}
	for text, column := range map[string]int{
		`trigger_count.2d > 10000`:                                    20,
		`trigger_count.2d >= 10001`:                                   21,
		`trigger_count.2d == 20000`:                                   21,
		`trigger_count.2d < 10000.5`:                                  20,
		`trigger_count.2d not > 10000`:                                24,
		`resetting_trigger_count.10m != '12000'`:                      32,
		`10000 < trigger_count.1h`:                                    1,
		`50000 >= resetting_trigger_count.1h`:                         1,
		`trigger_count.1h in [1, 10001]`:                              21,
		`event.x == 1 or trigger_count.1h > 1.0e5`:                    36,
		`trigger_count.10m >= 1 and trigger_count.10m == 99999999999`: 49,
	} {
		_, err := condition.Parse(text)
		var se *condition.SyntaxError
		if !errors.As(err, &se) || se.Line != 1 || se.Column != column || !strings.Contains(se.Msg, "10000") {
			t.Errorf("%s: error %v, want one at line 1, column %d naming the limit 10000", text, err, column)
		}
	}
	for _, text := range []string{`trigger_count.2d >= 10000`, `trigger_count.2d == 10000`, `trigger_count.2d < 10000`,
		`10000 > trigger_count.1h`, `trigger_count.1h in [1, 10000]`, `trigger_count.1h > 9999.5`, `event.x > 20000`,
		`trigger_count.1h > -5`, `trigger_count.1h == resetting_trigger_count.1h`, `trigger_count.1h contains 20000`} {
		if _, err := condition.Parse(text); err != nil {
			t.Errorf("%s: %v", text, err)
		}
	}
}

// The messages docs/conditions.md shows for these mistakes.
func TestLimitMessages(t *testing.T) {
	for text, want := range map[string]string{
		`event.x regex 'x{1000}y'`:  "line 1, column 15: the regular expression is too large: it compiles to 1003 instructions, at most 1000 are allowed (use smaller repetitions such as {n})",
		`trigger_count.2d >= 20000`: "line 1, column 21: trigger_count.2d stops counting at 10000 events; compare it with a number up to 10000",
		`trigger_count.2d > 10000`:  "line 1, column 20: trigger_count.2d stops counting at 10000 events, so it is never more than 10000",
	} {
		if _, err := condition.Parse(text); err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", text, err, want)
		}
	}
}

// Elements of a list in the data compare as values from the data do, whatever Go type holds
// them: in reads each as the paths do.
func TestInListElementsOfEveryType(t *testing.T) {
	env := condition.Env{Data: map[string]any{"event": map[string]any{
		"ints":    []any{int(3), uint8(7)},
		"numbers": []any{json.Number("42"), json.Number("0.5")},
		"lists":   []any{[]string{"a", "b"}},
		"objects": []any{map[string]string{"k": "v"}},
	}}}
	for _, text := range []string{`7 in event.ints`, `'3' in event.ints`, `42 in event.numbers`, `'0.50' in event.numbers`,
		`['A', 'b'] in event.lists`, `{k: 'V'} in event.objects`} {
		if !mustParse(t, text).Eval(env) {
			t.Errorf("%s is false", text)
		}
	}
}
