package template_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/template"
)

// decode is the data a template sees: JSON decoded as the Events API decodes it.
func decode(tb testing.TB, s string) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		tb.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func mustParse(tb testing.TB, text string) *template.Template {
	tb.Helper()
	t, err := template.Parse(text)
	if err != nil {
		tb.Fatalf("Parse(%q): %v", text, err)
	}
	return t
}

const eventJSON = `{
	"summary": "Disk full on db-1",
	"priority": "HIGH",
	"severity": 3,
	"load": 0.75,
	"big": 1e21,
	"ok": true,
	"no": false,
	"none": null,
	"empty": "",
	"emptyList": [],
	"emptyObject": {},
	"zero": 0,
	"labels": {"host": "db-1", "env": "prod", "app.kubernetes.io/name": "pg", "compl:ex key-123": {"noproblem": "fine"}},
	"hosts": ["db-1", "db-2", "db-3"],
	"matrix": [[1, 2], [3, 4]],
	"checks": [
		{"name": "disk", "status": "CRITICAL", "tags": ["io", "fs"]},
		{"name": "load", "status": "OK", "tags": []}
	],
	"owner": {"name": "Ops", "team": {"name": "Platform", "size": 4}},
	"name": "root name",
	"text": "line <b>bold</b> & \"quoted\""
}`

