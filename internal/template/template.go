// Package template implements ITL, ilert's template language, with which alert sources shape
// an event's summary, details, alert key, routing key and links from the event's data.
//
// ITL is Mustache-like: text, {{ var.path }} variables (never HTML-escaped), method-style
// functions on variables ({{ var.lowerCase() }}), sections {{#var}}…{{/var}} that render when
// a value is present or loop over arrays, and inverted sections {{^var}}…{{/var}}.
//
// Everything that can be wrong with a template is found by Parse, so a bad template is
// rejected when an alert source is saved, not when an event arrives: unknown functions, wrong
// arguments and invalid regular expressions are syntax errors. Render then never fails; a
// missing value renders as nothing, and the output and the work one Render does are bounded.
// The user-facing description is docs/templates.md.
package template

import "fmt"

// Limits that keep one template from costing more than an event is worth.
const (
	// maxOutput is the most bytes Render returns; longer output is cut at a character boundary.
	maxOutput = 64 << 10
	// maxNesting is how deeply sections may be nested in one another.
	maxNesting = 32
	// maxSteps is how many template nodes one Render visits; loops in loops over large arrays
	// stop there.
	maxSteps = 1 << 20
	// maxDataDepth is how deeply an object or array is followed when it is rendered as JSON.
	maxDataDepth = 64
)

// Template is a parsed ITL template. It is immutable and safe for concurrent use.
type Template struct {
	text  string
	nodes []node
	calls int // how many function calls the template holds; each has an index below calls
}

// Parse parses ITL text. A syntax error is a *SyntaxError.
func Parse(text string) (*Template, error) {
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
