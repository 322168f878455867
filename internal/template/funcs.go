package template

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type paramKind int

const (
	paramString paramKind = iota
	paramInt              // a whole number from 0 to MaxInt32
	paramRegex            // a string holding an RE2 regular expression, compiled by Parse
)

// function is one ITL function. Parse has checked the arguments against params, so apply may
// rely on their number and kinds. apply gets the value the variable names (nil when it is
// missing) and returns the text to render. It pays for the work it does from m before doing
// it, returning nothing when m runs out, and returns what is left of m. (m is passed by value
// so that a render's meter stays on its stack.)
type function struct {
	name   string
	params []paramKind
	min    int // how many of params are required
	apply  func(v any, c *call, m meter) (string, meter)
}

func (f *function) arity() string {
	switch n := len(f.params); {
	case n == 0:
		return "takes no arguments"
	case f.min == n && n == 1:
		return "takes 1 argument"
	case f.min == n:
		return fmt.Sprintf("takes %d arguments", n)
	case f.min == 0 && n == 1:
		return "takes at most 1 argument"
	default:
		return fmt.Sprintf("takes %d or %d arguments", f.min, n)
	}
}

// functions is the whole set: ITL has no other.
var functions = buildFunctions()

func buildFunctions() map[string]*function {
	fs := map[string]*function{}
	add := func(name string, min int, params []paramKind, apply func(v any, c *call, m meter) (string, meter)) *function {
		f := &function{name: name, params: params, min: min, apply: apply}
		fs[name] = f
		return f
	}
	// onString applies fn to the text of the value, first paying cost(s, c) for it; the
	// renderer pays for the result.
	onString := func(cost func(s string, c *call) int64, fn func(s string, c *call) string) func(v any, c *call, m meter) (string, meter) {
		return func(v any, c *call, m meter) (string, meter) {
			s := stringOf(v, &m)
			if !m.spend(cost(s, c)) {
				return "", m
			}
			return fn(s, c), m
		}
	}
	// Most functions read the text and their string arguments once.
	reading := func(s string, c *call) int64 {
		n := len(s)
		for _, a := range c.args {
			n += len(a.s)
		}
		return int64(n) * costByte
	}
	// replaceAll and splitTakeAt also pay for every place where the text may be cut.
	cutting := func(s string, c *call) int64 {
		return reading(s, c) + int64(len(s)/max(len(c.args[0].s), 1)+1)*costPiece
	}
	// Changing case goes character by character.
	casing := func(s string, _ *call) int64 { return int64(len(s)) * costCase }
	// A regular expression takes time in proportion to the text times its program's size.
	matching := func(s string, c *call) int64 {
		return int64(len(s)+1) * int64(c.reInsts+regexByteInsts) * costRegex
	}

	add("substring", 1, []paramKind{paramInt, paramInt}, onString(reading, substring))
	add("lowerCase", 0, nil, onString(casing, func(s string, _ *call) string { return strings.ToLower(s) }))
	add("upperCase", 0, nil, onString(casing, func(s string, _ *call) string { return strings.ToUpper(s) }))
	add("replaceAll", 2, []paramKind{paramString, paramString}, onString(cutting, func(s string, c *call) string {
		return replaceAll(s, c.args[0].s, c.args[1].s)
	}))
	add("splitTakeAt", 2, []paramKind{paramString, paramInt}, onString(cutting, func(s string, c *call) string {
		return splitTakeAt(s, c.args[0].s, int(c.args[1].n))
	}))

	matches := []struct {
		name string
		test func(s, m string) bool
	}{
		{"startsWith", strings.HasPrefix},
		{"equals", func(s, m string) bool { return s == m }},
		{"endsWith", strings.HasSuffix},
		{"contains", strings.Contains},
	}
	for _, m := range matches {
		for _, mode := range []struct {
			suffix  string
			onMatch bool // replace when the value matches (Take) or when it does not (Else)
			drop    bool // otherwise render nothing instead of the value
		}{
			{"Take", true, false},
			{"TakeOrDrop", true, true},
			{"Else", false, false},
			{"ElseOrDrop", false, true},
		} {
			add(m.name+mode.suffix, 2, []paramKind{paramString, paramString}, onString(reading, func(s string, c *call) string {
				if m.test(s, c.args[0].s) == mode.onMatch {
					return c.args[1].s
				}
				if mode.drop {
					return ""
				}
				return s
			}))
		}
	}

	add("formatUnixMs", 0, []paramKind{paramString}, func(v any, c *call, m meter) (string, meter) {
		return formatUnix(v, c, &m, 1e3), m
	})
	add("formatUnixSec", 0, []paramKind{paramString}, func(v any, c *call, m meter) (string, meter) {
		return formatUnix(v, c, &m, 1), m
	})
	add("formatDateString", 0, []paramKind{paramString}, func(v any, c *call, m meter) (string, meter) {
		return formatDateString(v, c, &m), m
	})
	add("join", 0, []paramKind{paramString}, func(v any, c *call, m meter) (string, meter) {
		return join(v, optional(c, 0, ", "), &m), m
	})
	fs["joinFromObjectArray"] = add("joinFromObjectArr", 1, []paramKind{paramString, paramString}, func(v any, c *call, m meter) (string, meter) {
		return joinFromObjectArr(v, c.args[0].s, optional(c, 1, "\n"), &m), m
	})
	add("extractRegex", 1, []paramKind{paramRegex}, onString(matching, func(s string, c *call) string {
		return c.re.FindString(s)
	}))
	add("extractRegexGroups", 1, []paramKind{paramRegex}, onString(matching, func(s string, c *call) string {
		m := c.re.FindStringSubmatch(s)
		if len(m) <= 1 {
			return strings.Join(m, "") // no match, or no groups: the whole match
		}
		return strings.Join(m[1:], "")
	}))
	return fs
}

