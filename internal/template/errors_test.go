package template_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/template"
)

func asSyntaxError(err error, se **template.SyntaxError) bool {
	return errors.As(err, se)
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name         string
		text         string
		line, column int
		msg          string // a part of the message
	}{
		{"ErrUnclosedTag", "Disk {{ summary", 1, 6, "unclosed tag"},
		{"ErrUnclosedTagOnLaterLine", "a\nb {{ summary }}\nc {{ x }", 3, 3, "unclosed tag"},
		{"ErrUnclosedTagHalfBrace", "{{ a }", 1, 1, "unclosed tag"},
		{"ErrEmptyTag", "x {{ }}", 1, 3, "empty tag"},
		{"ErrEmptyTagNoSpace", "{{}}", 1, 1, "empty tag"},
		{"ErrSpaceInKey", "{{ a b }}", 1, 6, `unexpected 'b' in tag`},
		{"ErrSingleBraceInTag", "{{ a } }}", 1, 6, `unexpected '}' in tag: a tag ends with }}`},
		{"ErrTagInTag", "{{ a {{ b }}", 1, 6, `unexpected '{'`},
		{"ErrTripleBraces", "{{{ a }}}", 1, 3, "unsupported tag {{{"},
		{"ErrComment", "{{! note }}", 1, 3, "unsupported tag {{!"},
		{"ErrPartial", "{{> other }}", 1, 3, "unsupported tag {{>"},
		{"ErrAmpersand", "{{& a }}", 1, 3, "unsupported tag {{&"},
		{"ErrTrailingDot", "{{ a. }}", 1, 6, "expected a name after '.'"},
		{"ErrDoubleDot", "{{ a..b }}", 1, 6, "expected a name after '.', found '.'"},
		{"ErrLeadingDot", "{{ .a }}", 1, 4, "cannot start with '.'"},
		{"ErrLeadingIndex", "{{ [0] }}", 1, 4, "expected a variable name, found '['"},
		{"ErrSectionWithoutName", "{{# }}x{{/}}", 1, 5, "expected a variable name"},
		{"ErrIndexNotNumber", "{{ a[x] }}", 1, 6, "an array index is a number"},
		{"ErrIndexNegative", "{{ a[-1] }}", 1, 6, "an array index is a number"},
		{"ErrIndexUnclosed", "{{ a[0 }}", 1, 5, "'[' without a closing ']'"},
		{"ErrIndexTrailingText", "{{ a[0x] }}", 1, 7, "unexpected 'x' in array index"},
		{"ErrIndexTooLarge", "{{ a[99999999999999999999] }}", 1, 6, "too large"},
		{"ErrDanglingBackslash", `{{ a\`, 1, 1, "unclosed tag"},
		{"ErrUnknownFunction", "{{ summary.shout() }}", 1, 12, "unknown function shout"},
		{"ErrUnknownFunctionCase", "{{ summary.lowercase() }}", 1, 12, "unknown function lowercase (did you mean lowerCase?)"},
		{"ErrFunctionWithoutVariable", "{{ lowerCase() }}", 1, 4, "function lowerCase needs a variable"},
		{"ErrFunctionOnDot", "{{#a}}{{ .lowerCase() }}{{/a}}", 1, 10, "cannot start with '.'"},
		{"ErrTwoFunctions", "{{ a.lowerCase().upperCase() }}", 1, 17, "only one function"},
		{"ErrSpaceBeforeParen", "{{ a.lowerCase () }}", 1, 16, "unexpected '('"},
		{"ErrTextAfterFunction", "{{ a.lowerCase() x }}", 1, 18, "unexpected 'x'"},
		{"ErrFunctionInSection", "{{# a.lowerCase() }}x{{/a}}", 1, 7, "functions cannot be used in section tags"},
		{"ErrFunctionInInvertedSection", "{{^a.lowerCase()}}x{{/a}}", 1, 6, "functions cannot be used in section tags"},
		{"ErrMissingParen", "{{ a.lowerCase( }}", 1, 17, "missing ')' to close the arguments of lowerCase opened at column 15"},
		{"ErrMissingParenAfterArg", `{{ a.join(", " }}`, 1, 16, "missing ')'"},
		{"ErrMissingComma", `{{ a.replaceAll("x" "y") }}`, 1, 21, `expected ',' or ')'`},
		{"ErrTrailingComma", `{{ a.join(", ",) }}`, 1, 16, "expected an argument after ','"},
		{"ErrBareWordArgument", `{{ a.join(comma) }}`, 1, 11, "expected a string in quotes or a number"},
		{"ErrUnterminatedString", `{{ a.join("x) }}`, 1, 11, "unterminated string"},
		{"ErrMinusWithoutDigits", `{{ a.substring(-) }}`, 1, 16, "expected a number after '-'"},
		{"ErrDecimalPointWithoutDigits", `{{ a.substring(1.) }}`, 1, 16, "expected digits after the decimal point"},
		{"ErrTooManyArguments", `{{ a.lowerCase("x") }}`, 1, 6, "lowerCase takes no arguments, not 1"},
		{"ErrTooFewArguments", `{{ a.replaceAll("x") }}`, 1, 6, "replaceAll takes 2 arguments, not 1"},
		{"ErrSubstringNoArguments", `{{ a.substring() }}`, 1, 6, "substring takes 1 or 2 arguments, not 0"},
		{"ErrJoinTooMany", `{{ a.join("a", "b") }}`, 1, 6, "join takes at most 1 argument, not 2"},
		{"ErrJoinFromObjectArrNone", `{{ a.joinFromObjectArr() }}`, 1, 6, "joinFromObjectArr takes 1 or 2 arguments, not 0"},
		{"ErrStringForInteger", `{{ a.substring("1") }}`, 1, 16, "argument 1 of substring must be a number"},
		{"ErrFractionForInteger", `{{ a.splitTakeAt(",", 1.5) }}`, 1, 23, "argument 2 of splitTakeAt must be a whole number"},
		{"ErrNegativeInteger", `{{ a.substring(-1) }}`, 1, 16, "must be a whole number from 0"},
		{"ErrNumberForString", `{{ a.replaceAll(1, "x") }}`, 1, 17, "argument 1 of replaceAll must be a string"},
		{"ErrNumberForStyle", `{{ a.formatUnixMs(1) }}`, 1, 19, "argument 1 of formatUnixMs must be a string"},
		{"ErrSubstringEndBeforeStart", `{{ a.substring(5, 2) }}`, 1, 19, "must not be before the start"},
		{"ErrInvalidRegex", `{{ a.extractRegex("(") }}`, 1, 19, "invalid regular expression in extractRegex: missing closing )"},
		{"ErrInvalidRegexGroups", "x\n  {{ a.extractRegexGroups('[z-a]') }}", 2, 27, "invalid regular expression in extractRegexGroups"},
		{"ErrRegexBackreference", `{{ a.extractRegex("(a)\1") }}`, 1, 19, "invalid regular expression"},
		{"ErrRegexTooComplex", `{{ a.extractRegex("x{1000}") }}`, 1, 19, "regular expression in extractRegex is too complex: it compiles to more than 1000 instructions"},
		{"ErrRegexesTooComplexInAll", regexCalls(11), 1, 10*31 + 19, "the regular expressions of this template are too complex: together they compile to more than 10000 instructions"},
		{"ErrTemplateTooLong", strings.Repeat("x", 70000), 1, 65537, "the template is too long: 70000 bytes, at most 65536 (64 KiB) are allowed"},
		{"ErrCloseWithoutOpen", "a {{/x}}", 1, 3, "{{/x}} closes a section that was never opened"},
		{"ErrMismatchedClose", "{{#a}}\n  {{#b}}\n  {{/a}}\n{{/b}}", 3, 3, "{{/a}} does not match the open section {{#b}} at line 2, column 3"},
		{"ErrUnclosedSection", "x {{#checks}}\n{{name}}\n", 1, 3, "section {{#checks}} is never closed: add {{/checks}}"},
		{"ErrUnclosedInvertedSection", "{{#a}}{{/a}} {{^b}}", 1, 14, "section {{^b}} is never closed"},
		{"ErrUnclosedInner", "{{#a}}{{#b}}{{/a}}", 1, 13, "{{/a}} does not match the open section {{#b}}"},
		{"ErrColumnCountsCharacters", "äöü {{ a b }}", 1, 10, "unexpected 'b'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := template.Parse(tc.text)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tc.text, tmpl.Elements())
			}
			var se *template.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T %v is not a *SyntaxError", tc.text, err, err)
			}
			if se.Line != tc.line || se.Column != tc.column || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("Parse(%q) = %v\nwant     line %d, column %d: …%s…", tc.text, err, tc.line, tc.column, tc.msg)
			}
			if want := fmt.Sprintf("line %d, column %d: %s", se.Line, se.Column, se.Msg); err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			if prefix := tc.text[:se.Offset]; strings.Count(prefix, "\n")+1 != se.Line {
				t.Errorf("Offset %d is not on line %d", se.Offset, se.Line)
			}
		})
	}
}

// regexCalls is n calls of 31 bytes with different expressions of 993 instructions each.
func regexCalls(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{{ t.extractRegex("x{%d}y") }}`, 990-i)
	}
	return b.String()
}

func TestParseAccepts(t *testing.T) {
	for _, text := range []string{
		"{{a}}",
		"{{ a-b_c:d/e@f$ }}",
		`{{ a\ b\.c }}`,
		"{{ ключ.значение }}",
		`{{ a.replaceAll( "x" , 'y' ) }}`,
		`{{ a.splitTakeAt("-", 0) }}`,
		`{{ a.substring(0, 0) }}`,
		`{{ a.formatUnixMs("anything") }}`,
		`{{ a.replaceAll("}}", "{{") }}`,
		"{{#a}}{{/a}}",
		"{{#a.b[0]}}{{/a.b[0]}}",
		"{{#.}}{{.}}{{/.}}",
		"{{ lowerCase }}", // a key, not a function
		`{{ a.extractRegex("x{997}y") }}`,
		regexCalls(10),
		strings.Repeat("x", 64<<10),
	} {
		if _, err := template.Parse(text); err != nil {
			t.Errorf("Parse(%q): %v", text, err)
		}
	}
}
