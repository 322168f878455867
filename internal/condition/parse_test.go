package condition_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/condition"
)

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		text         string
		line, column int
		msg          string // a part of the message
	}{
		{"", 1, 1, "the condition is empty"},
		{"  \n ", 1, 1, "the condition is empty"},
		{"event.summary contains disk full", 1, 29, `unexpected "full"; expected and, or or the end of the condition (quote text that contains spaces`},
		{"event.summary contains", 1, 23, "expected a value, found the end of the condition"},
		{"'x'", 1, 4, "expected an operator after 'x'"},
		{"42 and true", 1, 4, "expected an operator after 42"},
		{"trigger_count.10m", 1, 18, "expected an operator after trigger_count.10m"},
		{"event.x = 1", 1, 9, "use == to compare, not ="},
		{"event.x ! 1", 1, 9, "! is not an operator"},
		{"event.x eq 1", 1, 9, "eq is a reserved word, not an operator; use =="},
		{"event.x lte 1", 1, 9, "use <="},
		{"event.x for 1", 1, 9, "for is a reserved word, not an operator"},
		{"event.x has 1", 1, 9, "unknown operator has"},
		{"event.x exact_is_in {}", 1, 9, "unknown operator exact_is_in"},
		{"event.x ~ 1", 1, 9, `unexpected "~"; expected an operator such as ==, contains or in`},
		{"event.x not", 1, 12, "expected an operator such as ==, contains or in, found the end of the condition"},
		{"event.x not 1", 1, 13, "expected an operator after not, found 1"},
		{"event.x not not_contains 1", 1, 9, "not before not_contains negates it twice"},
		{"event.x not != 1", 1, 9, "not before != negates it twice"},
		{"(event.x == 1", 1, 14, "missing ) to close the ( at line 1, column 1"},
		{"event.x == 1)", 1, 13, "unmatched )"},
		{"event.x == (1)", 1, 12, `expected a value, found "("`},
		{"event.x == 1 and", 1, 17, "expected a value, found the end of the condition"},
		{"event.x == 1 or or", 1, 17, "expected a value, found the keyword or"},
		{"event.x == 1 2", 1, 14, `unexpected "2"; expected and, or or the end`},
		{"not", 1, 4, "expected a value"},
		{"event.x == 'abc", 1, 12, "unterminated string: the ' opened here is never closed"},
		{`event.x == "it\"s`, 1, 12, `unterminated string: the " opened here`},
		{"event.x == 'a\\'", 1, 12, "unterminated string"},
		{"event.x regex '(abc'", 1, 15, "invalid regular expression: missing closing ): `(abc`"},
		{"event.x exact_regex '[z-a]'", 1, 21, "invalid regular expression: invalid character class range"},
		{"event.x not_regex 'a{2,1}'", 1, 19, "invalid regular expression"},
		{"event.x regex 'a{1001}'", 1, 15, "invalid regular expression"}, // RE2's repeat limit
		{"trigger_count.1s > 1", 1, 15, "trigger_count.1s: the window must be between 5 seconds and 2 days"},
		{"resetting_trigger_count.3d > 1", 1, 25, "between 5 seconds and 2 days"},
		{"trigger_count > 1", 1, 1, "trigger_count needs a window, e.g. trigger_count.10m"},
		{"trigger_count.10m5 > 1", 1, 15, "the window is not a duration such as 30s, 10m, 2h, 1d or PT10M"},
		{"event.my-key == 1", 1, 9, `unexpected "-key" in the path; write field names that are not identifiers in brackets, e.g. ['my-key']`},
		{"event.0 == 1", 1, 7, "expected a field name after the dot; write other names in brackets, e.g. ['0']"},
		{"event. == 1", 1, 7, "expected a field name after the dot"},
		{"event.x[ == 1", 1, 10, `expected a field name or an index in the brackets, found "="`},
		{"event.x[] == 1", 1, 9, "expected a field name or an index in the brackets"},
		{"event.x['a' == 1", 1, 13, `unexpected "="; expected ] to close the [`},
		{"event.x[99999999999999999999] == 1", 1, 9, "the index 99999999999999999999 is out of range"},
		{"event.x == [1, 2", 1, 17, "missing ] to close the list"},
		{"event.x == [1 2]", 1, 15, `unexpected "2"; expected , or ] in the list`},
		{"event.x == [1,]", 1, 15, `expected a value, found "]"`},
		{`event.x == {"a" 1}`, 1, 17, `unexpected "1"; expected : after the key`},
		{`event.x == {"a": 1, "a": 2}`, 1, 21, `the key "a" appears twice in the object`},
		{`event.x == {"a": 1`, 1, 19, "missing } to close the object"},
		{`event.x == {1: 1}`, 1, 13, `expected a key such as "id" in the object`},
		{"event.x == {a: now}", 1, 16, "now cannot be used inside an array or object"},
		{"event.x == 99999999999999999999", 1, 12, "the number 99999999999999999999 is out of range"},
		{"event.x == 1.5e999", 1, 12, "the number 1.5e999 is out of range"},
		{"now is_in 5", 1, 11, `is_in needs an object on its right, e.g. {"id": 1, "type": "SUPPORT_HOUR"}`},
		{"event.x is_in event.y", 1, 15, "is_in needs an object on its right"},
		{`now is_in {"id": 1}`, 1, 11, "is_in: the object needs a type, SUPPORT_HOUR or ON_CALL_SCHEDULE"},
		{`now is_in {"type": "SUPPORT_HOUR"}`, 1, 11, "is_in: the object needs an id"},
		{`now not is_in {"id": 1, "type": "TEAM"}`, 1, 15, "not is_in: the type must be SUPPORT_HOUR or ON_CALL_SCHEDULE"},
		{`now is_in {"id": 1.5, "type": "SUPPORT_HOUR"}`, 1, 11, "the id must be a whole number"},
		{`now is_in {"id": 0, "type": "SUPPORT_HOUR"}`, 1, 11, "the id must be positive"},
		{`now is_in {"id": 1, "type": "SUPPORT_HOUR", "x": 1}`, 1, 11, `unknown key "x"`},
		{`'abc' is_in {"id": 1, "type": "SUPPORT_HOUR"}`, 1, 1, "is_in needs a datetime on its left"},
		{"event.x contains [1]", 1, 18, "contains needs text on its right; use contains_any with a list"},
		{"event.x not_exact_ends_with ['a']", 1, 29, "use ends_with_any with a list"},
		{"event.x starts_with nil", 1, 21, "starts_with needs text on its right"},
		{"event.x regex ['a']", 1, 15, "regex needs text on its right"},
		{"event.x regex event.pattern", 1, 15, "regex needs a pattern written in the condition, such as '^disk'"},
		{"event.x not exact_regex event.pattern", 1, 25, "not exact_regex needs a pattern written in the condition"},
		{"event.x contains_any 'a'", 1, 22, `contains_any needs a list on its right, e.g. ["a", "b"]`},
		{"event.x contains_any [[1]]", 1, 22, "contains_any needs a list of text, numbers or booleans"},
		{"event.x in 'a'", 1, 12, "in needs a list or a path on its right"},
		{"event.x == for", 1, 12, "for is a reserved word; quote it ('for') to use it as text"},
		{"event.x == and", 1, 12, "expected a value, found the keyword and; quote it ('and')"},
		{"exact_matches == 1", 1, 1, "found the keyword exact_matches"},
		{"event.x != != 1", 1, 12, `expected a value, found "!"`},
		{"true false", 1, 6, "unknown operator false"},
		{"event.x ==\n  'a' and\n  event.y ~ 2", 3, 11, `unexpected "~"`},
		{"event.x == 'ü' and\n\tfür", 2, 5, "expected an operator after für"},
		{"event.x == 'ü' and\r\n für", 2, 5, "expected an operator after für"},
	} {
		_, err := condition.Parse(tc.text)
		var se *condition.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", tc.text, err)
			continue
		}
		if se.Line != tc.line || se.Column != tc.column || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("Parse(%q) = %v\n\twant line %d, column %d: …%s…", tc.text, err, tc.line, tc.column, tc.msg)
		}
	}
}

