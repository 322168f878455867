// Package condition parses and evaluates conditions written in ilert's condition language
// (ICL): boolean expressions over the fields of an event, an alert or a flow's context, such as
//
//	event.customDetails.env == 'prod' and event.summary contains 'disk'
//
// Parse checks a condition once, when it is saved, and reports mistakes with their line and
// column. Eval then runs it for every event: a comparison that cannot be made (a missing
// field, a number compared with a word, a lookup that errs) is false. A condition reads
// nothing but Env.Data and the callbacks in Env, and the work one evaluation can do is bounded
// by the limits below whatever the condition and the data (see workBudget), so conditions
// written by users are safe to run over events sent by anyone. The language is described for
// users in docs/conditions.md.
package condition

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Limits on a condition. They keep parsing and evaluation cheap whatever a user writes.
const (
	maxLength = 10000 // characters in a condition
	maxDepth  = 64    // nesting of parentheses, not, and array and object literals
	// maxItems bounds the elements of a list literal and the keys of an object literal, and
	// how many elements of a list in the data in and the _any operators look at.
	maxItems = 1000
	// maxRegexInsts bounds the size of a regular expression's compiled program. Matching
	// costs up to the text's length times the program's size.
	maxRegexInsts = 1000
)

// MaxCount is the largest value a counter takes: whoever keeps the counts (Env.Count) stops
// at MaxCount events, and Parse refuses a comparison that needs a count above it.
const MaxCount = 10000

// ErrTooMuchWork is the error of an evaluation that ran out of work (see workBudget): the
// condition is false.
var ErrTooMuchWork = errors.New("the condition needs more work than one evaluation may do on this event " +
	"(fewer comparisons over its largest fields, or smaller regular expressions, would fit)")

// The windows a counter may have.
const (
	MinWindow = 5 * time.Second
	MaxWindow = 48 * time.Hour
)

// Types of the objects is_in accepts.
const (
	RefSupportHour    = "SUPPORT_HOUR"
	RefOnCallSchedule = "ON_CALL_SCHEDULE"
)

// Condition is a parsed condition. It is immutable, so one Condition may be evaluated by
// many goroutines at once.
type Condition struct {
	text     string
	root     node
	refs     []Ref
	counters []Counter
}

// Ref names an object used with is_in: {"id": 1, "type": "SUPPORT_HOUR"} or
// {"id": 1, "type": "ON_CALL_SCHEDULE"}. Type is one of RefSupportHour and RefOnCallSchedule.
type Ref struct {
	ID   int64
	Type string
}

// Counter is a rate counter used by a condition: trigger_count.<window> or
// resetting_trigger_count.<window>. The caller keeps the counts; see Env.Count.
type Counter struct {
	Window    time.Duration
	Resetting bool
}

// Env is what a condition is evaluated against.
type Env struct {
	// Data holds the roots paths start from: "event", "alert", "context". Values are as
	// encoding/json decodes them (map[string]any, []any, string, float64, json.Number, bool,
	// nil); other integer and float types, []string and map[string]string are accepted too.
	Data map[string]any
	// Now is the time `now` stands for.
	Now time.Time
	// IsIn reports whether at is inside the referenced support hours or on-call schedule.
	// When IsIn is nil or returns an error, the comparison is false (also with not is_in).
	IsIn func(ref Ref, at time.Time) (bool, error)
	// Count returns the value of a counter, from 0 to MaxCount. When Count is nil, every
	// counter is 0. It is called at most once per counter in an evaluation.
	Count func(c Counter) int
}

// Text returns the condition as it was written.
func (c *Condition) Text() string { return c.text }

// Refs returns every object the condition uses with is_in, each once, in the order they
// first appear, so that the caller can check they exist before saving the condition.
func (c *Condition) Refs() []Ref { return slices.Clone(c.refs) }

// Counters returns every counter the condition uses, each once, in the order they first
// appear. trigger_count.10m and trigger_count.PT10M are the same counter.
func (c *Condition) Counters() []Counter { return slices.Clone(c.counters) }

// Eval reports whether the condition holds in env. It never panics: whatever cannot be
// compared is false, and so is a condition that runs out of work (see Evaluate). A nil
// Condition is false.
func (c *Condition) Eval(env Env) bool {
	ok, _ := c.Evaluate(env)
	return ok
}

// Evaluate is Eval, also reporting ErrTooMuchWork when the evaluation ran out of work. The
// evaluation then stops, and the whole condition is false, whatever not and or would have
// made of the comparisons left: a condition that cannot be evaluated does not match. What
// had been decided before stands: `true or …` is true without looking further.
func (c *Condition) Evaluate(env Env) (bool, error) {
	if c == nil || c.root == nil {
		return false, nil
	}
	st := states.Get().(*state)
	*st = state{Env: env, left: workBudget}
	ok, exhausted := c.root.eval(st), st.exhausted
	*st = state{} // keeps nothing of env
	states.Put(st)
	if exhausted {
		return false, ErrTooMuchWork
	}
	return ok, nil
}

// SyntaxError is a mistake in a condition's text.
type SyntaxError struct {
	Offset int    // in bytes from the start of the text, from 0
	Line   int    // from 1
	Column int    // in characters from the start of the line, from 1
	Msg    string // what is wrong, for the user
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}
