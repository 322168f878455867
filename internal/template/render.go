package template

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Render renders the template with data, the JSON-decoded values an event offers
// (map[string]any, []any, string, float64, json.Number, bool and nil). A missing value renders
// as nothing. Output beyond 64 KiB is cut at a character boundary. A render that runs out of
// its work budget (see maxWork) stops where it is and returns the output rendered so far;
// Execute reports that case as ErrWorkLimit.
func (t *Template) Render(data map[string]any) string {
	out, _ := t.Execute(data)
	return out
}

// Execute renders the template as Render does and also reports a render that ran out of its
// work budget: then the error is ErrWorkLimit and the text is the output rendered before the
// render stopped. Cutting the output at 64 KiB is not an error.
func (t *Template) Execute(data map[string]any) (string, error) {
	if t == nil {
		return "", nil
	}
	r := renderer{
		out:   buffer{limit: maxOutput, b: make([]byte, 0, min(len(t.text)+64, maxOutput))},
		stack: []any{data},
		meter: meter{left: maxWork},
	}
	if t.calls > 0 {
		r.memo = make([]memo, t.calls)
	}
	r.nodes(t.nodes)
	if r.over {
		return string(r.out.b), ErrWorkLimit
	}
	return string(r.out.b), nil
}

// The cost of work in units of maxWork, measured so that one unit takes at most about a
// nanosecond on a small server (BenchmarkWorkPerUnit): the budget bounds time, not counts.
const (
	costNode    = 16  // visiting a text, variable or section, or one round of a loop
	costStep    = 48  // one step of a path: a key of an object or an index of an array
	costKeyByte = 1   // per 4 bytes of a key looked up (hashing and comparing it)
	costByte    = 4   // per byte a function reads or writes
	costPiece   = 24  // per place replaceAll or splitTakeAt may cut the text
	costCase    = 48  // per byte lowerCase or upperCase reads
	costNumber  = 24  // per byte of a number read from text
	costValue   = 128 // per value written as JSON
	costObject  = 384 // per object written as JSON, whose keys are then sorted,
	costSort    = 24  // at this cost per comparison
	// costRegex is per byte of text and instruction of a compiled regular expression, with
	// regexByteInsts instructions added for the work done per byte whatever the program.
	costRegex      = 20
	regexByteInsts = 4
)

// meter counts the work one render may still do.
type meter struct {
	left int64
	over bool // the budget ran out: the render stops with ErrWorkLimit
}

// spend takes n units from the budget and reports whether work may go on.
func (m *meter) spend(n int64) bool {
	if m.left -= n; m.left < 0 {
		m.over = true
	}
	return !m.over
}

// keyCost is the cost of looking up one step of a path.
func keyCost(s step) int64 {
	return costStep + int64(len(s.key))/4*costKeyByte
}

type renderer struct {
	meter
	out   buffer
	stack []any // the data, then the value of each enclosing section, innermost last
	memo  []memo
}

// memo holds a function's result: functions read the data from its root, never from a
// section's item, so a function in a loop gives the same text in every iteration, and calls
// written alike anywhere in the template share one memo.
type memo struct {
	s  string
	ok bool
}

// step counts the visit of a node or a loop round and reports whether rendering may go on.
func (r *renderer) step() bool {
	return r.spend(costNode) && !r.out.full
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
			s := r.variable(n)
			if r.over {
				return
			}
			r.out.WriteString(s)
		case *sectionNode:
			r.section(n)
		}
	}
}

func (r *renderer) variable(n *varNode) string {
	if n.call == nil {
		return stringOf(r.lookup(n.path), &r.meter)
	}
	m := &r.memo[n.call.id]
	if !m.ok {
		v, _ := r.resolve(r.stack[0], n.path.steps)
		if r.over {
			return ""
		}
		var s string
		s, r.meter = n.call.fn.apply(v, n.call, r.meter)
		// Only maxOutput bytes of a result can ever be written: keep no more.
		if !r.spend(int64(min(len(s), maxOutput)) * costByte) {
			return ""
		}
		m.s, m.ok = cut(s, maxOutput), true
	}
	return m.s
}

func (r *renderer) section(s *sectionNode) {
	v := r.lookup(s.path)
	if r.over {
		return
	}
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
	first := keyCost(p.steps[0])
	for i := len(r.stack) - 1; i >= 0; i-- {
		if !r.spend(first) {
			return nil
		}
		if v, ok := child(r.stack[i], p.steps[0]); ok {
			v, _ = r.resolve(v, p.steps[1:])
			return v
		}
	}
	return nil
}

// resolve follows steps from v, paying for each.
func (r *renderer) resolve(v any, steps []step) (any, bool) {
	for _, s := range steps {
		if !r.spend(keyCost(s)) {
			return nil, false
		}
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
// objects and arrays as JSON, a missing value or null as nothing. Writing JSON is paid from m;
// when m runs out the text is cut short.
func stringOf(v any, m *meter) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case map[string]any, []any:
		w := buffer{limit: maxOutput}
		writeJSON(&w, x, 0, m)
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
// object or array is written as null. Each value, each comparison of sorting keys and each byte
// of a string is paid from m.
func writeJSON(w *buffer, v any, depth int, m *meter) {
	if w.full || !m.spend(costValue) {
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
		writeJSONString(w, x, m)
	case []any:
		w.WriteString("[")
		for i, item := range x {
			if w.full || m.over {
				return
			}
			if i > 0 {
				w.WriteString(",")
			}
			writeJSON(w, item, depth+1, m)
		}
		w.WriteString("]")
	case map[string]any:
		// Sorting costs about n·log2(n) comparisons, each up to a key long.
		n, keyBytes := len(x), 0
		for k := range x {
			keyBytes += len(k)
		}
		if !m.spend(costObject + int64(n+keyBytes/8)*int64(bits.Len(uint(n)))*costSort) {
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.WriteString("{")
		for i, k := range keys {
			if w.full || m.over {
				return
			}
			if i > 0 {
				w.WriteString(",")
			}
			writeJSONString(w, k, m)
			w.WriteString(":")
			writeJSON(w, x[k], depth+1, m)
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
		writeJSONString(w, fmt.Sprint(v), m)
	}
}

func writeJSONString(w *buffer, s string, m *meter) {
	const hex = "0123456789abcdef"
	// Every byte read writes at least one byte, so no more than the room left in w (and the
	// rest of a character) is read.
	if room := w.limit - len(w.b) + utf8.UTFMax; len(s) > room {
		s = s[:room]
	}
	if !m.spend(int64(len(s)) * costByte) {
		return
	}
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
