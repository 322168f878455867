package condition

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// roots are the names a path may start with. Any other bare word is a string, so that
// `event.summary contains example.com` compares with the text "example.com".
var roots = map[string]bool{"event": true, "alert": true, "context": true}

// reserved are ilert's reserved words: they may be neither bare strings nor operators.
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields("break at do as const continue def else end eq function for " +
		"gte gt if import is let lte lt loop namespace package require return var void when while") {
		reserved[w] = true
	}
}

// hints suggests the operator meant by a reserved word written in an operator's place.
var hints = map[string]string{"eq": "==", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "is": "=="}

const (
	counterName          = "trigger_count"
	resettingCounterName = "resetting_trigger_count"
)

// Parse parses a condition. A mistake in the text is returned as a *SyntaxError.
func Parse(text string) (*Condition, error) {
	p := &parser{text: text, c: &Condition{text: text}}
	if utf8.RuneCountInString(text) > maxLength {
		chars, off := 0, 0
		for off = range text {
			if chars == maxLength {
				break
			}
			chars++
		}
		return nil, p.errAt(off, "the condition is longer than %d characters", maxLength)
	}
	p.skipSpace()
	if p.end() {
		return nil, p.errAt(0, "the condition is empty")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.end() {
		if p.text[p.pos] == ')' {
			return nil, p.errAt(p.pos, "unmatched )")
		}
		return nil, p.unexpected("and, or or the end of the condition")
	}
	p.c.root = root
	return p.c, nil
}

type parser struct {
	text  string
	pos   int
	depth int
	c     *Condition
}

func (p *parser) end() bool { return p.pos >= len(p.text) }

func (p *parser) errAt(off int, format string, args ...any) *SyntaxError {
	off = min(max(off, 0), len(p.text))
	line, col := p.lineColumn(off)
	return &SyntaxError{Offset: off, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// lineColumn returns the line and the column, in characters, of the byte at off; both from 1.
func (p *parser) lineColumn(off int) (line, column int) {
	before := p.text[:off]
	line = strings.Count(before, "\n") + 1
	column = utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	return line, column
}

// excerpt shortens text written by the user for an error message.
func excerpt(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:39]) + "…"
}

// unexpected reports what stands at the current position when something else was expected.
func (p *parser) unexpected(expected string) *SyntaxError {
	if p.end() {
		return p.errAt(p.pos, "expected %s, found the end of the condition", expected)
	}
	msg := "unexpected " + p.describe(p.pos) + "; expected " + expected
	if !isDelim(p.rune()) && strings.Contains(expected, "and, or") {
		msg += " (quote text that contains spaces: 'like this')"
	}
	return p.errAt(p.pos, "%s", msg)
}

// describe names the token at off for an error message.
func (p *parser) describe(off int) string {
	if off >= len(p.text) {
		return "the end of the condition"
	}
	r, size := utf8.DecodeRuneInString(p.text[off:])
	if isDelim(r) {
		return strconv.Quote(p.text[off : off+size])
	}
	end := off
	for end < len(p.text) {
		r, size := utf8.DecodeRuneInString(p.text[end:])
		if isDelim(r) || end-off >= 40 {
			break
		}
		end += size
	}
	return strconv.Quote(p.text[off:end])
}

func (p *parser) rune() rune {
	r, _ := utf8.DecodeRuneInString(p.text[p.pos:])
	return r
}

func (p *parser) skipSpace() {
	for !p.end() {
		r, size := utf8.DecodeRuneInString(p.text[p.pos:])
		if !unicode.IsSpace(r) {
			return
		}
		p.pos += size
	}
}

// isDelim reports whether r ends a bare word.
func isDelim(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune("()[]{},'\"=!<>", r)
}

// boundary reports whether a word may end at off.
func (p *parser) boundary(off int) bool {
	if off >= len(p.text) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(p.text[off:])
	return isDelim(r)
}

// keyword skips space and consumes w if it stands there as a whole word.
func (p *parser) keyword(w string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.text[p.pos:], w) && p.boundary(p.pos+len(w)) {
		p.pos += len(w)
		return true
	}
	return false
}