func optional(c *call, i int, def string) string {
	if i < len(c.args) {
		return c.args[i].s
	}
	return def
}

// substring takes characters [start, end) of s, counted from 0; indices past the end are
// read as the end.
func substring(s string, c *call) string {
	i := runeOffset(s, int(c.args[0].n))
	if len(c.args) == 1 {
		return s[i:]
	}
	return s[i:runeOffset(s, int(c.args[1].n))]
}

// runeOffset is the byte offset of character n of s, or len(s).
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// replaceAll replaces every old in s with new, producing at most maxOutput bytes. An empty
// old matches before every character and at the end.
func replaceAll(s, old, new string) string {
	if len(new) <= len(old) && old != "" {
		return strings.ReplaceAll(s, old, new)
	}
	w := buffer{limit: maxOutput}
	if old == "" {
		w.WriteString(new)
		for i := 0; i < len(s) && !w.full; {
			_, n := utf8.DecodeRuneInString(s[i:])
			w.WriteString(s[i : i+n])
			w.WriteString(new)
			i += n
		}
		return w.String()
	}
	for !w.full {
		j := strings.Index(s, old)
		if j < 0 {
			w.WriteString(s)
			break
		}
		w.WriteString(s[:j])
		w.WriteString(new)
		s = s[j+len(old):]
	}
	return w.String()
}

// splitTakeAt splits s at each delim and takes part idx (from 0), or nothing when there are
// fewer parts. An empty delim splits s into characters.
func splitTakeAt(s, delim string, idx int) string {
	if delim == "" {
		for i := 0; i < len(s); idx-- {
			_, n := utf8.DecodeRuneInString(s[i:])
			if idx == 0 {
				return s[i : i+n]
			}
			i += n
		}
		return ""
	}
	for ; ; idx-- {
		j := strings.Index(s, delim)
		if j < 0 {
			if idx == 0 {
				return s
			}
			return ""
		}
		if idx == 0 {
			return s[:j]
		}
		s = s[j+len(delim):]
	}
}