func TestSyntaxErrorText(t *testing.T) {
	_, err := condition.Parse("event.x == 1 and\n  event.y === 2")
	want := "line 2, column 13: expected a value, found \"=\""
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	var se *condition.SyntaxError
	if errors.As(err, &se) && se.Offset != 29 {
		t.Errorf("Offset = %d, want 29", se.Offset)
	}
}

func TestReservedWords(t *testing.T) {
	words := strings.Fields("break at do as const continue def else end eq function for gte gt if import is let lte lt loop namespace package require return var void when while")
	for _, w := range words {
		for _, text := range []string{"event.x == " + w, w + " == event.x", "event.x in [" + w + "]"} {
			_, err := condition.Parse(text)
			if err == nil || !strings.Contains(err.Error(), w+" is a reserved word; quote it ('"+w+"')") {
				t.Errorf("Parse(%q) = %v, want the reserved-word error", text, err)
			}
		}
		if _, err := condition.Parse("event.x " + w + " 1"); err == nil || !strings.Contains(err.Error(), w+" is a reserved word, not an operator") {
			t.Errorf("%s as an operator: %v", w, err)
		}
		for _, text := range []string{"event.x == '" + w + "'", `event.x == "` + w + `"`, `event.x == \` + w, "event." + w + " == 1", "event.x == " + w + "s"} {
			if _, err := condition.Parse(text); err != nil {
				t.Errorf("Parse(%q): %v", text, err)
			}
		}
	}
}

func TestLimits(t *testing.T) {
	long := strings.Repeat("event.x == 1 or ", 624) + "event.x == 'abcdef'" // 10,003 characters
	t.Run("ErrTooLong", func(t *testing.T) {
		_, err := condition.Parse(long)
		var se *condition.SyntaxError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, "longer than 10000 characters") || se.Column != 10001 {
			t.Errorf("error %v", err)
		}
		// Characters, not bytes, count.
		if _, err := condition.Parse("event.x == '" + strings.Repeat("é", 9980) + "'"); err != nil {
			t.Errorf("9,993 characters: %v", err)
		}
	})
	t.Run("LongestAllowed", func(t *testing.T) {
		if _, err := condition.Parse(long[:len(long)-4] + "'"); err != nil {
			t.Errorf("10,000 characters: %v", err)
		}
	})
	t.Run("ErrTooDeep", func(t *testing.T) {
		for _, text := range []string{
			strings.Repeat("(", 65) + "true" + strings.Repeat(")", 65),
			strings.Repeat("not ", 65) + "true",
			"event.x == " + strings.Repeat("[", 65) + strings.Repeat("]", 65),
			"event.x == " + strings.Repeat("{a:", 65) + "1" + strings.Repeat("}", 65),
		} {
			if _, err := condition.Parse(text); err == nil || !strings.Contains(err.Error(), "nested too deeply (more than 64 levels)") {
				t.Errorf("Parse(%.20q…) = %v", text, err)
			}
		}
		if _, err := condition.Parse(strings.Repeat("(", 64) + "true" + strings.Repeat(")", 64)); err != nil {
			t.Errorf("64 levels: %v", err)
		}
	})
	t.Run("ErrTooManyElements", func(t *testing.T) {
		list := "[" + strings.Repeat("1,", 1000) + "1]"
		if _, err := condition.Parse("event.x in " + list); err == nil || !strings.Contains(err.Error(), "more than 1000 elements") {
			t.Errorf("1001 elements: %v", err)
		}
		if _, err := condition.Parse("event.x in [" + strings.Repeat("1,", 999) + "1]"); err != nil {
			t.Errorf("1000 elements: %v", err)
		}
	})
	t.Run("ManyTerms", func(t *testing.T) {
		// Long chains of and/or are not nesting.
		c, err := condition.Parse(strings.Repeat("false or ", 1000) + "true")
		if err != nil || !c.Eval(condition.Env{}) {
			t.Errorf("1001 terms: %v", err)
		}
	})
	t.Run("ListFromData", func(t *testing.T) {
		// in and the _any operators look at the first 1000 elements of a list in the data.
		list := make([]any, 1001)
		for i := range list {
			list[i] = fmt.Sprint("item-", i)
		}
		env := condition.Env{Data: map[string]any{"event": map[string]any{"list": list}}}
		for text, want := range map[string]bool{
			`'item-999' in event.list`:               true,
			`'item-1000' in event.list`:              false,
			`'a item-999' ends_with_any event.list`:  true,
			`'a item-1000' ends_with_any event.list`: false,
		} {
			if got := mustParse(t, text).Eval(env); got != want {
				t.Errorf("%s: got %v, want %v", text, got, want)
			}
		}
		env.Data["event"].(map[string]any)["list"] = list[1000:]
		if mustParse(t, `'item-1000' not_in event.list`).Eval(env) {
			t.Error("item-1000 is not in its own list")
		}
	})
}