func (p *parser) enter(off int) error {
	p.depth++
	if p.depth > maxDepth {
		return p.errAt(off, "the condition is nested too deeply (more than %d levels)", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) parseOr() (node, error) {
	terms, err := p.parseTerms("or", p.parseAnd)
	switch {
	case err != nil:
		return nil, err
	case len(terms) == 1:
		return terms[0], nil
	}
	return orNode(terms), nil
}

func (p *parser) parseAnd() (node, error) {
	terms, err := p.parseTerms("and", p.parseUnary)
	switch {
	case err != nil:
		return nil, err
	case len(terms) == 1:
		return terms[0], nil
	}
	return andNode(terms), nil
}

// parseTerms parses one or more terms joined by the keyword sep. Chains are kept flat so
// that a long chain is not deep.
func (p *parser) parseTerms(sep string, term func() (node, error)) ([]node, error) {
	var terms []node
	for {
		n, err := term()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
		if !p.keyword(sep) {
			return terms, nil
		}
	}
}

func (p *parser) parseUnary() (node, error) {
	p.skipSpace()
	start := p.pos
	if !p.keyword("not") {
		return p.parsePrimary()
	}
	if err := p.enter(start); err != nil {
		return nil, err
	}
	defer p.leave()
	n, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	return notNode{n}, nil
}

func (p *parser) parsePrimary() (node, error) {
	p.skipSpace()
	if !p.end() && p.text[p.pos] == '(' {
		open := p.pos
		if err := p.enter(open); err != nil {
			return nil, err
		}
		defer p.leave()
		p.pos++
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.end() {
			line, column := p.lineColumn(open)
			return nil, p.errAt(p.pos, "missing ) to close the ( at line %d, column %d", line, column)
		}
		if p.text[p.pos] != ')' {
			return nil, p.unexpected("and, or or )")
		}
		p.pos++
		return n, nil
	}
	lhsAt := p.pos
	lhs, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	// A value on its own is a boolean test: a path to a boolean field, or true or false.
	save := p.pos
	p.skipSpace()
	if p.end() || p.text[p.pos] == ')' || p.keyword("and") || p.keyword("or") {
		p.pos = save
		switch v := lhs.(type) {
		case *pathOperand:
			return truthNode{lhs}, nil
		case literal:
			if _, ok := v.v.(bool); ok {
				return truthNode{lhs}, nil
			}
		}
		p.skipSpace()
		return nil, p.errAt(p.pos, "expected an operator after %s", excerpt(p.text[lhsAt:save]))
	}
	spec, opText, err := p.parseOperator()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	rhsAt := p.pos
	rhs, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	return p.compile(spec, opText, lhs, lhsAt, rhs, rhsAt)
}

// parseOperator parses an operator, with an optional not before it. text is the operator
// as written, for error messages.
func (p *parser) parseOperator() (spec opSpec, text string, err error) {
	p.skipSpace()
	at := p.pos
	negate := p.keyword("not")
	p.skipSpace()
	opAt, rest := p.pos, p.text[p.pos:]
	for _, sym := range []string{"==", "!=", ">=", "<=", ">", "<"} {
		if strings.HasPrefix(rest, sym) {
			p.pos += len(sym)
			text = sym
			break
		}
	}
	switch {
	case text != "":
	case strings.HasPrefix(rest, "="):
		return spec, "", p.errAt(opAt, "use == to compare, not =")
	case strings.HasPrefix(rest, "!"):
		return spec, "", p.errAt(opAt, "! is not an operator; use != or the not_ form of an operator")
	default:
		end := p.pos
		for end < len(p.text) && isWordByte(p.text[end]) {
			end++
		}
		text = p.text[p.pos:end]
		if text == "" || !p.boundary(end) {
			return spec, "", p.unexpected("an operator such as ==, contains or in")
		}
		if _, ok := operators[text]; !ok {
			switch {
			case hints[text] != "":
				return spec, "", p.errAt(opAt, "%s is a reserved word, not an operator; use %s", text, hints[text])
			case reserved[text]:
				return spec, "", p.errAt(opAt, "%s is a reserved word, not an operator", text)
			case negate || text == "not":
				return spec, "", p.errAt(opAt, "expected an operator after not, found %s", excerpt(text))
			}
			return spec, "", p.errAt(opAt, "unknown operator %s", excerpt(text))
		}
		p.pos = end
	}
	spec = operators[text]
	if negate {
		if spec.negate {
			return spec, "", p.errAt(at, "not before %s negates it twice; write the operator without not", text)
		}
		spec.negate = true
		text = "not " + text
	}
	return spec, text, nil
}

func isWordByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func isIdentStart(b byte) bool { return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// ident returns the identifier at off: an ASCII letter or _, then letters, digits and _.
func (p *parser) ident(off int) string {
	if off >= len(p.text) || !isIdentStart(p.text[off]) {
		return ""
	}
	end := off + 1
	for end < len(p.text) && isWordByte(p.text[end]) {
		end++
	}
	return p.text[off:end]
}

// parseOperand parses one side of a comparison: a path, a counter, now or a literal.
func (p *parser) parseOperand() (operand, error) {
	p.skipSpace()
	if p.end() {
		return nil, p.errAt(p.pos, "expected a value, found the end of the condition")
	}
	if id := p.ident(p.pos); id != "" {
		after := p.pos + len(id)
		next := byte(0)
		if after < len(p.text) {
			next = p.text[after]
		}
		switch {
		case roots[id] && (next == '.' || p.boundary(after)):
			return p.parsePath()
		case id == counterName || id == resettingCounterName:
			return p.parseCounter(id)
		}
	}
	return p.parseValue(true)
}

// parseValue parses a literal. In an operand, now is the current time; inside array and
// object literals only constants are allowed.
func (p *parser) parseValue(allowNow bool) (operand, error) {
	p.skipSpace()
	if p.end() {
		return nil, p.errAt(p.pos, "expected a value, found the end of the condition")
	}
	start := p.pos
	switch p.text[p.pos] {
	case '\'', '"':
		s, err := p.parseQuoted()
		if err != nil {
			return nil, err
		}
		return literal{s}, nil
	case '[':
		v, err := p.parseArray()
		if err != nil {
			return nil, err
		}
		return literal{v}, nil
	case '{':
		v, err := p.parseObject()
		if err != nil {
			return nil, err
		}
		return literal{v}, nil
	}
	if isDelim(p.rune()) {
		return nil, p.errAt(start, "expected a value, found %s", p.describe(start))
	}
	word, escaped := p.scanWord()
	if escaped {
		return literal{word}, nil
	}
	switch word {
	case "true":
		return literal{true}, nil
	case "false":
		return literal{false}, nil
	case "nil", "null":
		return literal{nil}, nil
	case "now":
		if !allowNow {
			return nil, p.errAt(start, "now cannot be used inside an array or object")
		}
		return nowOperand{}, nil
	}
	if v, ok, err := parseNumber(word); ok {
		if err != nil {
			return nil, p.errAt(start, "%v", err)
		}
		return literal{v}, nil
	}
	if reserved[word] {
		return nil, p.errAt(start, "%s is a reserved word; quote it ('%s') to use it as text", word, word)
	}
	if isKeyword(word) {
		return nil, p.errAt(start, "expected a value, found the keyword %s; quote it ('%s') to use it as text", word, word)
	}
	return literal{word}, nil
}

// scanWord reads a bare word. A backslash makes the next character part of the word, so
// `key\ with\ spaces` is one word; escaped reports whether there was a backslash.
func (p *parser) scanWord() (word string, escaped bool) {
	var b strings.Builder
	start := p.pos
	for !p.end() {
		r, size := utf8.DecodeRuneInString(p.text[p.pos:])
		if r == '\\' && p.pos+1 < len(p.text) {
			if !escaped {
				b.WriteString(p.text[start:p.pos])
				escaped = true
			}
			p.pos++
			_, size = utf8.DecodeRuneInString(p.text[p.pos:])
			b.WriteString(p.text[p.pos : p.pos+size])
			p.pos += size
			continue
		}
		if isDelim(r) {
			break
		}
		if escaped {
			b.WriteString(p.text[p.pos : p.pos+size])
		}
		p.pos += size
	}
	if escaped {
		return b.String(), true
	}
	return p.text[start:p.pos], false
}

// parseQuoted reads a string in single or double quotes. A backslash escapes the quote and
// itself; any other backslash is kept, so that regular expressions such as '\d+' read as
// written.
func (p *parser) parseQuoted() (string, error) {
	open := p.pos
	q := p.text[p.pos]
	p.pos++
	var b strings.Builder
	for !p.end() {
		c := p.text[p.pos]
		switch {
		case c == q:
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.text) && (p.text[p.pos+1] == q || p.text[p.pos+1] == '\\'):
			b.WriteByte(p.text[p.pos+1])
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", p.errAt(open, "unterminated string: the %c opened here is never closed", q)
}

// parseNumber recognises integers (-12) and floats (0.5, -1.25e3). ok reports whether word
// has the form of a number; err whether it is out of range.
func parseNumber(word string) (v any, ok bool, err error) {
	s := strings.TrimPrefix(word, "-")
	n := leadingDigits(s)
	if n == 0 {
		return nil, false, nil
	}
	if n == len(s) {
		i, err := strconv.ParseInt(word, 10, 64)
		if err != nil {
			return nil, true, fmt.Errorf("the number %s is out of range (integers are 64-bit)", word)
		}
		return i, true, nil
	}
	rest := s[n:]
	if rest[0] != '.' {
		return nil, false, nil
	}
	m := leadingDigits(rest[1:])
	if m == 0 {
		return nil, false, nil
	}
	if rest = rest[1+m:]; rest != "" {
		if rest[0] != 'e' && rest[0] != 'E' {
			return nil, false, nil
		}
		rest = rest[1:]
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			rest = rest[1:]
		}
		if rest == "" || leadingDigits(rest) != len(rest) {
			return nil, false, nil
		}
	}
	f, err := strconv.ParseFloat(word, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, true, fmt.Errorf("the number %s is out of range", word)
	}
	return f, true, nil
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func (p *parser) parseArray() ([]any, error) {
	open := p.pos
	if err := p.enter(open); err != nil {
		return nil, err
	}
	defer p.leave()
	p.pos++
	out := []any{}
	p.skipSpace()
	if !p.end() && p.text[p.pos] == ']' {
		p.pos++
		return out, nil
	}
	for {
		if len(out) == maxItems {
			return nil, p.errAt(open, "the list has more than %d elements", maxItems)
		}
		v, err := p.parseValue(false)
		if err != nil {
			return nil, err
		}
		out = append(out, v.(literal).v)
		p.skipSpace()
		if p.end() {
			return nil, p.errAt(p.pos, "missing ] to close the list")
		}
		switch p.text[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return out, nil
		default:
			return nil, p.unexpected(", or ] in the list")
		}
	}
}

func (p *parser) parseObject() (map[string]any, error) {
	open := p.pos
	if err := p.enter(open); err != nil {
		return nil, err
	}
	defer p.leave()
	p.pos++
	out := map[string]any{}
	p.skipSpace()
	if !p.end() && p.text[p.pos] == '}' {
		p.pos++
		return out, nil
	}
	for {
		if len(out) == maxItems {
			return nil, p.errAt(open, "the object has more than %d keys", maxItems)
		}
		p.skipSpace()
		keyAt := p.pos
		var key string
		switch {
		case p.end():
			return nil, p.errAt(p.pos, "missing } to close the object")
		case p.text[p.pos] == '"' || p.text[p.pos] == '\'':
			k, err := p.parseQuoted()
			if err != nil {
				return nil, err
			}
			key = k
		case p.ident(p.pos) != "":
			key = p.ident(p.pos)
			p.pos += len(key)
		default:
			return nil, p.unexpected("a key such as \"id\" in the object")
		}
		if _, dup := out[key]; dup {
			return nil, p.errAt(keyAt, "the key %q appears twice in the object", key)
		}
		p.skipSpace()
		if p.end() || p.text[p.pos] != ':' {
			return nil, p.unexpected(": after the key")
		}
		p.pos++
		v, err := p.parseValue(false)
		if err != nil {
			return nil, err
		}
		out[key] = v.(literal).v
		p.skipSpace()
		if p.end() {
			return nil, p.errAt(p.pos, "missing } to close the object")
		}
		switch p.text[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return out, nil
		default:
			return nil, p.unexpected(", or } in the object")
		}
	}
}

// parsePath parses root.field['key'][0]…; the root has been recognised by the caller.
func (p *parser) parsePath() (operand, error) {
	root := p.ident(p.pos)
	p.pos += len(root)
	path := &pathOperand{root: root}
	for !p.end() {
		switch p.text[p.pos] {
		case '.':
			p.pos++
			name := p.ident(p.pos)
			if name == "" {
				return nil, p.errAt(p.pos, "expected a field name after the dot; write other names in brackets, e.g. ['%s']", excerpt(p.peekWord()))
			}
			p.pos += len(name)
			path.steps = append(path.steps, step{key: name})
		case '[':
			open := p.pos
			p.pos++
			p.skipSpace()
			if p.end() {
				return nil, p.errAt(open, "missing ] after [")
			}
			var s step
			switch c := p.text[p.pos]; {
			case c == '\'' || c == '"':
				k, err := p.parseQuoted()
				if err != nil {
					return nil, err
				}
				s.key = k
			case isDelim(p.rune()):
				return nil, p.errAt(p.pos, "expected a field name or an index in the brackets, found %s", p.describe(p.pos))
			default:
				at := p.pos
				word, escaped := p.scanWord()
				s.key = word
				if !escaped && leadingDigits(word) == len(word) {
					i, err := strconv.Atoi(word)
					if err != nil {
						return nil, p.errAt(at, "the index %s is out of range", excerpt(word))
					}
					s.index, s.isIndex = i, true
				}
			}
			p.skipSpace()
			if p.end() || p.text[p.pos] != ']' {
				return nil, p.unexpected("] to close the [")
			}
			p.pos++
			path.steps = append(path.steps, s)
		default:
			if !p.boundary(p.pos) {
				return nil, p.errAt(p.pos, "unexpected %s in the path; write field names that are not identifiers in brackets, e.g. ['my-key']",
					p.describe(p.pos))
			}
			return path, nil
		}
	}
	return path, nil
}

// peekWord returns the bare word at the current position, for error messages.
func (p *parser) peekWord() string {
	end := p.pos
	for end < len(p.text) {
		r, size := utf8.DecodeRuneInString(p.text[end:])
		if isDelim(r) || r == '.' {
			break
		}
		end += size
	}
	if end == p.pos {
		return "name"
	}
	return p.text[p.pos:end]
}

func (p *parser) parseCounter(name string) (operand, error) {
	start := p.pos
	p.pos += len(name)
	if p.end() || p.text[p.pos] != '.' {
		return nil, p.errAt(start, "%s needs a window, e.g. %s.10m", name, name)
	}
	p.pos++
	at := p.pos
	for !p.end() && isWordByte(p.text[p.pos]) {
		p.pos++
	}
	if !p.boundary(p.pos) {
		return nil, p.errAt(p.pos, "unexpected %s after the counter's window", p.describe(p.pos))
	}
	w, err := parseWindow(p.text[at:p.pos])
	if err != nil {
		return nil, p.errAt(at, "%s.%s: %v", name, excerpt(p.text[at:p.pos]), err)
	}
	c := Counter{Window: w, Resetting: name == resettingCounterName}
	if !slices.Contains(p.c.counters, c) {
		p.c.counters = append(p.c.counters, c)
	}
	return counterOperand{c: c, name: p.text[start:p.pos]}, nil
}

// compile checks a comparison's operands against its operator and prepares what can be
// prepared once: regular expressions, folded literals and is_in references.
func (p *parser) compile(spec opSpec, opText string, lhs operand, lhsAt int, rhs operand, rhsAt int) (node, error) {
	n := &cmpNode{opSpec: spec, lhs: lhs, rhs: rhs}
	if err := p.checkCount(spec, lhs, lhsAt, rhs, rhsAt); err != nil {
		return nil, err
	}
	lit, rhsLiteral := rhs.(literal)
	_, lhsLiteral := lhs.(literal)
	switch spec.kind {
	case opEq:
	case opContains, opStartsWith, opEndsWith, opRegex:
		if !rhsLiteral {
			if spec.kind == opRegex {
				// Patterns are compiled once, from the condition; a pattern from an event could
				// cost more to compile than the event is worth.
				return nil, p.errAt(rhsAt, "%s needs a pattern written in the condition, such as '^disk'", opText)
			}
			break
		}
		s, ok := toText(lit.v)
		if !ok {
			hint := ""
			if _, isList := lit.v.([]any); isList && spec.kind != opRegex {
				hint = "; use " + kindNames[spec.kind] + "_any with a list"
			}
			return nil, p.errAt(rhsAt, "%s needs text on its right%s", opText, hint)
		}
		if spec.kind == opRegex {
			re, insts, err := compileRegex(s, spec.exact)
			if err != nil {
				return nil, p.errAt(rhsAt, "invalid regular expression: %s", regexMessage(err))
			}
			if insts > maxRegexInsts {
				return nil, p.errAt(rhsAt, "the regular expression is too large: it compiles to %d instructions, "+
					"at most %d are allowed (use smaller repetitions such as {n})", insts, maxRegexInsts)
			}
			n.re, n.reCost = re, int64(insts)*costRegex
			break
		}
		n.needle, n.hasNeedle = fold(s, spec.exact), true
	case opContainsAny, opStartsWithAny, opEndsWithAny:
		if !rhsLiteral {
			break
		}
		list, ok := lit.v.([]any)
		if !ok {
			return nil, p.errAt(rhsAt, "%s needs a list on its right, e.g. [\"a\", \"b\"]", opText)
		}
		n.list = make([]string, 0, len(list))
		for _, v := range list {
			s, ok := toText(v)
			if !ok {
				return nil, p.errAt(rhsAt, "%s needs a list of text, numbers or booleans", opText)
			}
			n.list = append(n.list, fold(s, spec.exact))
		}
		n.hasList = true
	case opIn:
		if _, ok := lit.v.([]any); rhsLiteral && !ok {
			return nil, p.errAt(rhsAt, "%s needs a list or a path on its right, e.g. [\"a\", \"b\"]", opText)
		}
	case opIsIn:
		if lhsLiteral {
			if _, ok := toTime(lhs.(literal).v); !ok {
				return nil, p.errAt(lhsAt, "%s needs a datetime on its left, such as now or '2024-05-15T15:18:00Z'", opText)
			}
		}
		obj, ok := lit.v.(map[string]any)
		if !rhsLiteral || !ok {
			return nil, p.errAt(rhsAt, "%s needs an object on its right, e.g. {\"id\": 1, \"type\": \"SUPPORT_HOUR\"}", opText)
		}
		ref, err := toRef(obj)
		if err != nil {
			return nil, p.errAt(rhsAt, "%s: %v", opText, err)
		}
		n.ref = ref
		if !slices.Contains(p.c.refs, ref) {
			p.c.refs = append(p.c.refs, ref)
		}
	}
	return n, nil
}

func toRef(obj map[string]any) (Ref, error) {
	var ref Ref
	for k := range obj {
		if k != "id" && k != "type" {
			return ref, fmt.Errorf("unknown key %q; the object has only id and type", k)
		}
	}
	switch id := obj["id"].(type) {
	case int64:
		ref.ID = id
	case nil:
		return ref, fmt.Errorf("the object needs an id")
	default:
		return ref, fmt.Errorf("the id must be a whole number")
	}
	if ref.ID <= 0 {
		return ref, fmt.Errorf("the id must be positive")
	}
	t, ok := obj["type"].(string)
	if !ok {
		return ref, fmt.Errorf("the object needs a type, %s or %s", RefSupportHour, RefOnCallSchedule)
	}
	switch strings.ToUpper(t) {
	case RefSupportHour, RefOnCallSchedule:
		ref.Type = strings.ToUpper(t)
	default:
		return ref, fmt.Errorf("the type must be %s or %s", RefSupportHour, RefOnCallSchedule)
	}
	return ref, nil
}

// compileRegex compiles a pattern and returns the size of its program, as regexp compiles
// it: the work of matching is up to the text's length times that size.
func compileRegex(pattern string, exact bool) (*regexp.Regexp, int, error) {
	if !exact {
		pattern = "(?i)" + pattern
	}
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, 0, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, 0, err
	}
	if len(prog.Inst) > maxRegexInsts {
		return nil, len(prog.Inst), nil
	}
	compiled, err := regexp.Compile(pattern)
	return compiled, len(prog.Inst), err
}

// checkCount refuses a comparison of a counter with a number it can never reach: counts stop
// at MaxCount, so `trigger_count.2d > 10000` could never hold (nor its negation fail).
func (p *parser) checkCount(spec opSpec, lhs operand, lhsAt int, rhs operand, rhsAt int) error {
	ctr, ok := lhs.(counterOperand)
	lit, isLit := rhs.(literal)
	kind, at := spec.kind, rhsAt
	if !ok {
		// The counter on the right: 5 < trigger_count.1h is trigger_count.1h > 5.
		if ctr, ok = rhs.(counterOperand); !ok {
			return nil
		}
		lit, isLit = lhs.(literal)
		at = lhsAt
		switch kind {
		case opLt:
			kind = opGt
		case opLe:
			kind = opGe
		case opGt:
			kind = opLt
		case opGe:
			kind = opLe
		}
	}
	if !isLit {
		return nil
	}
	values := []any{lit.v}
	switch kind {
	case opEq, opLt, opLe, opGt, opGe:
	case opIn:
		list, _ := lit.v.([]any)
		values = list
	default:
		return nil
	}
	for _, v := range values {
		x, ok := toNumber(v)
		if !ok {
			continue
		}
		limit, _ := compareNumbers(x, int64(MaxCount))
		switch {
		case limit > 0:
			return p.errAt(at, "%s stops counting at %d events; compare it with a number up to %d", ctr.name, MaxCount, MaxCount)
		case limit == 0 && kind == opGt:
			return p.errAt(at, "%s stops counting at %d events, so it is never more than %d", ctr.name, MaxCount, MaxCount)
		}
	}
	return nil
}

// regexMessage shortens regexp's error to what a user needs.
func regexMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error parsing regexp: ")
	return strings.Replace(msg, "`(?i)", "`", 1)
}
