package template_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/template"
)

func ptr[T any](v T) *T { return &v }

func TestElements(t *testing.T) {
	tmpl := mustParse(t, "[{{ priority }}] {{ summary.substring(0, 20) }}\n{{#checks}}\n- {{name}}\n{{/checks}}\n{{ labels.compl:ex\\ key-123.noproblem }}{{ hosts[1] }}{{ a.replaceAll('\\'', \"\\n\") }}")
	want := []template.Element{
		{Type: "TEXT", Val: "["},
		{Type: "VAR", Val: "priority"},
		{Type: "TEXT", Val: "] "},
		{Type: "VAR", Val: "summary", Func: "substring", Args: []template.Arg{{N: ptr(0.0)}, {N: ptr(20.0)}}},
		{Type: "TEXT", Val: "\n"},
		{Type: "RAW", Val: "{{#checks}}\n- {{name}}\n{{/checks}}"},
		{Type: "TEXT", Val: "\n"},
		{Type: "VAR", Val: `labels.compl:ex\ key-123.noproblem`},
		{Type: "VAR", Val: "hosts[1]"},
		{Type: "VAR", Val: "a", Func: "replaceAll", Args: []template.Arg{{S: ptr("'")}, {S: ptr("\n")}}},
	}
	if got := tmpl.Elements(); !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		t.Errorf("Elements() =\n%s\nwant\n%s", gj, wj)
	}
	b, err := json.Marshal(want[3])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"type":"VAR","val":"summary","func":"substring","args":[{"N":0},{"N":20}]}`; got != want {
		t.Errorf("wire form %s, want %s", got, want)
	}
	if got, want := mustParse(t, "").Elements(), []template.Element(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("Elements() of an empty template = %v, want none", got)
	}
}

func TestParseWire(t *testing.T) {
	data := decode(t, eventJSON)
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"TextTemplate", `{"textTemplate": "[{{priority}}] {{summary}}"}`, "[HIGH] Disk full on db-1"},
		{"Elements", `{"elements": [
			{"type": "TEXT", "val": "["},
			{"type": "VAR", "val": "priority", "func": "lowerCase"},
			{"type": "TEXT", "val": "] "},
			{"type": "VAR", "val": "summary", "func": "splitTakeAt", "args": [{"S": " on "}, {"N": 1}]},
			{"type": "RAW", "val": "{{#hosts}} {{.}}{{/hosts}}"}
		]}`, "[high] db-1 db-1 db-2 db-3"},
		{"ElementsSplitSection", `{"elements": [
			{"type": "RAW", "val": "{{#checks}}"}, {"type": "VAR", "val": "name"}, {"type": "TEXT", "val": ";"}, {"type": "RAW", "val": "{{/checks}}"}
		]}`, "disk;load;"},
		{"ElementStringArgEscapes", `{"elements": [{"type": "VAR", "val": "summary", "func": "replaceAll", "args": [{"S": " "}, {"S": "\"\\\n"}]}]}`, "Disk\"\\\nfull\"\\\non\"\\\ndb-1"},
		{"ElementUnknownFieldsIgnored", `{"elements": [{"type": "VAR", "val": "priority", "id": 7}], "extra": true}`, "HIGH"},
		{"TextTemplatePreferred", `{"textTemplate": "text", "elements": [{"type": "TEXT", "val": "elements"}]}`, "text"},
		{"EmptyTextTemplateFallsBackToElements", `{"textTemplate": "", "elements": [{"type": "TEXT", "val": "elements"}]}`, "elements"},
		{"NullTextTemplateFallsBackToElements", `{"textTemplate": null, "elements": [{"type": "TEXT", "val": "elements"}]}`, "elements"},
		{"WhitespaceTemplate", `{"textTemplate": " "}`, " "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := template.ParseWire(json.RawMessage(tc.raw))
			if err != nil {
				t.Fatalf("ParseWire: %v", err)
			}
			if tmpl == nil {
				t.Fatal("ParseWire returned no template")
			}
			if got := tmpl.Render(data); got != tc.want {
				t.Errorf("Render = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseWireNone(t *testing.T) {
	for _, raw := range []string{``, `  `, `null`, `{}`, `{"textTemplate": null}`, `{"textTemplate": ""}`, `{"elements": []}`, `{"elements": null}`, `{"textTemplate": "", "elements": []}`} {
		tmpl, err := template.ParseWire(json.RawMessage(raw))
		if tmpl != nil || err != nil {
			t.Errorf("ParseWire(%q) = %v, %v; want nil, nil", raw, tmpl, err)
		}
	}
}

func TestParseWireErrors(t *testing.T) {
	for _, tc := range []struct {
		name, raw, msg string
		syntax         bool // the error is a *SyntaxError
	}{
		{"ErrString", `"{{a}}"`, "a template must be an object", false},
		{"ErrList", `[]`, "a template must be an object", false},
		{"ErrNumber", `12`, "a template must be an object", false},
		{"ErrBrokenJSON", `{"textTemplate": `, "a template must be an object", false},
		{"ErrTextTemplateNotString", `{"textTemplate": 5}`, "textTemplate must be a string", false},
		{"ErrElementsNotList", `{"elements": {"type": "TEXT"}}`, "elements must be a list", false},
		{"ErrTextTemplateSyntax", `{"textTemplate": "Disk {{ summary"}`, "line 1, column 6: unclosed tag", true},
		{"ErrElementNotObject", `{"elements": ["x"]}`, "elements[0]: must be an object", false},
		{"ErrElementType", `{"elements": [{"type": "TEXT", "val": "a"}, {"type": "LOOP", "val": "a"}]}`, `elements[1]: type must be TEXT, VAR or RAW, not "LOOP"`, false},
		{"ErrElementValNotString", `{"elements": [{"type": "TEXT", "val": 5}]}`, "elements[0]: val must be a string, not number", false},
		{"ErrElementArgNotNumber", `{"elements": [{"type": "VAR", "val": "a", "func": "substring", "args": [{"N": "1"}]}]}`, "elements[0]: args.N must be a number, not string", false},
		{"ErrElementArgsNotList", `{"elements": [{"type": "VAR", "val": "a", "func": "join", "args": {"S": ","}}]}`, "elements[0]: args must be a list of {S} or {N}", false},
		{"ErrVarWithoutVal", `{"elements": [{"type": "VAR", "val": " "}]}`, "elements[0]: a VAR element needs a variable path in val", false},
		{"ErrVarSection", `{"elements": [{"type": "VAR", "val": "#a"}]}`, `elements[0]: val "#a" is not a variable path`, false},
		{"ErrVarTwoTags", `{"elements": [{"type": "VAR", "val": "a }}{{ b"}]}`, `elements[0]: val "a }}{{ b" is not a variable path`, false},
		{"ErrVarBadPath", `{"elements": [{"type": "VAR", "val": "a b"}]}`, `elements[0]: VAR "a b": unexpected 'b' in tag`, false},
		{"ErrVarUnknownFunction", `{"elements": [{"type": "VAR", "val": "a", "func": "shout"}]}`, `elements[0]: VAR "a": unknown function shout`, false},
		{"ErrVarArgType", `{"elements": [{"type": "VAR", "val": "a", "func": "substring", "args": [{"S": "1"}]}]}`, "argument 1 of substring must be a number", false},
		{"ErrVarArgCount", `{"elements": [{"type": "VAR", "val": "a", "func": "replaceAll", "args": [{"S": "1"}]}]}`, "replaceAll takes 2 arguments, not 1", false},
		{"ErrVarBadRegex", `{"elements": [{"type": "VAR", "val": "a", "func": "extractRegex", "args": [{"S": "("}]}]}`, "invalid regular expression", false},
		{"ErrArgBoth", `{"elements": [{"type": "VAR", "val": "a", "func": "join", "args": [{"S": ",", "N": 1}]}]}`, "elements[0]: args[0] has both S and N", false},
		{"ErrArgNeither", `{"elements": [{"type": "VAR", "val": "a", "func": "join", "args": [{}]}]}`, "elements[0]: args[0] needs S (a string) or N (a number)", false},
		{"ErrArgsWithoutFunc", `{"elements": [{"type": "VAR", "val": "a", "args": [{"S": ","}]}]}`, "elements[0]: args without func", false},
		{"ErrUnbalancedRaw", `{"elements": [{"type": "RAW", "val": "{{#a}}"}, {"type": "TEXT", "val": "x"}]}`, "elements (joined into one text): line 1, column 1: section {{#a}} is never closed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := template.ParseWire(json.RawMessage(tc.raw))
			if err == nil {
				t.Fatalf("ParseWire(%s) = %q, want an error", tc.raw, tmpl.Text())
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("ParseWire(%s) error %q, want it to contain %q", tc.raw, err, tc.msg)
			}
			var se *template.SyntaxError
			if got := errors.As(err, &se); got != tc.syntax {
				t.Errorf("error is a *SyntaxError: %v, want %v", got, tc.syntax)
			}
		})
	}
}

// The element form of a template reads back into one that renders the same and has the same
// element form.
func TestElementsRoundTrip(t *testing.T) {
	data := decode(t, eventJSON)
	for _, text := range []string{
		"",
		"plain",
		"[{{ priority }}] {{summary}} on {{ labels.host }}",
		`{{ labels.compl:ex\ key-123.noproblem }} {{ labels.app\.kubernetes\.io/name }} {{ checks[0].tags[1] }}`,
		`{{ summary.replaceAll("\"", "\\") }}|{{ summary.splitTakeAt(" ", 2) }}|{{ summary.substring(1, 3) }}`,
		`{{ hosts.join("\n") }}{{ checks.joinFromObjectArray("name") }}{{ summary.extractRegexGroups("(\w+)-(\d)") }}`,
		"Checks:\n{{#checks}}\n- {{name}} {{#tags}}{{.}} {{/tags}}\n{{/checks}}\n{{^nothing}}\n  none\n{{/nothing}}\nend",
		"{ {{ priority }} }}",
		`{{ load.equalsTake("0.75", 'three quarters') }}{{ severity.formatUnixSec('F') }}`,
	} {
		t.Run(text, func(t *testing.T) {
			orig := mustParse(t, text)
			wire, err := json.Marshal(map[string]any{"elements": orig.Elements()})
			if err != nil {
				t.Fatal(err)
			}
			back, err := template.ParseWire(wire)
			if err != nil {
				t.Fatalf("ParseWire(%s): %v", wire, err)
			}
			if text == "" {
				if back != nil {
					t.Errorf("an empty template came back as %q", back.Text())
				}
				return
			}
			if got, want := back.Render(data), orig.Render(data); got != want {
				t.Errorf("round trip renders %q, want %q (text %q)", got, want, back.Text())
			}
			if got, want := back.Elements(), orig.Elements(); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip elements %+v, want %+v", got, want)
			}
			tt, err := template.ParseWire(mustJSON(t, map[string]string{"textTemplate": text}))
			if err != nil || tt.Text() != text {
				t.Errorf("textTemplate form: %v, text %q", err, tt.Text())
			}
		})
	}
}

func mustJSON(tb testing.TB, v any) json.RawMessage {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
