// Package template implements ITL, ilert's template language, with which alert sources shape
// an event's summary, details, alert key, routing key and links from the event's data.
//
// ITL is Mustache-like: text, {{ var.path }} variables (never HTML-escaped), method-style
// functions on variables ({{ var.lowerCase() }}), sections {{#var}}…{{/var}} that render when
// a value is present or loop over arrays, and inverted sections {{^var}}…{{/var}}.
//
// Everything that can be wrong with a template is found by Parse, so a bad template is
// rejected when an alert source is saved, not when an event arrives: unknown functions, wrong
// arguments, invalid or too complex regular expressions and templates longer than 64 KiB are
// syntax errors. A missing value renders as nothing. The output and the work of one render are
// bounded: a render that runs out of its work budget stops, and Execute reports ErrWorkLimit.
// The user-facing description is docs/templates.md.
package template

import (
	"errors"
	"fmt"
)

// Limits that keep one template from costing more than an event is worth.
const (
	// maxOutput is the most bytes Render returns; longer output is cut at a character boundary.
	maxOutput = 64 << 10
	// maxNesting is how deeply sections may be nested in one another.
	maxNesting = 32
	// maxWork is the work one Render may do, in the units of the cost constants in render.go:
	// visiting nodes and loop rounds, following paths, and the bytes functions read and write,
	// with regular expressions paying for their text times the size of their program. One unit
	// takes at most about a nanosecond (BenchmarkWorkPerUnit), so no template renders any data
	// for much longer than 50 ms; a render that runs out stops with ErrWorkLimit.
	maxWork = 50_000_000
	// maxDataDepth is how deeply an object or array is followed when it is rendered as JSON.
	maxDataDepth = 64
	// maxTemplate is the longest template text Parse accepts, in bytes.
	maxTemplate = 64 << 10
	// maxRegexInsts is the most instructions the program of one regular expression may have;
	// maxTemplateRegexInsts is the most the distinct expressions of one template may have in all.
	maxRegexInsts         = 1000
	maxTemplateRegexInsts = 10000
)

// ErrWorkLimit is the error of a render that ran out of its work budget (about 50 ms): loops
// in loops over large arrays, long paths in large loops, or functions and regular expressions
// over large values.
var ErrWorkLimit = errors.New("template: rendering stopped: the template needs more work than one render may do (large loops, or functions over large values)")

// Template is a parsed ITL template. It is immutable and safe for concurrent use.
type Template struct {
	text  string
	nodes []node
	calls int // how many different function calls the template holds; each has a memo index below calls
}

// Parse parses ITL text of at most 64 KiB. A syntax error is a *SyntaxError.
func Parse(text string) (*Template, error) {
	if len(text) > maxTemplate {
		return nil, syntaxError(text, maxTemplate, "the template is too long: %d bytes, at most %d (64 KiB) are allowed", len(text), maxTemplate)
	}
	p := &parser{src: text}
	nodes, err := p.parse()
	if err != nil {
		return nil, err
	}
	return &Template{text: text, nodes: nodes, calls: p.calls}, nil
}

// Text returns the source text of the template.
func (t *Template) Text() string {
	if t == nil {
		return ""
	}
	return t.text
}

// SyntaxError is a template that cannot be parsed. Offset is a byte offset into the text;
// Line and Column are 1-based, and Column counts characters, not bytes.
type SyntaxError struct {
	Offset, Line, Column int
	Msg                  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// syntaxError builds a SyntaxError at byte offset off of src.
func syntaxError(src string, off int, format string, args ...any) *SyntaxError {
	off = min(max(off, 0), len(src))
	line, col := 1, 1
	for _, r := range src[:off] {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &SyntaxError{Offset: off, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}
