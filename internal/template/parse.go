package template

import (
	"math"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// node is one piece of a parsed template: textNode, *varNode or *sectionNode.
type node interface{}

type textNode string

type varNode struct {
	path       path
	call       *call // nil for a plain variable
	start, end int   // the tag's source span, "{{" to "}}" inclusive
}

type sectionNode struct {
	path       path
	inverted   bool
	nodes      []node
	start, end int // source span from the opening tag's "{{" to the closing tag's "}}"
}

// path is a variable reference: "." (the current item) or keys and indices.
type path struct {
	dot   bool
	steps []step
}

type step struct {
	key   string
	index int
	isIdx bool
}

// String writes the path in its canonical source form: the form the closing tag of a section
// must match and the one Elements reports.
func (p path) String() string {
	if p.dot {
		return "."
	}
	var b strings.Builder
	for i, s := range p.steps {
		if s.isIdx {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		for _, r := range s.key {
			if !isKeyRune(r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// call is a function applied to a variable.
type call struct {
	name string // as written (joinFromObjectArray stays joinFromObjectArray)
	fn   *function
	args []arg
	re   *regexp.Regexp // compiled regular-expression argument, if the function takes one
	pos  int            // offset of the function's name
	id   int            // index of the call's result in a render's memo, shared by equal calls

	reInsts int // the size of re's compiled program, in instructions
}

// arg is a literal argument: a string or a number.
type arg struct {
	s     string
	n     float64
	isNum bool
	pos   int
}

const (
	kindVar     = 0
	kindSection = '#'
	kindInvert  = '^'
	kindClose   = '/'
)

// tag is one {{…}} as the scanner reads it.
type tag struct {
	kind       byte
	start, end int // "{{" to "}}" inclusive
	path       path
	call       *call
}

type token struct {
	text       bool
	start, end int // for text: the source span, narrowed by standalone section tags
	tag        tag
}

type parser struct {
	src   string
	pos   int
	calls int            // how many memo entries the calls need
	ids   map[string]int // the memo entry of each call, by the key memoID makes
	res   map[string]*compiledRegex
	insts int // instructions in the programs of res
}

// compiledRegex is a regular expression argument, compiled once for every call that has it.
type compiledRegex struct {
	re    *regexp.Regexp
	insts int
}

func (p *parser) errorf(off int, format string, args ...any) error {
	return syntaxError(p.src, off, format, args...)
}

func (p *parser) parse() ([]node, error) {
	toks, err := p.scan()
	if err != nil {
		return nil, err
	}
	p.trimStandalone(toks)
	return p.build(toks)
}

// scan splits the source into text and tags.
func (p *parser) scan() ([]token, error) {
	var toks []token
	for p.pos < len(p.src) {
		i := strings.Index(p.src[p.pos:], "{{")
		if i < 0 {
			toks = append(toks, token{text: true, start: p.pos, end: len(p.src)})
			break
		}
		if i > 0 {
			toks = append(toks, token{text: true, start: p.pos, end: p.pos + i})
		}
		t, err := p.tag(p.pos + i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, token{tag: t})
	}
	return toks, nil
}

// tag reads the tag whose "{{" is at open.
func (p *parser) tag(open int) (tag, error) {
	t := tag{start: open}
	if !strings.Contains(p.src[open+2:], "}}") {
		return t, p.errorf(open, "unclosed tag: {{ without a closing }}")
	}
	p.pos = open + 2
	p.skipSpace()
	if strings.HasPrefix(p.src[p.pos:], "}}") {
		return t, p.errorf(open, "empty tag {{}}: write a variable name between the braces")
	}
	switch c := p.src[p.pos]; c {
	case kindSection, kindInvert, kindClose:
		t.kind = c
		p.pos++
		p.skipSpace()
	case '!', '>', '<', '=', '&', '{':
		return t, p.errorf(p.pos, "unsupported tag {{%c: ITL has variables {{var}}, sections {{#var}}, inverted sections {{^var}} and their ends {{/var}}", c)
	}
	var err error
	if t.path, t.call, err = p.path(t.kind == kindVar); err != nil {
		return t, err
	}
	p.skipSpace()
	if t.call != nil && strings.HasPrefix(p.src[p.pos:], ".") {
		return t, p.errorf(p.pos, "only one function can be applied to a variable")
	}
	if !strings.HasPrefix(p.src[p.pos:], "}}") {
		return t, p.unexpected("in tag")
	}
	p.pos += 2
	t.end = p.pos
	return t, nil
}

// unexpected reports the character at p.pos.
func (p *parser) unexpected(where string) error {
	if p.pos >= len(p.src) {
		return p.errorf(p.pos, "unexpected end of template %s", where)
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	if r == '}' && !strings.HasPrefix(p.src[p.pos:], "}}") {
		return p.errorf(p.pos, "unexpected %q %s: a tag ends with }}", r, where)
	}
	return p.errorf(p.pos, "unexpected %q %s", r, where)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		r, n := utf8.DecodeRuneInString(p.src[p.pos:])
		if !unicode.IsSpace(r) {
			return
		}
		p.pos += n
	}
}

// isKeyRune reports whether r may appear unescaped in a key. Other characters are written with
// a backslash before them: `{{ labels.compl:ex\ key }}`.
func isKeyRune(r rune) bool {
	if unicode.IsSpace(r) || r == utf8.RuneError {
		return false
	}
	switch r {
	case '.', '[', ']', '(', ')', '{', '}', '"', '\'', ',', '\\':
		return false
	}
	return true
}

// path reads a variable path and, when funcs allows it, a function applied to it.
func (p *parser) path(funcs bool) (path, *call, error) {
	var pt path
	if strings.HasPrefix(p.src[p.pos:], ".") {
		rest := p.src[p.pos+1:]
		r, _ := utf8.DecodeRuneInString(rest)
		if rest == "" || unicode.IsSpace(r) || r == '}' {
			p.pos++
			return path{dot: true}, nil, nil
		}
		if r == '(' || isKeyRune(r) || r == '\\' {
			return pt, nil, p.errorf(p.pos, "a variable name cannot start with '.': write {{.}} for the current item, or a name such as {{ item.field }}")
		}
	}
	for {
		// A key, then any indices.
		keyPos := p.pos
		key, err := p.key()
		if err != nil {
			return pt, nil, err
		}
		if key == "" {
			if len(pt.steps) == 0 {
				return pt, nil, p.unexpectedName("a variable name")
			}
			return pt, nil, p.unexpectedName("a name after '.'")
		}
		if strings.HasPrefix(p.src[p.pos:], "(") {
			if !funcs {
				return pt, nil, p.errorf(keyPos, "functions cannot be used in section tags")
			}
			if len(pt.steps) == 0 {
				return pt, nil, p.errorf(keyPos, "function %s needs a variable: write {{ var.%s(…) }}", key, key)
			}
			c, err := p.call(key, keyPos)
			if err != nil {
				return pt, nil, err
			}
			c.id = p.memoID(pt, c)
			return pt, c, nil
		}
		pt.steps = append(pt.steps, step{key: key})
		for strings.HasPrefix(p.src[p.pos:], "[") {
			idx, err := p.index()
			if err != nil {
				return pt, nil, err
			}
			pt.steps = append(pt.steps, step{index: idx, isIdx: true})
		}
		if !strings.HasPrefix(p.src[p.pos:], ".") {
			return pt, nil, nil
		}
		p.pos++
	}
}

func (p *parser) unexpectedName(what string) error {
	if p.pos < len(p.src) && !strings.HasPrefix(p.src[p.pos:], "}}") {
		r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
		if !unicode.IsSpace(r) {
			return p.errorf(p.pos, "expected %s, found %q", what, r)
		}
	}
	return p.errorf(p.pos, "expected %s", what)
}

// digits skips a run of ASCII digits and reports whether there was one.
func (p *parser) digits() bool {
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	return p.pos > start
}

// key reads a key, resolving backslash escapes.
func (p *parser) key() (string, error) {
	start := p.pos
	var b *strings.Builder // only when the key has escapes
	for p.pos < len(p.src) {
		r, n := utf8.DecodeRuneInString(p.src[p.pos:])
		if r == '\\' {
			if p.pos+1 >= len(p.src) {
				return "", p.errorf(p.pos, "a backslash must be followed by the character it escapes")
			}
			if b == nil {
				b = &strings.Builder{}
				b.WriteString(p.src[start:p.pos])
			}
			r2, n2 := utf8.DecodeRuneInString(p.src[p.pos+1:])
			b.WriteRune(r2)
			p.pos += 1 + n2
			continue
		}
		if !isKeyRune(r) {
			break
		}
		if b != nil {
			b.WriteRune(r)
		}
		p.pos += n
	}
	if b != nil {
		return b.String(), nil
	}
	return p.src[start:p.pos], nil
}

// index reads "[n]".
func (p *parser) index() (int, error) {
	open := p.pos
	p.pos++
	start := p.pos
	if !p.digits() {
		return 0, p.errorf(p.pos, "an array index is a number: write [0], [1], …")
	}
	n, err := strconv.Atoi(p.src[start:p.pos])
	if err != nil || n > math.MaxInt32 {
		return 0, p.errorf(start, "array index %s is too large", p.src[start:p.pos])
	}
	if !strings.HasPrefix(p.src[p.pos:], "]") {
		if rest := strings.TrimLeftFunc(p.src[p.pos:], unicode.IsSpace); rest == "" || rest[0] == '}' {
			return 0, p.errorf(open, "'[' without a closing ']'")
		}
		return 0, p.unexpected("in array index")
	}
	p.pos++
	return n, nil
}

// call reads the argument list of function name, whose name starts at namePos, and checks it.
func (p *parser) call(name string, namePos int) (*call, error) {
	fn, ok := functions[name]
	if !ok {
		for known := range functions {
			if strings.EqualFold(known, name) {
				return nil, p.errorf(namePos, "unknown function %s (did you mean %s?)", name, known)
			}
		}
		return nil, p.errorf(namePos, "unknown function %s", name)
	}
	c := &call{name: name, fn: fn, pos: namePos}
	open := p.pos
	p.pos++ // (
	p.skipSpace()
	if strings.HasPrefix(p.src[p.pos:], ")") {
		p.pos++
	} else {
		for {
			if strings.HasPrefix(p.src[p.pos:], "}}") {
				return nil, p.errorf(p.pos, "missing ')' to close the arguments of %s opened at column %d", name, syntaxError(p.src, open, "").Column)
			}
			a, err := p.arg()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.skipSpace()
			if strings.HasPrefix(p.src[p.pos:], ",") {
				p.pos++
				p.skipSpace()
				continue
			}
			if strings.HasPrefix(p.src[p.pos:], ")") {
				p.pos++
				break
			}
			if strings.HasPrefix(p.src[p.pos:], "}}") {
				return nil, p.errorf(p.pos, "missing ')' to close the arguments of %s opened at column %d", name, syntaxError(p.src, open, "").Column)
			}
			return nil, p.unexpected("in the arguments of " + name + ": expected ',' or ')'")
		}
	}
	if err := p.check(c); err != nil {
		return nil, err
	}
	return c, nil
}

// memoID gives calls of the same function with the same arguments on the same path one memo
// entry: they render the same text, so a render computes it once.
func (p *parser) memoID(pt path, c *call) int {
	var b strings.Builder
	b.WriteString(c.fn.name)
	for _, a := range c.args {
		b.WriteByte(',')
		if a.isNum {
			b.WriteString(strconv.FormatFloat(a.n, 'g', -1, 64))
		} else {
			b.WriteString(quote(a.s))
		}
	}
	b.WriteByte(' ')
	b.WriteString(pt.String())
	key := b.String()
	if id, ok := p.ids[key]; ok {
		return id
	}
	if p.ids == nil {
		p.ids = map[string]int{}
	}
	id := p.calls
	p.ids[key] = id
	p.calls++
	return id
}

// arg reads a string ("…" or '…') or a number.
func (p *parser) arg() (arg, error) {
	a := arg{pos: p.pos}
	if p.pos >= len(p.src) {
		return a, p.unexpected("in arguments")
	}
	switch c := p.src[p.pos]; {
	case c == '"' || c == '\'':
		s, err := p.str(c)
		a.s = s
		return a, err
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		if c == '-' {
			p.pos++
		}
		if !p.digits() {
			return a, p.errorf(start, "expected a number after '-'")
		}
		if strings.HasPrefix(p.src[p.pos:], ".") {
			p.pos++
			if !p.digits() {
				return a, p.errorf(start, "expected digits after the decimal point")
			}
		}
		n, err := strconv.ParseFloat(p.src[start:p.pos], 64)
		if err != nil || math.IsInf(n, 0) {
			return a, p.errorf(start, "number %s is out of range", p.src[start:p.pos])
		}
		a.n, a.isNum = n, true
		return a, nil
	case c == ')':
		return a, p.errorf(p.pos, "expected an argument after ','")
	}
	return a, p.unexpected("in arguments: expected a string in quotes or a number")
}

// str reads a string literal quoted with q. Backslash escapes \" \' \\ \n \t \r stand for the
// character; before any other character the backslash is kept, so regular expressions such as
// "\d+" need no doubled backslashes.
func (p *parser) str(q byte) (string, error) {
	open := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == q:
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.src):
			switch e := p.src[p.pos+1]; e {
			case '"', '\'', '\\':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte('\\')
				p.pos++
				continue
			}
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", p.errorf(open, "unterminated string: missing closing %c", q)
}

// quote writes s as a string literal that str reads back as s.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// check compares a call's arguments with its function's parameters and compiles a regular
// expression argument.
func (p *parser) check(c *call) error {
	fn := c.fn
	if len(c.args) < fn.min || len(c.args) > len(fn.params) {
		return p.errorf(c.pos, "%s %s, not %d", c.name, fn.arity(), len(c.args))
	}
	for i, a := range c.args {
		switch fn.params[i] {
		case paramString, paramRegex:
			if a.isNum {
				return p.errorf(a.pos, "argument %d of %s must be a string in quotes", i+1, c.name)
			}
		case paramInt:
			if !a.isNum {
				return p.errorf(a.pos, "argument %d of %s must be a number, without quotes", i+1, c.name)
			}
			if a.n != math.Trunc(a.n) || a.n < 0 || a.n > math.MaxInt32 {
				return p.errorf(a.pos, "argument %d of %s must be a whole number from 0 to %d", i+1, c.name, math.MaxInt32)
			}
		}
		if fn.params[i] == paramRegex {
			cr, err := p.regex(c, a)
			if err != nil {
				return err
			}
			c.re, c.reInsts = cr.re, cr.insts
		}
	}
	if c.fn.name == "substring" && len(c.args) == 2 && c.args[1].n < c.args[0].n {
		return p.errorf(c.args[1].pos, "substring: the end (%v) must not be before the start (%v)", c.args[1].n, c.args[0].n)
	}
	return nil
}

// regex compiles a regular expression argument of c. Its program may have at most
// maxRegexInsts instructions, and the distinct expressions of a template maxTemplateRegexInsts
// in all: matching takes time in proportion to the text times the program's size.
func (p *parser) regex(c *call, a arg) (*compiledRegex, error) {
	if cr, ok := p.res[a.s]; ok {
		return cr, nil
	}
	re, err := syntax.Parse(a.s, syntax.Perl) // as regexp.Compile parses
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
		return nil, p.errorf(a.pos, "invalid regular expression in %s: %s", c.name, msg)
	}
	tooLarge := func() error {
		return p.errorf(a.pos, "regular expression in %s is too complex: it compiles to more than %d instructions; use a shorter expression or smaller repeat counts", c.name, maxRegexInsts)
	}
	// A repeat such as x{1000} makes 1000 copies of x when compiled; refuse what is surely too
	// large before compiling it.
	if regexSize(re) > 4*maxRegexInsts {
		return nil, tooLarge()
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, p.errorf(a.pos, "invalid regular expression in %s: %v", c.name, err)
	}
	if len(prog.Inst) > maxRegexInsts {
		return nil, tooLarge()
	}
	if p.insts += len(prog.Inst); p.insts > maxTemplateRegexInsts {
		return nil, p.errorf(a.pos, "the regular expressions of this template are too complex: together they compile to more than %d instructions", maxTemplateRegexInsts)
	}
	compiled, err := regexp.Compile(a.s)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
		return nil, p.errorf(a.pos, "invalid regular expression in %s: %s", c.name, msg)
	}
	cr := &compiledRegex{re: compiled, insts: len(prog.Inst)}
	if p.res == nil {
		p.res = map[string]*compiledRegex{}
	}
	p.res[a.s] = cr
	return cr, nil
}

// regexSize estimates the instructions re compiles to, as regexp/syntax does, saturating
// well above maxRegexInsts.
func regexSize(re *syntax.Regexp) int {
	const ceiling = 1 << 20
	size := 0
	switch re.Op {
	case syntax.OpLiteral:
		size = len(re.Rune)
	case syntax.OpCapture, syntax.OpStar:
		size = 2 + regexSize(re.Sub[0])
	case syntax.OpPlus, syntax.OpQuest:
		size = 1 + regexSize(re.Sub[0])
	case syntax.OpConcat, syntax.OpAlternate:
		for _, sub := range re.Sub {
			size = min(size+regexSize(sub)+1, ceiling)
		}
	case syntax.OpRepeat:
		sub := regexSize(re.Sub[0])
		n := re.Max
		if n < 0 {
			n = re.Min + 1
		}
		size = min(n*sub+n, ceiling)
	}
	return min(max(1, size), ceiling)
}

// trimStandalone removes the lines that hold nothing but one section tag ({{#…}}, {{^…}},
// {{/…}}) and whitespace, as Mustache does, so a section on lines of its own adds no blank
// lines to the output.
func (p *parser) trimStandalone(toks []token) {
	for i := range toks {
		t := &toks[i]
		if t.text || t.tag.kind == kindVar {
			continue
		}
		// Only spaces and tabs between the line's start and the tag, and between the tag and
		// the line's end. Scanning only over them keeps this linear in the text.
		ls := t.tag.start
		for ls > 0 && (p.src[ls-1] == ' ' || p.src[ls-1] == '\t') {
			ls--
		}
		if ls > 0 && p.src[ls-1] != '\n' {
			continue
		}
		le := t.tag.end
		for le < len(p.src) && (p.src[le] == ' ' || p.src[le] == '\t' || p.src[le] == '\r') {
			le++
		}
		if le < len(p.src) {
			if p.src[le] != '\n' {
				continue
			}
			le++
		}
		if i > 0 && toks[i-1].text {
			toks[i-1].end = max(toks[i-1].start, ls)
		}
		if i+1 < len(toks) && toks[i+1].text {
			toks[i+1].start = min(toks[i+1].end, le)
		}
	}
}

// build nests the tokens into sections.
func (p *parser) build(toks []token) ([]node, error) {
	type open struct {
		sec   *sectionNode
		tag   tag
		outer []node
	}
	var stack []open
	var cur []node
	for _, t := range toks {
		if t.text {
			if t.end > t.start {
				cur = append(cur, textNode(p.src[t.start:t.end]))
			}
			continue
		}
		tg := t.tag
		switch tg.kind {
		case kindVar:
			cur = append(cur, &varNode{path: tg.path, call: tg.call, start: tg.start, end: tg.end})
		case kindSection, kindInvert:
			if len(stack) >= maxNesting {
				return nil, p.errorf(tg.start, "sections are nested more than %d deep", maxNesting)
			}
			sec := &sectionNode{path: tg.path, inverted: tg.kind == kindInvert, start: tg.start}
			stack = append(stack, open{sec: sec, tag: tg, outer: cur})
			cur = nil
		case kindClose:
			name := tg.path.String()
			if len(stack) == 0 {
				return nil, p.errorf(tg.start, "{{/%s}} closes a section that was never opened", name)
			}
			top := stack[len(stack)-1]
			if want := top.sec.path.String(); want != name {
				o := syntaxError(p.src, top.tag.start, "")
				return nil, p.errorf(tg.start, "{{/%s}} does not match the open section {{%c%s}} at line %d, column %d", name, top.tag.kind, want, o.Line, o.Column)
			}
			stack = stack[:len(stack)-1]
			top.sec.nodes, top.sec.end = cur, tg.end
			cur = append(top.outer, top.sec)
		}
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return nil, p.errorf(top.tag.start, "section {{%c%s}} is never closed: add {{/%s}}", top.tag.kind, top.sec.path.String(), top.sec.path.String())
	}
	return cur, nil
}
