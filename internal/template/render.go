package template

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Render renders the template with data, the JSON-decoded values an event offers
// (map[string]any, []any, string, float64, json.Number, bool and nil). A missing value renders
// as nothing. Render never fails: output beyond 64 KiB is cut at a character boundary, and a
// render that visits more than about a million template nodes (loops in loops over large
// arrays) stops where it is.
func (t *Template) Render(data map[string]any) string {
	if t == nil {
		return ""
	}
	r := renderer{
		out:   buffer{limit: maxOutput, b: make([]byte, 0, min(len(t.text)+64, maxOutput))},
		stack: []any{data},
	}
	if t.calls > 0 {
		r.memo = make([]memo, t.calls)
	}
	r.nodes(t.nodes)
	return string(r.out.b)
}

type renderer struct {
	out   buffer
	steps int
	stack []any // the data, then the value of each enclosing section, innermost last
	memo  []memo
}

// memo holds a function's result: functions read the data from its root, never from a
// section's item, so a function in a loop gives the same text in every iteration.
type memo struct {
	s  string
	ok bool
}

// step counts one unit of work and reports whether rendering may go on.
func (r *renderer) step() bool {
	r.steps++
	if r.steps > maxSteps {
		r.out.full = true
	}
	return !r.out.full
}

func (r *renderer) nodes(ns []node) {
	for _, n := range ns {
		if !r.step() {
			return
		}
		switch n := n.(type) {
		case textNode:
			r.out.WriteString(string(n))
		case *varNode:
			r.out.WriteString(r.variable(n))
		case *sectionNode:
			r.section(n)
		}
	}
}

func (r *renderer) variable(n *varNode) string {
	if n.call == nil {
		return stringOf(r.lookup(n.path))
	}
	m := &r.memo[n.call.id]
	if !m.ok {
		v, _ := resolve(r.stack[0], n.path.steps)
		m.s, m.ok = n.call.fn.apply(v, n.call), true
	}
	return m.s
}

func (r *renderer) section(s *sectionNode) {
	v := r.lookup(s.path)
	if s.inverted {
		if !truthy(v) {
			r.nodes(s.nodes)
		}
		return
	}
	if !truthy(v) {
		return
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	for _, item := range items {
		if !r.step() {
			return
		}
		r.stack = append(r.stack, item)
		r.nodes(s.nodes)
		r.stack = r.stack[:len(r.stack)-1]
	}
}

// lookup finds a path as Mustache does: "." is the innermost value; otherwise the first key is
// looked up from the innermost section outwards to the data, and the rest of the path is
// followed from where the first key was found.
func (r *renderer) lookup(p path) any {
	if p.dot {
		return r.stack[len(r.stack)-1]
	}
	for i := len(r.stack) - 1; i >= 0; i-- {
		if v, ok := child(r.stack[i], p.steps[0]); ok {
			v, _ = resolve(v, p.steps[1:])
			return v
		}
	}
	return nil
}

func resolve(v any, steps []step) (any, bool) {
	for _, s := range steps {
		var ok bool
		if v, ok = child(v, s); !ok {
			return nil, false
		}
	}
	return v, true
}

// child is one step down: a key of an object or an index of an array. A numeric key indexes an
// array (a.0) and an index looks up a numeric key of an object (a[0]).
func child(v any, s step) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		key := s.key
		if s.isIdx {
			key = strconv.Itoa(s.index)
		}
		c, ok := x[key]
		return c, ok
	case []any:
		i := s.index
		if !s.isIdx {
			n, err := strconv.Atoi(s.key)
			if err != nil || n < 0 || strconv.Itoa(n) != s.key {
				return nil, false
			}
			i = n
		}
		if i < len(x) {
			return x[i], true
		}
	}
	return nil, false
}

// truthy says whether a section renders: not for a missing value, null, false, an empty
// string, an empty array or an empty object; for anything else, 0 included.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// buffer collects output up to limit bytes, cutting at a character boundary.
type buffer struct {
	b     []byte
	limit int
	full  bool
}

func (w *buffer) WriteString(s string) {
	if w.full {
		return
	}
	if room := w.limit - len(w.b); len(s) > room {
		s = cut(s, room)
		w.full = true
	}
	w.b = append(w.b, s...)
}

func (w *buffer) String() string { return string(w.b) }

// cut returns the longest prefix of s of at most n bytes that does not split a character.
func cut(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// stringOf is the text of a value: strings as they are, numbers without a needless ".0",
// objects and arrays as JSON, a missing value or null as nothing.
func stringOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case map[string]any, []any:
		w := buffer{limit: maxOutput}
		writeJSON(&w, x, 0)
		return w.String()
	}
	if s, ok := numberText(v); ok {
		return s
	}
	return fmt.Sprint(v)
}

func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case float64:
		return formatFloat(x), true
	case float32:
		return formatFloat(float64(x)), true
	case json.Number:
		return string(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	}
	return "", false
}

// formatFloat writes whole numbers without a fraction (3, not 3.0 or 3e+00) and other numbers
// in their shortest exact form.
func formatFloat(f float64) string {
	switch abs := math.Abs(f); {
	case f == 0:
		return "0"
	case math.IsNaN(f) || math.IsInf(f, 0):
		return strconv.FormatFloat(f, 'g', -1, 64)
	case abs < 1e21 && (f == math.Trunc(f) || abs >= 1e-6):
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// writeJSON writes v as compact JSON with object keys sorted; below maxDataDepth levels an
// object or array is written as null.
func writeJSON(w *buffer, v any, depth int) {
	if w.full {
		return
	}
	switch v.(type) {
	case []any, map[string]any:
		if depth >= maxDataDepth {
			w.WriteString("null")
			return
		}
	}
	switch x := v.(type) {
	case nil:
		w.WriteString("null")
	case bool:
		w.WriteString(strconv.FormatBool(x))
	case string:
		writeJSONString(w, x)
	case []any:
		w.WriteString("[")
		for i, item := range x {
			if w.full {
				return
			}
			if i > 0 {
				w.WriteString(",")
			}
			writeJSON(w, item, depth+1)
		}
		w.WriteString("]")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.WriteString("{")
		for i, k := range keys {
			if w.full {
				return
			}
			if i > 0 {
				w.WriteString(",")
			}
			writeJSONString(w, k)
			w.WriteString(":")
			writeJSON(w, x[k], depth+1)
		}
		w.WriteString("}")
	default:
		if s, ok := numberText(v); ok {
			if f, isFloat := v.(float64); isFloat && (math.IsNaN(f) || math.IsInf(f, 0)) {
				s = "null"
			}
			w.WriteString(s)
			return
		}
		writeJSONString(w, fmt.Sprint(v))
	}
}

func writeJSONString(w *buffer, s string) {
	const hex = "0123456789abcdef"
	w.WriteString(`"`)
	start := 0
	for i := 0; i < len(s) && !w.full; {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n != 1 {
				i += n
				continue
			}
		}
		w.WriteString(s[start:i])
		switch c {
		case '"':
			w.WriteString(`\"`)
		case '\\':
			w.WriteString(`\\`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		case '\t':
			w.WriteString(`\t`)
		default:
			if c >= utf8.RuneSelf { // a byte that is not UTF-8
				w.WriteString(`\ufffd`)
			} else {
				w.WriteString(`\u00` + string(hex[c>>4]) + string(hex[c&0xf]))
			}
		}
		i++
		start = i
	}
	w.WriteString(s[start:])
	w.WriteString(`"`)
}
