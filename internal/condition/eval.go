package condition

import (
	"cmp"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// node is a boolean expression. Once st is out of work, every node is false.
type node interface{ eval(st *state) bool }

type orNode []node

func (n orNode) eval(st *state) bool {
	for _, t := range n {
		if t.eval(st) {
			return !st.exhausted
		}
		if st.exhausted {
			return false
		}
	}
	return false
}

type andNode []node

func (n andNode) eval(st *state) bool {
	for _, t := range n {
		if !t.eval(st) || st.exhausted {
			return false
		}
	}
	return true
}

type notNode struct{ n node }

func (n notNode) eval(st *state) bool { return !n.n.eval(st) && !st.exhausted }

// truthNode is a value standing alone: true only when the value is the boolean true.
type truthNode struct{ o operand }

func (n truthNode) eval(st *state) bool {
	if !st.charge(costCompare) {
		return false
	}
	b, ok := n.o.get(st).(bool)
	return ok && b && !st.exhausted
}

// cmpNode is a comparison. When its operands cannot be compared it is false, also when the
// operator is negated: `event.missing not_contains 'x'` is false, `not (event.missing
// contains 'x')` is true.
type cmpNode struct {
	opSpec
	lhs, rhs  operand
	re        *regexp.Regexp // the pattern of regex, compiled by Parse
	reCost    int64          // the work of matching re, per byte: its program's size × costRegex
	needle    string         // a literal right side, folded unless exact
	hasNeedle bool
	list      []string // a literal list for the _any operators, folded unless exact
	hasList   bool
	ref       Ref // the object of is_in
}

func (n *cmpNode) eval(st *state) bool {
	if !st.charge(costCompare) {
		return false
	}
	result, ok := n.compare(st)
	return ok && result != n.negate && !st.exhausted
}

// compare makes the comparison; ok is false when it cannot be made, or st ran out of work.
func (n *cmpNode) compare(st *state) (result, ok bool) {
	a := n.lhs.get(st)
	if n.kind == opIsIn {
		t, ok := st.time(a)
		if !ok || st.IsIn == nil || !st.charge(costCall) {
			return false, false
		}
		in, err := st.IsIn(n.ref, t)
		return in, err == nil
	}
	b := n.rhs.get(st)
	if st.exhausted {
		return false, false
	}
	switch n.kind {
	case opEq:
		return st.equal(a, b, n.exact, 0), true
	case opLt, opLe, opGt, opGe:
		c, ok := st.order(a, b)
		if !ok {
			return false, false
		}
		switch n.kind {
		case opLt:
			return c < 0, true
		case opLe:
			return c <= 0, true
		case opGt:
			return c > 0, true
		}
		return c >= 0, true
	case opContains, opStartsWith, opEndsWith:
		s, ok := toText(a)
		if !ok {
			return false, false
		}
		needle := n.needle
		if !n.hasNeedle {
			if needle, ok = toText(b); !ok {
				return false, false
			}
			needle = st.fold(needle, n.exact)
		}
		s = st.fold(s, n.exact)
		if !st.charge(matchCost(n.kind, s, needle)) {
			return false, false
		}
		return textMatch(n.kind, s, needle), true
	case opRegex:
		s, ok := toText(a)
		if !ok || !st.charge(int64(len(s)+1)*n.reCost) {
			return false, false
		}
		return n.re.MatchString(s), true
	case opContainsAny, opStartsWithAny, opEndsWithAny:
		s, ok := toText(a)
		if !ok {
			return false, false
		}
		s = st.fold(s, n.exact)
		base := n.kind - (opContainsAny - opContains)
		if n.hasList {
			for _, x := range n.list {
				if !st.charge(matchCost(base, s, x)) {
					return false, false
				}
				if textMatch(base, s, x) {
					return true, true
				}
			}
			return false, true
		}
		list, ok := listOf(b)
		if !ok {
			return false, false
		}
		for _, x := range list {
			if !st.charge(costElement) {
				return false, false
			}
			t, ok := toText(st.value(x))
			if !ok {
				continue
			}
			if t = st.fold(t, n.exact); !st.charge(matchCost(base, s, t)) {
				return false, false
			}
			if textMatch(base, s, t) {
				return true, true
			}
		}
		return false, true
	case opIn:
		list, ok := listOf(b)
		if !ok {
			return false, false
		}
		for _, x := range list {
			if st.equal(a, st.value(x), n.exact, 0) {
				return true, true
			}
			if st.exhausted {
				return false, false
			}
		}
		return false, true
	}
	return false, false
}

// listOf returns a list from the data, at most its first maxItems elements, so that a list
// in an event costs no more than one written in the condition.
func listOf(v any) ([]any, bool) {
	list, ok := v.([]any)
	return list[:min(len(list), maxItems)], ok
}

func textMatch(kind opKind, s, sub string) bool {
	switch kind {
	case opContains:
		return strings.Contains(s, sub)
	case opStartsWith:
		return strings.HasPrefix(s, sub)
	case opEndsWith:
		return strings.HasSuffix(s, sub)
	}
	return false
}

// fold prepares text for a case-insensitive comparison; Parse folds literals with it, and
// an evaluation its values with state.fold.
func fold(s string, exact bool) string {
	if exact {
		return s
	}
	return strings.ToLower(s)
}

// operand is one side of a comparison. get returns the value as scalar does; nil when st
// runs out of work.
type operand interface{ get(st *state) any }

// literal is a constant: nil, bool, int64, float64, string, []any or map[string]any.
type literal struct{ v any }

func (l literal) get(*state) any { return l.v }

type nowOperand struct{}

func (nowOperand) get(st *state) any { return st.Now }

type counterOperand struct {
	c    Counter
	name string // as written, for error messages
}

func (o counterOperand) get(st *state) any { return st.count(o.c) }

// pathOperand reads a value from Env.Data; a missing value is nil.
type pathOperand struct {
	root  string
	steps []step
}

// step is .name, ['key'] or [index]. An index is also tried as a key on objects.
type step struct {
	key     string
	index   int
	isIndex bool
}

func (p *pathOperand) get(st *state) any {
	v, ok := st.Data[p.root]
	if !ok {
		return nil
	}
	for _, s := range p.steps {
		switch c := v.(type) {
		case map[string]any:
			v = c[s.key]
		case map[string]string:
			x, ok := c[s.key]
			if !ok {
				return nil
			}
			v = x
		case []any:
			if !s.isIndex || s.index >= len(c) {
				return nil
			}
			v = c[s.index]
		case []string:
			if !s.isIndex || s.index >= len(c) {
				return nil
			}
			v = c[s.index]
		default:
			return nil
		}
	}
	return st.value(v)
}

// scalar brings a value from the data to the types the comparisons know: nil, bool, int64,
// float64, string, time.Time, []any and map[string]any. Other types are returned as they
// are, and compare as nothing.
func scalar(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
		return string(v)
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint:
		return unsigned(uint64(v))
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		return unsigned(v)
	case float32:
		return float64(v)
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(v))
		for k, s := range v {
			out[k] = s
		}
		return out
	}
	return v
}