// join joins the items of an array; any other value is rendered as it is.
func join(v any, delim string, m *meter) string {
	items, ok := v.([]any)
	if !ok {
		return stringOf(v, m)
	}
	w := buffer{limit: maxOutput}
	for i, item := range items {
		if w.full || !m.spend(costNode) {
			break
		}
		if i > 0 {
			w.WriteString(delim)
		}
		w.WriteString(stringOf(item, m))
	}
	return w.String()
}

// joinFromObjectArr joins field of the objects of an array, skipping items that are not
// objects or lack the field.
func joinFromObjectArr(v any, field, delim string, m *meter) string {
	items, _ := v.([]any)
	w := buffer{limit: maxOutput}
	first := true
	cost := keyCost(step{key: field})
	for _, item := range items {
		if w.full || !m.spend(cost) {
			break
		}
		obj, ok := item.(map[string]any)
		if !ok {
			continue
		}
		fv, ok := obj[field]
		if !ok || fv == nil {
			continue
		}
		if !first {
			w.WriteString(delim)
		}
		first = false
		w.WriteString(stringOf(fv, m))
	}
	return w.String()
}

// The dates a timestamp may be written as: 0001-01-01 to 9999-12-31, UTC.
const (
	minUnixSec = -62135596800
	maxUnixSec = 253402300799
)

// formatUnix formats a number of seconds (perSec 1) or milliseconds (perSec 1000) since
// 1970-01-01 UTC. A value that is not such a number is rendered as it is.
func formatUnix(v any, c *call, m *meter, perSec float64) string {
	// Reading a number from a string reads it, and copies it into the error when it fails.
	n := 0
	switch x := v.(type) {
	case string:
		n = len(x)
	case json.Number:
		n = len(x)
	}
	if !m.spend(int64(n) * costNumber) {
		return ""
	}
	f, ok := toNumber(v)
	if !ok {
		return stringOf(v, m)
	}
	sec := math.Floor(f / perSec)
	if sec < minUnixSec || sec > maxUnixSec {
		return stringOf(v, m)
	}
	nsec := (f - sec*perSec) * (1e9 / perSec)
	return formatTime(time.Unix(int64(sec), int64(nsec)), optional(c, 0, "M"))
}

// dateLayouts are the date strings formatDateString reads; those without a zone are UTC.
// Fractional seconds are accepted after the seconds of any layout that has them.
var dateLayouts = []string{
	time.RFC3339, // 2021-05-25T21:24:56Z, 2021-05-25T21:24:56+02:00
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04Z0700",
	"2006-01-02T15:04",
	"2006-01-02 15:04Z07:00",
	"2006-01-02 15:04Z0700",
	"2006-01-02 15:04",
	"2006-01-02",
	time.RFC1123Z,
	time.RFC1123,
}

// formatDateString formats a date string; one it cannot read is rendered as it is.
func formatDateString(v any, c *call, m *meter) string {
	s, ok := v.(string)
	if !ok {
		return stringOf(v, m)
	}
	// Each layout tried may read the string and copy it into its error.
	if !m.spend(int64(len(s)) * int64(len(dateLayouts)) * costByte) {
		return ""
	}
	ts := strings.TrimSpace(s)
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, ts); err == nil {
			if y := t.UTC().Year(); y < 1 || y > 9999 {
				break
			}
			return formatTime(t, optional(c, 0, "M"))
		}
	}
	return s
}

// formatTime writes t in UTC in one of four styles, after the English forms of the Java/CLDR
// format styles: F(ull), L(ong), M(edium) and S(hort). Any other style is M.
func formatTime(t time.Time, style string) string {
	t = t.UTC()
	switch strings.ToUpper(style) {
	case "F":
		return t.Format("Monday, January 2, 2006 at 3:04:05 PM") + " Coordinated Universal Time"
	case "L":
		return t.Format("January 2, 2006 at 3:04:05 PM") + " UTC"
	case "S":
		return t.Format("1/2/06, 3:04 PM")
	}
	return t.Format("Jan 2, 2006, 3:04:05 PM")
}

// toNumber reads a number, or a string that holds one.
func toNumber(v any) (float64, bool) {
	var s string
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	default:
		t, ok := numberText(v)
		if !ok {
			return 0, false
		}
		s = t
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
