package condition

import (
	"encoding/json"
	"strings"
	"sync"
	"unsafe"
)

// workBudget is the work one evaluation may do, in units of one byte of text searched by
// contains. Text operators, regular expressions, conversions and comparisons of lists and
// objects charge the work they are about to do (the costs below) before doing it; when the
// budget would be exceeded the evaluation stops and the condition is false (ErrTooMuchWork).
//
// A unit is the slowest per-byte work of strings.Contains, about 1.8 ns on a 2-core Xeon (a
// needle of 64 bytes or more, in text made of its first byte); the costs below scale the
// other operations' worst cases to it. So no evaluation does more than about 6.3M × 1.8 ns ≈
// 11 ms of work whatever the condition and the event, twice that on a machine whose cores are
// all busy; TestEvalWorstCase measures it. The budget still lets a condition read a 512 KiB
// event's largest field several times: it is lower-cased once per evaluation (costLower),
// then each comparison over it costs its length.
const workBudget = 6 << 20

// The costs of operations, in units of workBudget.
const (
	costCompare  = 16   // each comparison, and each value tested alone
	costElement  = 32   // each value compared by == or in, element of a list read by the _any operators, or converted
	costKey      = 96   // each key of an object compared by == or in (a lookup in the other object)
	costLower    = 4    // each byte lower-cased (strings.ToLower: up to 6 ns a byte, non-ASCII)…
	costLowerNew = 160  // …plus the new text, for text shorter than foldCacheMin (allocation)
	costFold     = 2    // each byte compared ignoring case (strings.EqualFold: up to 2.7 ns a byte)
	costNumber   = 8    // each byte of text read as a number (strconv: up to 11 ns a byte, long text)
	costDatetime = 1024 // each text read as a datetime, when it looks like one (time.Parse: 4 layouts)
	costRegex    = 12   // each byte matched, per instruction of the program (up to 20 ns)
	costCall     = 256  // each call of Env.IsIn or Env.Count
)

// foldCacheMin is the length from which lower-cased text is kept for the rest of an
// evaluation; shorter text is lower-cased again, which costs less than keeping it.
const foldCacheMin = 64

// state is one evaluation: the environment, the work left, and what it computed once. The
// first few lower-cased texts and counts are kept in the state itself, so that a typical
// evaluation allocates nothing for them.
type state struct {
	Env
	left      int64
	exhausted bool
	nLower    int
	lowerFew  [4]lowered
	lower     map[textKey]string // lower-cased text beyond lowerFew
	nCounts   int
	countsFew [4]counted
	counts    map[Counter]int // counts beyond countsFew
}

// states are the states of evaluations, reused: a state is too large to allocate for each.
var states = sync.Pool{New: func() any { return new(state) }}

type lowered struct {
	k     textKey
	lower string
}

type counted struct {
	c Counter
	n int
}

// textKey identifies text by its bytes in memory: within one evaluation the same value read
// by several comparisons is lower-cased once. The key keeps the bytes alive, and Go strings
// do not change, so equal keys are equal text.
type textKey struct {
	p *byte
	n int
}

// charge takes n units of work and reports whether they were left. Once the budget is out,
// nothing is left: every comparison after it is false and Evaluate reports ErrTooMuchWork.
func (st *state) charge(n int64) bool {
	if st.exhausted {
		return false
	}
	if n > st.left {
		st.exhausted, st.left = true, 0
		return false
	}
	st.left -= n
	return true
}

// fold prepares text for a case-insensitive comparison (unless exact), lower-casing each
// long value once per evaluation. On running out of work it returns "" (st.exhausted tells).
func (st *state) fold(s string, exact bool) string {
	if exact {
		return s
	}
	if len(s) < foldCacheMin {
		if !st.charge(costLowerNew + costLower*int64(len(s))) {
			return ""
		}
		return strings.ToLower(s)
	}
	k := textKey{unsafe.StringData(s), len(s)}
	for _, e := range st.lowerFew[:st.nLower] {
		if e.k == k {
			return e.lower
		}
	}
	if l, ok := st.lower[k]; ok {
		return l
	}
	if !st.charge(costLower * int64(len(s))) {
		return ""
	}
	l := strings.ToLower(s)
	switch {
	case st.nLower < len(st.lowerFew):
		st.lowerFew[st.nLower] = lowered{k, l}
		st.nLower++
	case st.lower == nil:
		st.lower = map[textKey]string{k: l}
	default:
		st.lower[k] = l
	}
	return l
}

// value reads a value from the data as the comparisons know it (see scalar), charging what
// converting it costs: a json.Number is parsed, a []string or map[string]string copied. On
// running out of work it returns nil (st.exhausted tells).
func (st *state) value(v any) any {
	var n int
	switch v := v.(type) {
	case json.Number:
		n = costNumber * len(v)
	case []string:
		n = costElement * len(v)
	case map[string]string:
		n = costElement * len(v)
	default:
		return scalar(v)
	}
	if !st.charge(int64(n)) {
		return nil
	}
	return scalar(v)
}

// count returns the value of a counter, asking Env.Count once per evaluation.
func (st *state) count(c Counter) int64 {
	if st.Count == nil {
		return 0
	}
	for _, e := range st.countsFew[:st.nCounts] {
		if e.c == c {
			return int64(e.n)
		}
	}
	if n, ok := st.counts[c]; ok {
		return int64(n)
	}
	if !st.charge(costCall) {
		return 0
	}
	n := st.Count(c)
	switch {
	case st.nCounts < len(st.countsFew):
		st.countsFew[st.nCounts] = counted{c, n}
		st.nCounts++
	case st.counts == nil:
		st.counts = map[Counter]int{c: n}
	default:
		st.counts[c] = n
	}
	return int64(n)
}

// matchCost is the work of textMatch.
func matchCost(kind opKind, s, sub string) int64 {
	if kind == opContains {
		return int64(len(s)) + 1
	}
	return int64(min(len(s), len(sub))) + 1 // starts_with and ends_with compare sub's length
}