func unsigned(u uint64) any {
	if u > math.MaxInt64 {
		return float64(u)
	}
	return int64(u)
}

// equal is == and matches: nil equals only nil; numbers, booleans and datetimes compare with
// text that reads as one ('1' == 1); text compares case-insensitively unless exact; lists and
// objects compare element by element. a and b are as scalar returns them; their elements are
// read with state.value.
func (st *state) equal(a, b any, exact bool, depth int) bool {
	if depth > maxDepth || !st.charge(costElement) {
		return false
	}
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if ta, ok := a.(time.Time); ok {
		tb, ok := st.time(b)
		return ok && ta.Equal(tb)
	}
	if tb, ok := b.(time.Time); ok {
		ta, ok := st.time(a)
		return ok && ta.Equal(tb)
	}
	if ta, tb, dt, ok := st.datetimes(a, b); dt || st.exhausted {
		return ok && ta.Equal(tb)
	}
	switch x := a.(type) {
	case bool:
		switch y := b.(type) {
		case bool:
			return x == y
		case string:
			v, ok := parseBool(y)
			return ok && v == x
		}
	case int64, float64:
		if _, isBool := b.(bool); isBool {
			return false
		}
		if y, ok := st.number(b); ok {
			c, ok := compareNumbers(x, y)
			return ok && c == 0
		}
	case string:
		switch y := b.(type) {
		case string:
			if exact {
				return len(x) == len(y) && st.charge(int64(len(x)/16)) && x == y
			}
			return st.charge(costFold*int64(min(len(x), len(y)))) && strings.EqualFold(x, y)
		case bool:
			v, ok := parseBool(x)
			return ok && v == y
		case int64, float64:
			if n, ok := st.number(x); ok {
				c, ok := compareNumbers(n, y)
				return ok && c == 0
			}
		}
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !st.equal(st.value(x[i]), st.value(y[i]), exact, depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !st.charge(costKey) {
				return false
			}
			w, ok := y[k]
			if !ok || !st.equal(st.value(v), st.value(w), exact, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// order compares a and b as datetimes when either is one (now, or text in ISO form), else as
// numbers; ok is false when they are neither. a and b are as scalar returns them.
func (st *state) order(a, b any) (c int, ok bool) {
	_, aTime := a.(time.Time)
	_, bTime := b.(time.Time)
	if !aTime && !bTime {
		ta, tb, dt, ok := st.datetimes(a, b)
		if dt {
			return ta.Compare(tb), ok
		}
		x, ok := st.number(a)
		if !ok {
			return 0, false
		}
		y, ok := st.number(b)
		if !ok {
			return 0, false
		}
		return compareNumbers(x, y)
	}
	ta, ok := st.time(a)
	if !ok {
		return 0, false
	}
	tb, ok := st.time(b)
	if !ok {
		return 0, false
	}
	return ta.Compare(tb), true
}

// compareNumbers compares two int64 or float64 values: exactly when both are integers, at
// float precision otherwise. ok is false for NaN.
func compareNumbers(a, b any) (int, bool) {
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		return cmp.Compare(ai, bi), true
	}
	x, y := asFloat(a), asFloat(b)
	if math.IsNaN(x) || math.IsNaN(y) {
		return 0, false
	}
	return cmp.Compare(x, y), true
}

func asFloat(v any) float64 {
	if i, ok := v.(int64); ok {
		return float64(i)
	}
	f, _ := v.(float64)
	return f
}

// toNumber returns v as an int64 or float64: numbers as they are, text that reads as a
// decimal number (' 42 ', '-1.5', '2.5e3') converted.
func toNumber(v any) (any, bool) {
	switch v := scalar(v).(type) {
	case int64, float64:
		return v, true
	case string:
		s := strings.TrimPrefix(strings.TrimSpace(v), "+")
		n, ok, err := parseNumber(s)
		if !ok {
			return nil, false
		}
		if err != nil { // an integer beyond 64 bits, or a float beyond float64
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsInf(f, 0) {
				return nil, false
			}
			return f, true
		}
		return n, true
	}
	return nil, false
}

// toText returns v as text for the string operators: text as it is, numbers and booleans
// written out.
func toText(v any) (string, bool) {
	switch v := scalar(v).(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

func parseBool(s string) (v, ok bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// epochMillis is where epoch numbers switch from seconds to milliseconds: 1e11 seconds is the
// year 5138, 1e11 milliseconds is March 1973.
const epochMillis = 1e11

// toTime returns v as a datetime: now as it is, text in ISO form, numbers (and text that
// reads as a number) as epoch seconds or, from 1e11 on, epoch milliseconds.
func toTime(v any) (time.Time, bool) {
	switch v := scalar(v).(type) {
	case time.Time:
		return v, true
	case int64:
		if v >= epochMillis || v <= -epochMillis {
			return time.UnixMilli(v), true
		}
		return time.Unix(v, 0), true
	case float64:
		if math.IsNaN(v) || math.Abs(v) >= 1e17 {
			return time.Time{}, false
		}
		if math.Abs(v) >= epochMillis {
			v /= 1000
		}
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(frac*1e9)), true
	case string:
		if t, ok := parseDatetime(v); ok {
			return t, true
		}
		if n, ok := toNumber(v); ok {
			return toTime(n)
		}
	}
	return time.Time{}, false
}

// mayBeDatetime reports whether s has the length and the dashes of text in ISO form: what
// parseDatetime does not refuse at once.
func mayBeDatetime(s string) bool {
	return len(s) >= 10 && len(s) <= 40 && s[4] == '-' && s[7] == '-'
}

// datetimeLayouts are the ISO forms of datetimes; those without a zone are UTC.
var datetimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"}

func parseDatetime(s string) (time.Time, bool) {
	if !mayBeDatetime(s) {
		return time.Time{}, false
	}
	for _, layout := range datetimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// datetimes reports whether a and b compare as datetimes without either being one (dt): one
// is text in ISO form, the other too or a number (epoch seconds or milliseconds). It returns
// both as datetimes, and whether both could be read so (ok).
func (st *state) datetimes(a, b any) (ta, tb time.Time, dt, ok bool) {
	ta, aISO := st.isoTime(a)
	tb, bISO := st.isoTime(b)
	switch {
	case aISO && bISO:
		return ta, tb, true, true
	case aISO && isNumber(b):
		tb, ok = toTime(b)
		return ta, tb, true, ok
	case bISO && isNumber(a):
		ta, ok = toTime(a)
		return ta, tb, true, ok
	}
	return ta, tb, false, false
}

func isNumber(v any) bool {
	switch v.(type) {
	case int64, float64:
		return true
	}
	return false
}

// isoTime reads text in ISO form as a datetime.
func (st *state) isoTime(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok || !mayBeDatetime(s) || !st.charge(costDatetime) {
		return time.Time{}, false
	}
	return parseDatetime(s)
}

// time is toTime, charging its work.
func (st *state) time(v any) (time.Time, bool) {
	if s, ok := v.(string); ok {
		cost := costNumber * int64(len(s))
		if mayBeDatetime(s) {
			cost += costDatetime
		}
		if !st.charge(cost) {
			return time.Time{}, false
		}
	}
	return toTime(v)
}

// number is toNumber, charging its work.
func (st *state) number(v any) (any, bool) {
	if s, ok := v.(string); ok && !st.charge(costNumber*int64(len(s))) {
		return nil, false
	}
	return toNumber(v)
}
