package template_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/template"
)

// FuzzParse parses arbitrary text. A template that parses must keep its text, render without
// panicking within the output limit, and survive the trip through its element form.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"plain text",
		"{{ summary }}",
		"[{{priority}}] {{ summary.substring(0, 5) }}",
		`{{ labels.compl:ex\ key-123.noproblem }}{{ checks[0].tags[1] }}`,
		"{{#checks}}\n- {{name}}: {{#tags}}{{.}},{{/tags}}\n{{/checks}}\n{{^none}}none{{/none}}",
		`{{ summary.replaceAll("", "--") }}{{ hosts.join("\n") }}{{ checks.joinFromObjectArr("name", ";") }}`,
		`{{ summary.extractRegexGroups("(\w+) (\w+)") }}{{ summary.extractRegex('d.') }}`,
		`{{ ms.formatUnixMs("F") }}{{ ms.formatUnixSec() }}{{ when.formatDateString("S") }}`,
		`{{ summary.containsElseOrDrop("x", "y") }}{{ summary.splitTakeAt(" ", 1) }}`,
		"{{ a", "{{#a}}", "{{/a}}", "{{ a.b( }}", "{{}}", "{{{a}}}",
	} {
		f.Add(seed)
	}
	data := decode(f, `{
		"summary": "Disk full on db-1", "priority": "HIGH", "ms": 1674950737000, "when": "2023-01-29T00:05:37Z",
		"hosts": ["db-1", "db-2"], "none": null, "a": {"b": [1, 2.5, "x", true]},
		"checks": [{"name": "disk", "tags": ["io", "fs"]}, {"name": "load", "tags": []}],
		"labels": {"compl:ex key-123": {"noproblem": "fine"}}
	}`)
	f.Fuzz(func(t *testing.T, text string) {
		tmpl, err := template.Parse(text)
		if err != nil {
			se, ok := err.(*template.SyntaxError)
			if !ok {
				t.Fatalf("Parse(%q) error %T is not a *SyntaxError", text, err)
			}
			if se.Offset < 0 || se.Offset > len(text) || se.Line < 1 || se.Column < 1 {
				t.Fatalf("Parse(%q) error position %+v is outside the text", text, se)
			}
			return
		}
		if tmpl.Text() != text {
			t.Fatalf("Text() = %q, want %q", tmpl.Text(), text)
		}
		out := tmpl.Render(data)
		if len(out) > 64<<10 {
			t.Fatalf("Render gave %d bytes", len(out))
		}
		if utf8.ValidString(text) && !utf8.ValidString(out) {
			t.Fatalf("Render(%q) = %q is not UTF-8", text, out)
		}
		tmpl.Render(nil)

		elems := tmpl.Elements()
		wire, err := json.Marshal(map[string]any{"elements": elems})
		if err != nil {
			t.Fatal(err)
		}
		back, err := template.ParseWire(wire)
		if err != nil {
			t.Fatalf("ParseWire(Elements of %q): %v", text, err)
		}
		if back == nil {
			if strings.TrimSpace(text) != "" && len(elems) > 0 {
				t.Fatalf("Elements of %q read back as no template", text)
			}
			return
		}
		if !utf8.ValidString(text) {
			return // JSON replaces invalid UTF-8, so the text cannot come back unchanged
		}
		if got := back.Render(data); got != out {
			t.Fatalf("element form of %q renders %q, want %q (read back as %q)", text, got, out, back.Text())
		}
		if got := back.Elements(); !reflect.DeepEqual(got, elems) {
			t.Fatalf("element form of %q reads back as %+v, want %+v", text, got, elems)
		}
	})
}
