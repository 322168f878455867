package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Element is one piece of a template in ilert's element form: TEXT (val is text), VAR (val
// is a variable path, func and args an optional function) or RAW (val is template text, used
// here for whole sections).
type Element struct {
	Type string `json:"type"`
	Val  string `json:"val"`
	Func string `json:"func,omitempty"`
	Args []Arg  `json:"args,omitempty"`
}

// Arg is a function argument in element form: a string S or a number N.
type Arg struct {
	S *string  `json:"S,omitempty"`
	N *float64 `json:"N,omitempty"`
}

// Elements returns the template in element form. Text between tags is a TEXT element, each
// variable a VAR element with its path in canonical form and its function and arguments, and
// each section, from its opening tag to its closing tag, a RAW element holding its source
// text. ParseWire reads the elements back into a template that renders the same.
func (t *Template) Elements() []Element {
	if t == nil {
		return nil
	}
	var out []Element
	text := func(s string) {
		if s != "" {
			out = append(out, Element{Type: "TEXT", Val: s})
		}
	}
	pos := 0
	for _, n := range t.nodes {
		switch n := n.(type) {
		case *varNode:
			text(t.text[pos:n.start])
			pos = n.end
			e := Element{Type: "VAR", Val: n.path.String()}
			if n.call != nil {
				e.Func = n.call.name
				for _, a := range n.call.args {
					if a.isNum {
						n := a.n
						e.Args = append(e.Args, Arg{N: &n})
					} else {
						s := a.s
						e.Args = append(e.Args, Arg{S: &s})
					}
				}
			}
			out = append(out, e)
		case *sectionNode:
			text(t.text[pos:n.start])
			pos = n.end
			out = append(out, Element{Type: "RAW", Val: t.text[n.start:n.end]})
		}
	}
	text(t.text[pos:])
	return out
}

// ParseWire reads a template in one of its wire forms, {"textTemplate": "…"} or
// {"elements": [...]}. A non-empty textTemplate is preferred when both are present. A null or
// empty value, or one with neither form, is no template: (nil, nil).
func ParseWire(raw json.RawMessage) (*Template, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var w struct {
		TextTemplate json.RawMessage `json:"textTemplate"`
		Elements     json.RawMessage `json:"elements"`
	}
	if raw[0] != '{' || json.Unmarshal(raw, &w) != nil {
		return nil, errors.New(`a template must be an object: {"textTemplate": "…"} or {"elements": [...]}`)
	}
	var text string
	if t := bytes.TrimSpace(w.TextTemplate); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if err := json.Unmarshal(t, &text); err != nil {
			return nil, errors.New("textTemplate must be a string")
		}
	}
	if text != "" {
		return Parse(text)
	}
	var raws []json.RawMessage
	if e := bytes.TrimSpace(w.Elements); len(e) > 0 && !bytes.Equal(e, []byte("null")) {
		if err := json.Unmarshal(e, &raws); err != nil {
			return nil, errors.New("elements must be a list of {type, val, func, args}")
		}
	}
	if len(raws) == 0 {
		return nil, nil
	}
	var b strings.Builder
	for i, r := range raws {
		var e Element
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("elements[%d]: %s", i, describeJSONError(err))
		}
		s, err := e.source()
		if err != nil {
			return nil, fmt.Errorf("elements[%d]: %w", i, err)
		}
		b.WriteString(s)
	}
	t, err := Parse(b.String())
	if err != nil {
		return nil, fmt.Errorf("elements (joined into one text): %w", err)
	}
	return t, nil
}

// source is the element as template text.
func (e Element) source() (string, error) {
	switch e.Type {
	case "TEXT", "RAW":
		return e.Val, nil
	case "VAR":
	default:
		return "", fmt.Errorf("type must be TEXT, VAR or RAW, not %q", e.Type)
	}
	val := strings.TrimSpace(e.Val)
	if val == "" {
		return "", errors.New("a VAR element needs a variable path in val")
	}
	if strings.ContainsAny(val[:1], "#^/") {
		return "", fmt.Errorf("val %q is not a variable path", e.Val)
	}
	var b strings.Builder
	b.WriteString("{{ ")
	b.WriteString(e.Val)
	if e.Func != "" {
		b.WriteString(".")
		b.WriteString(e.Func)
		b.WriteString("(")
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			switch {
			case a.S != nil && a.N != nil:
				return "", fmt.Errorf("args[%d] has both S and N: give one", i)
			case a.S != nil:
				b.WriteString(quote(*a.S))
			case a.N != nil:
				b.WriteString(strconv.FormatFloat(*a.N, 'f', -1, 64))
			default:
				return "", fmt.Errorf("args[%d] needs S (a string) or N (a number)", i)
			}
		}
		b.WriteString(")")
	} else if len(e.Args) > 0 {
		return "", errors.New("args without func")
	}
	b.WriteString(" }}")
	src := b.String()
	// The element must be exactly one variable; a val such as "#x" or "a }}{{ b" is not.
	t, err := Parse(src)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			return "", fmt.Errorf("VAR %q: %s", e.Val, se.Msg)
		}
		return "", err
	}
	if len(t.nodes) != 1 {
		return "", fmt.Errorf("val %q is not a variable path", e.Val)
	}
	if v, ok := t.nodes[0].(*varNode); !ok || v.start != 0 || v.end != len(src) {
		return "", fmt.Errorf("val %q is not a variable path", e.Val)
	}
	return src, nil
}

// describeJSONError says which field of an element has the wrong type.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		want := "a string"
		switch {
		case strings.HasSuffix(te.Field, ".N") || te.Field == "N":
			want = "a number"
		case te.Field == "args":
			want = "a list of {S} or {N}"
		case strings.HasPrefix(te.Field, "args"):
			want = "an object {S} or {N}"
		}
		return fmt.Sprintf("%s must be %s, not %s", te.Field, want, te.Value)
	}
	return "must be an object {type, val, func, args}"
}