func TestRender(t *testing.T) {
	data := decode(t, eventJSON)
	for _, tc := range []struct {
		name, text, want string
	}{
		{"Text", "plain text, no tags", "plain text, no tags"},
		{"Empty", "", ""},
		{"Variable", "{{summary}}", "Disk full on db-1"},
		{"VariableWithSpaces", "[{{  summary  }}]", "[Disk full on db-1]"},
		{"VariableWithNewlines", "{{\n\tsummary\n}}", "Disk full on db-1"},
		{"NoHTMLEscaping", "{{ text }}", `line <b>bold</b> & "quoted"`},
		{"IntegerNumber", "{{ severity }}", "3"},
		{"FractionalNumber", "{{ load }}", "0.75"},
		{"LargeNumber", "{{ big }}", "1e+21"},
		{"Zero", "{{ zero }}", "0"},
		{"Booleans", "{{ ok }}/{{ no }}", "true/false"},
		{"Null", "[{{ none }}]", "[]"},
		{"Missing", "[{{ nothing }}]", "[]"},
		{"MissingNested", "[{{ nothing.at.all }}]", "[]"},
		{"PathThroughScalar", "[{{ summary.length }}]", "[]"},
		{"Nested", "{{ owner.team.name }}", "Platform"},
		{"NestedNumber", "{{ owner.team.size }}", "4"},
		{"ArrayIndex", "{{ hosts[1] }}", "db-2"},
		{"ArrayIndexOutOfRange", "[{{ hosts[9] }}]", "[]"},
		{"ArrayIndexThenKey", "{{ checks[0].name }}", "disk"},
		{"ArrayIndexTwice", "{{ matrix[1][0] }}", "3"},
		{"ArrayNumericKey", "{{ hosts.2 }}", "db-3"},
		{"EscapedSpaceKey", `{{ labels.compl:ex\ key-123.noproblem }}`, "fine"},
		{"EscapedDotKey", `{{ labels.app\.kubernetes\.io/name }}`, "pg"},
		{"Object", "{{ owner.team }}", `{"name":"Platform","size":4}`},
		{"Array", "{{ hosts }}", `["db-1","db-2","db-3"]`},
		{"DotAtTopLevel", "{{ owner.team.name }}", "Platform"},
		{"TextAroundTags", "[{{ priority }}] {{ summary }} ({{ labels.env }})", "[HIGH] Disk full on db-1 (prod)"},
		{"LoneBraces", "a } b { c }} d", "a } b { c }} d"},
		{"BraceBeforeTag", "{ {{ priority }} }", "{ HIGH }"},
		{"TripleCloseBrace", `{"p":"{{priority}}"}`, `{"p":"HIGH"}`},
		{"NonASCII", "⚠ {{ summary }} – ok", "⚠ Disk full on db-1 – ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, tc.text).Render(data); got != tc.want {
				t.Errorf("Render(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestRenderSections(t *testing.T) {
	data := decode(t, eventJSON)
	for _, tc := range []struct {
		name, text, want string
	}{
		{"TrueRenders", "{{#ok}}yes{{/ok}}", "yes"},
		{"FalseSkips", "[{{#no}}yes{{/no}}]", "[]"},
		{"MissingSkips", "[{{#nothing}}yes{{/nothing}}]", "[]"},
		{"NullSkips", "[{{#none}}yes{{/none}}]", "[]"},
		{"EmptyStringSkips", "[{{#empty}}yes{{/empty}}]", "[]"},
		{"EmptyListSkips", "[{{#emptyList}}yes{{/emptyList}}]", "[]"},
		{"EmptyObjectSkips", "[{{#emptyObject}}yes{{/emptyObject}}]", "[]"},
		{"ZeroRenders", "{{#zero}}yes{{/zero}}", "yes"},
		{"StringRenders", "{{#priority}}p={{.}}{{/priority}}", "p=HIGH"},
		{"SpacesInTags", "{{ # ok }}yes{{ / ok }}", "yes"},
		{"InvertedTrue", "[{{^ok}}no{{/ok}}]", "[]"},
		{"InvertedFalse", "{{^no}}no{{/no}}", "no"},
		{"InvertedMissing", "{{^nothing}}none{{/nothing}}", "none"},
		{"InvertedEmptyList", "{{^emptyList}}none{{/emptyList}}", "none"},
		{"IfElse", "{{#no}}yes{{/no}}{{^no}}no{{/no}}", "no"},
		{"LoopScalars", "{{#hosts}}<{{.}}>{{/hosts}}", "<db-1><db-2><db-3>"},
		{"LoopObjects", "{{#checks}}{{name}}={{status}};{{/checks}}", "disk=CRITICAL;load=OK;"},
		{"LoopNested", "{{#checks}}{{name}}:{{#tags}}{{.}},{{/tags}};{{/checks}}", "disk:io,fs,;load:;"},
		{"LoopInvertedInside", "{{#checks}}{{name}}{{^tags}}(untagged){{/tags}} {{/checks}}", "disk load(untagged) "},
		{"LoopArrays", "{{#matrix}}[{{#.}}{{.}}{{/.}}]{{/matrix}}", "[12][34]"},
		{"ObjectSectionScopes", "{{#owner}}{{name}} in {{team.name}}{{/owner}}", "Ops in Platform"},
		{"OuterKeyFromInside", "{{#checks}}{{name}}@{{labels.host}} {{/checks}}", "disk@db-1 load@db-1 "},
		{"InnerKeyShadowsOuter", "{{#owner}}{{name}}{{/owner}}/{{name}}", "Ops/root name"},
		{"MissingInItemIsEmpty", "{{#checks}}[{{owner.team.name.x}}]{{/checks}}", "[][]"},
		{"DotInObjectSection", "{{#owner.team}}{{.}}{{/owner.team}}", `{"name":"Platform","size":4}`},
		{"NestedPathSection", "{{#owner.team}}{{name}}{{/owner.team}}", "Platform"},
		{"IndexedSection", "{{#checks[0]}}{{name}}{{/checks[0]}}", "disk"},
		{"FunctionsReadFromTheRoot", "{{#checks}}{{name.upperCase()}} {{/checks}}", "ROOT NAME ROOT NAME "},
		{
			"StandaloneLinesRemoved",
			"Checks:\n{{#checks}}\n- {{name}}\n{{/checks}}\nend",
			"Checks:\n- disk\n- load\nend",
		},
		{
			"StandaloneIndentedTags",
			"  {{#ok}}  \n  yes\n  {{/ok}}\t\r\nend",
			"  yes\nend",
		},
		{
			"StandaloneAtEnd",
			"{{#hosts}}\n{{.}}\n{{/hosts}}",
			"db-1\ndb-2\ndb-3\n",
		},
		{
			"NotStandaloneWithText",
			"a {{#ok}}\nb\n{{/ok}} c",
			"a \nb\n c",
		},
		{
			"NotStandaloneWithVariable",
			"{{#ok}}{{priority}}\n{{/ok}}",
			"HIGH\n",
		},
		{
			"VariableLinesKept",
			"{{summary}}\n{{priority}}\n",
			"Disk full on db-1\nHIGH\n",
		},
		{
			"IfElseOnLines",
			"Hello\n{{ #no }}\nWorld!\n{{ /no }}\n{{ ^no }}\nTim!\n{{ /no }}\n",
			"Hello\nTim!\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, tc.text).Render(data); got != tc.want {
				t.Errorf("Render(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestRenderData(t *testing.T) {
	tmpl := mustParse(t, "{{a}}|{{b}}|{{c}}|{{d.e}}")
	t.Run("NilData", func(t *testing.T) {
		if got := tmpl.Render(nil); got != "|||" {
			t.Errorf("got %q, want %q", got, "|||")
		}
	})
	t.Run("JSONNumber", func(t *testing.T) {
		dec := json.NewDecoder(strings.NewReader(`{"a": 12345678901234567890, "b": 1.50, "d": {"e": 7}}`))
		dec.UseNumber()
		var data map[string]any
		if err := dec.Decode(&data); err != nil {
			t.Fatal(err)
		}
		if got, want := tmpl.Render(data), "12345678901234567890|1.50||7"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("GoValues", func(t *testing.T) {
		data := map[string]any{"a": 42, "b": int64(-7), "c": uint(3), "d": map[string]any{"e": float32(0.5)}}
		if got, want := tmpl.Render(data), "42|-7|3|0.5"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("JSONEscapes", func(t *testing.T) {
		data := map[string]any{"a": []any{"q\"b\\n\n\x01", nil, true, 1.5, map[string]any{"z": 1.0, "a": "<&>"}}}
		want := `["q\"b\\n\n\u0001",null,true,1.5,{"a":"<&>","z":1}]|||`
		if got := tmpl.Render(data); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("NilTemplate", func(t *testing.T) {
		var nt *template.Template
		if nt.Render(map[string]any{"a": 1.0}) != "" || nt.Text() != "" || nt.Elements() != nil {
			t.Error("a nil template should render, print and list nothing")
		}
	})
}

func TestText(t *testing.T) {
	for _, text := range []string{"", "plain", "{{ a.b[0] }}", "{{#x}}\n{{.}}\n{{/x}}\n", `{{ a.replaceAll("\"", '\'') }}`} {
		if got := mustParse(t, text).Text(); got != text {
			t.Errorf("Text() = %q, want %q", got, text)
		}
	}
}

func TestRenderLimits(t *testing.T) {
	t.Run("OutputCut", func(t *testing.T) {
		items := make([]any, 100)
		for i := range items {
			items[i] = strings.Repeat("é", 1000) // 2000 bytes each
		}
		got := mustParse(t, "{{#items}}{{.}}{{/items}}").Render(map[string]any{"items": items})
		if len(got) > 64<<10 || len(got) < 64<<10-1 {
			t.Errorf("output is %d bytes, want it cut at 64 KiB", len(got))
		}
		if !utf8.ValidString(got) {
			t.Error("the cut split a character")
		}
	})
	t.Run("WorkBounded", func(t *testing.T) {
		items := make([]any, 1000)
		for i := range items {
			items[i] = 1.0
		}
		text := strings.Repeat("{{#a}}", 6) + strings.Repeat("{{/a}}", 6)
		start := time.Now()
		got := mustParse(t, text).Render(map[string]any{"a": items}) // 10^18 iterations unbounded
		if got != "" {
			t.Errorf("got %q, want nothing", got)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("render took %v", d)
		}
	})
	t.Run("DeepDataAsJSON", func(t *testing.T) {
		var v any = "bottom"
		for range 10000 {
			v = []any{v}
		}
		got := mustParse(t, "{{a}}").Render(map[string]any{"a": v})
		if !strings.HasPrefix(got, "[[[") || strings.Contains(got, "bottom") || !strings.Contains(got, "null") {
			t.Errorf("deep data should be cut off with null, got %.80q…", got)
		}
	})
	t.Run("ReplaceAllGrowthCut", func(t *testing.T) {
		got := mustParse(t, `{{ s.replaceAll("", "0123456789") }}`).Render(map[string]any{"s": strings.Repeat("x", 100000)})
		if len(got) != 64<<10 {
			t.Errorf("output is %d bytes, want 64 KiB", len(got))
		}
	})
}

func TestParseNesting(t *testing.T) {
	ok := strings.Repeat("{{#a}}", 32) + strings.Repeat("{{/a}}", 32)
	if _, err := template.Parse(ok); err != nil {
		t.Errorf("32 nested sections: %v", err)
	}
	deep := strings.Repeat("{{#a}}", 33) + strings.Repeat("{{/a}}", 33)
	_, err := template.Parse(deep)
	var se *template.SyntaxError
	if !asSyntaxError(err, &se) || se.Offset != 32*6 || !strings.Contains(se.Msg, "nested more than 32") {
		t.Errorf("33 nested sections: got %v, want a syntax error at offset %d", err, 32*6)
	}
}
