package template

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Users may save templates, and anyone holding an integration key may post data for them: a
// body of up to 512 KiB, custom details of any depth. The tests here render what would have
// taken seconds to minutes if a render's work were not bounded; each must now end well within
// renderBound of CPU time (it takes tens of milliseconds, ten times that with the race
// detector), most by running out of the work budget.
var renderBound = 2 * time.Second

type workCase struct {
	name    string
	text    string
	data    func() map[string]any
	stopped bool // the render must end with ErrWorkLimit
}

// nested is {"a": {"a": … {} …}}, depth levels deep.
func nested(depth int) any {
	var v any = map[string]any{}
	for range depth {
		v = map[string]any{"a": v}
	}
	return v
}

func items(n int, v any) []any {
	s := make([]any, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// upToMaxTemplate writes part(0), part(1), … while the text stays within maxTemplate.
func upToMaxTemplate(part func(i int) string) string {
	var b strings.Builder
	for i := 0; ; i++ {
		p := part(i)
		if b.Len()+len(p) > maxTemplate {
			return b.String()
		}
		b.WriteString(p)
	}
}

// bigText is a 400 KiB value, which fits in an event.
var bigText = strings.Repeat("x", 400<<10)

func bigData() map[string]any { return map[string]any{"t": bigText} }

// texts is {"t": {"k0": s, "k1": s, …}}: n paths to the same text.
func texts(n int, s string) func() map[string]any {
	return func() map[string]any {
		m := map[string]any{}
		for i := range n {
			m["k"+strconv.Itoa(i)] = s
		}
		return map[string]any{"t": m}
	}
}

// hostileCases are templates and data whose render must stay bounded.
func hostileCases() []workCase {
	deepPath := strings.Repeat("a.", 1000) + "zz"
	deepData := func() map[string]any { return map[string]any{"a": nested(1000), "arr": items(1000, 1.0)} }
	longKey := strings.Repeat("k", 60000)
	return []workCase{
		// Each path lookup costs its length, not one step.
		{"DeepPathInNestedLoops", "{{#arr}}{{#arr}}{{" + deepPath + "}}{{/arr}}{{/arr}}", deepData, true},
		{"DeepSectionPathInNestedLoops", "{{#arr}}{{#arr}}{{#" + deepPath + "}}x{{/" + deepPath + "}}{{/arr}}{{/arr}}", deepData, true},
		{"LongKeyInNestedLoops", "{{#arr}}{{#arr}}{{" + longKey + "}}{{/arr}}{{/arr}}", func() map[string]any {
			m := map[string]any{"arr": items(1000, 1.0)}
			for i := range 10 {
				m[longKey[:len(longKey)-1]+strconv.Itoa(i)] = 1.0
			}
			return m
		}, true},
		{"LoopsInLoops", strings.Repeat("{{#a}}", 6) + strings.Repeat("{{/a}}", 6), func() map[string]any {
			return map[string]any{"a": items(1000, 1.0)}
		}, true},
		{"MissingNameInDeepSections", strings.Repeat("{{#a}}", 32) + "{{zz}}" + strings.Repeat("{{/a}}", 32), func() map[string]any {
			return map[string]any{"a": items(2, 1.0)}
		}, true},
		// Identical calls share one result: the reviewer's templates, cut to maxTemplate.
		{"RepeatedReplaceAllOnBigValue", strings.Repeat(`{{t.replaceAll("x","")}}`, maxTemplate/24), bigData, false},
		{"RepeatedSplitTakeAtOnBigValue", strings.Repeat(`{{t.splitTakeAt("x",300000)}}`, maxTemplate/29), bigData, false},
		// Calls that differ each pay for the text they read.
		{"DistinctSplitTakeAtsOnBigValue", upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{t.splitTakeAt("x",%d)}}`, 300000+i) }), bigData, true},
		{"DistinctContainsOnBigValue", upToMaxTemplate(func(i int) string {
			return fmt.Sprintf(`{{t.containsTakeOrDrop("%sy%d","")}}`, strings.Repeat("x", 32), i)
		}), bigData, true},
		{"DistinctPathsToBigValue", upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{t.k%d.replaceAll("x","")}}`, i%200) }), texts(200, bigText), true},
		// A regular expression pays for the text times its program.
		{"RegexOnBigValue", `{{ t.extractRegex("x{990}y") }}`, bigData, true},
		{"TenRegexesOnBigValue", strings.Repeat(`{{ t.extractRegex("x{990}y") }}`, 10), bigData, true},
		{"DistinctRegexesOnSmallValues", upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{t.k%d.extractRegexGroups("(x{%d})y")}}`, i%500, 980+i%10) }), texts(500, strings.Repeat("x", 2<<10)), true},
		// Functions pay for the values they read as JSON and the items they go through.
		{"BigObjectThroughFunctions", upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{m.equalsTakeOrDrop("%d","")}}`, i) }), func() map[string]any {
			m := map[string]any{}
			for i := range 60000 {
				m["k"+strconv.Itoa(i)] = 0.0
			}
			return map[string]any{"m": m}
		}, true},
		{"JoinFromObjectArrOverManyItems", upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{a.joinFromObjectArr("f%d")}}`, i) }), func() map[string]any {
			return map[string]any{"a": items(100000, map[string]any{"g": 1.0})}
		}, true},
	}
}

func TestRenderWorkIsBounded(t *testing.T) {
	for _, wc := range hostileCases() {
		t.Run(wc.name, func(t *testing.T) {
			tmpl, err := Parse(wc.text)
			if err != nil {
				t.Fatal(err)
			}
			data := wc.data()
			start, wall := cpuTime(), time.Now()
			_, err = tmpl.Execute(data)
			d := cpuTime() - start
			t.Logf("rendered in %v (CPU), %v (wall): %v", d, time.Since(wall), err)
			if d > renderBound {
				t.Errorf("render took %v", d)
			}
			if wc.stopped && !errors.Is(err, ErrWorkLimit) {
				t.Errorf("render ended with %v, want ErrWorkLimit", err)
			}
			if !wc.stopped && err != nil {
				t.Errorf("render ended with %v, want no error", err)
			}
		})
	}
}

func TestRenderWorkLimitStopsWithOutputSoFar(t *testing.T) {
	tmpl, err := Parse(`before {{ t.extractRegex("x{990}y") }} after`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Execute(bigData())
	if !errors.Is(err, ErrWorkLimit) || out != "before " {
		t.Errorf("Execute = %q, %v; want %q, ErrWorkLimit", out, err, "before ")
	}
	if got := tmpl.Render(bigData()); got != "before " {
		t.Errorf("Render = %q, want %q", got, "before ")
	}
	// The same template over small data renders in full.
	if out, err := tmpl.Execute(map[string]any{"t": "xy"}); err != nil || out != "before  after" {
		t.Errorf("Execute = %q, %v; want %q, nil", out, err, "before  after")
	}
}

func TestIdenticalCallsShareOneMemo(t *testing.T) {
	tmpl, err := Parse(`{{ a.join() }}{{#x}}{{a.join( )}}{{/x}}{{ a.join(", ") }}{{ b.join() }}{{ a.join("-") }}` +
		`{{ c.joinFromObjectArray("n") }}{{ c.joinFromObjectArr("n") }}{{ d.substring(1, 2) }}{{ d.substring(1,2.0) }}`)
	if err != nil {
		t.Fatal(err)
	}
	// a.join() ×2, a.join(", "), b.join(), a.join("-"), joinFromObjectArr ×2, substring ×2.
	if tmpl.calls != 6 {
		t.Errorf("%d memo entries, want 6", tmpl.calls)
	}
	data := map[string]any{"a": []any{"1", "2"}, "b": []any{"3"}, "x": []any{1.0, 2.0}, "c": []any{map[string]any{"n": "N"}}, "d": "abc"}
	if got, want := tmpl.Render(data), "1, 21, 21, 21, 231-2NNbb"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	// The reviewer's template: 21,333 calls on a 400 KiB value, once 2 min 14 s.
	call := `{{t.replaceAll("x","")}}`
	text := strings.Repeat(call, maxTemplate/len(call))
	tmpl, err = Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.calls != 1 {
		t.Errorf("%d memo entries, want 1", tmpl.calls)
	}
	start := cpuTime()
	if out, err := tmpl.Execute(bigData()); out != "" || err != nil {
		t.Errorf("got %.20q, %v; want nothing", out, err)
	}
	if d := cpuTime() - start; d > renderBound {
		t.Errorf("render took %v", d)
	}
}

func TestParseRefusesLongTemplate(t *testing.T) {
	if _, err := Parse(strings.Repeat("x", maxTemplate)); err != nil {
		t.Errorf("a template of 64 KiB: %v", err)
	}
	text := strings.Repeat(`{{t.replaceAll("x","")}}`, 21333) // the reviewer's 500 KB template
	_, err := Parse(text)
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset != maxTemplate || !strings.Contains(se.Msg, "too long: 511992 bytes, at most 65536") {
		t.Errorf("a template of %d bytes: got %v, want a syntax error at offset %d", len(text), err, maxTemplate)
	}
}

// distinctRegexes is n calls of 31 bytes with distinct expressions of 993 instructions.
func distinctRegexes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{{ t.extractRegex("x{%d}y") }}`, 990-i)
	}
	return b.String()
}

func TestParseRefusesComplexRegex(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		column     int // 0: accepted
		msg        string
	}{
		{"AtTheLimit", `{{ t.extractRegex("x{997}y") }}`, 0, ""},
		{"ReviewerRepeat", `{{ t.extractRegex("x{1000}y") }}`, 19, "extractRegex is too complex: it compiles to more than 1000 instructions"},
		{"NestedRepeat", `{{ t.extractRegexGroups("((ab){100}){10}") }}`, 25, "extractRegexGroups is too complex"},
		{"ManyRepeatsNotCompiled", `{{ t.extractRegex("` + strings.Repeat(`\pL{1000}`, 100) + `") }}`, 19, "too complex"},
		{"LongLiteral", `{{ t.extractRegex("` + strings.Repeat("a", 1200) + `") }}`, 19, "too complex"},
		{"TenAtTheLimitInAll", distinctRegexes(10), 0, ""},
		{"RepeatedExpressionCountsOnce", distinctRegexes(10) + strings.Repeat(`{{ u.extractRegexGroups("x{981}y") }}`, 10), 0, ""},
		{"TooManyInAll", distinctRegexes(11), 10*31 + 19, "the regular expressions of this template are too complex: together they compile to more than 10000 instructions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.text)
			if tc.column == 0 {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(se.Msg, tc.msg) {
				t.Fatalf("got %v, want a syntax error %q", err, tc.msg)
			}
			if se.Column != tc.column {
				t.Errorf("error at column %d, want %d", se.Column, tc.column)
			}
		})
	}
}

// BenchmarkWorkPerUnit measures how long one unit of maxWork takes in each hostile case and
// in single expensive calls: the cost constants in render.go are chosen so that none takes
// much more than a nanosecond, and ms/render shows the longest a render can take. Both are
// CPU time, which other processes on the machine do not inflate.
func BenchmarkWorkPerUnit(b *testing.B) {
	cases := append(hostileCases(),
		workCase{name: "LowerCaseNonASCII", text: `{{ t.lowerCase() }}`, data: func() map[string]any { return map[string]any{"t": strings.Repeat("ÀÉ", 100<<10)} }},
		workCase{name: "UpperCaseASCII", text: `{{ t.upperCase() }}`, data: bigData},
		workCase{name: "ReplaceAllEmptyOld", text: `{{ t.k0.replaceAll("", "") }}{{ t.k1.replaceAll("", "") }}`, data: texts(2, strings.Repeat("é", 200<<10))},
		workCase{name: "SubstringNonASCII", text: upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{t.substring(%d)}}`, 300000+i) }), data: func() map[string]any { return map[string]any{"t": strings.Repeat("é", 200<<10)} }},
		workCase{name: "ContainsLongNeedle", text: upToMaxTemplate(func(i int) string {
			return fmt.Sprintf(`{{t.containsTakeOrDrop("%s%d","")}}`, strings.Repeat("x", 3000), i)
		}), data: bigData},
		workCase{name: "RegexSmallProgram", text: upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{t.k%d.extractRegex("(a|b)*c")}}`, i) }), data: texts(3000, strings.Repeat("ab", 16<<10))},
		workCase{name: "RegexLiteralPrefix", text: upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{t.k%d.extractRegex("E\d+x")}}`, i) }), data: texts(3000, strings.Repeat("E1", 16<<10))},
		workCase{name: "RegexNestedPlus", text: upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{t.k%d.extractRegex("(x+x+)+y")}}`, i) }), data: texts(3000, strings.Repeat("x", 32<<10))},
		workCase{name: "RegexMidProgram", text: upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{t.k%d.extractRegex("x{100}y")}}`, i) }), data: texts(3000, strings.Repeat("x", 16<<10))},
		workCase{name: "RegexBacktracker", text: upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{t.k%d.extractRegexGroups("([a-z]{400})y")}}`, i) }), data: texts(3000, strings.Repeat("x", 600))},
		workCase{name: "RegexNFAGroups", text: upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{t.k%d.extractRegexGroups("(x+)(x+)(x+)(x+)y")}}`, i) }), data: texts(3000, strings.Repeat("x", 20<<10))},
		workCase{name: "DatesOfBigValue", text: `{{t.formatDateString()}}`, data: bigData},
		workCase{name: "UnixOfBigValue", text: `{{t.formatUnixMs()}}`, data: func() map[string]any { return map[string]any{"t": strings.Repeat("1", 400<<10)} }},
		workCase{name: "BigArrayThroughFunctions", text: upToMaxTemplate(func(i int) string { return fmt.Sprintf(`{{a.equalsTakeOrDrop("%d","")}}`, i) }), data: func() map[string]any {
			return map[string]any{"a": items(100000, "")}
		}},
		workCase{name: "ObjectAsJSONInLoop", text: `{{#arr}}{{#arr}}{{ m }}{{/arr}}{{/arr}}`, data: func() map[string]any {
			return map[string]any{"arr": items(1000, 1.0), "m": map[string]any{"k": nested(70)}}
		}},
	)
	for _, wc := range cases {
		b.Run(wc.name, func(b *testing.B) {
			tmpl, err := Parse(wc.text)
			if err != nil {
				b.Fatal(err)
			}
			data := wc.data()
			var units int64
			start := cpuTime()
			for b.Loop() {
				r := renderer{out: buffer{limit: maxOutput}, stack: []any{data}, meter: meter{left: maxWork}, memo: make([]memo, tmpl.calls)}
				r.nodes(tmpl.nodes)
				units += maxWork - max(r.left, 0)
			}
			cpu := cpuTime() - start
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(units), "ns/unit")
			b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "ms/render")
		})
	}
}

// TestWorkBudgetAsDocumented checks the rough guide in docs/templates.md's Limits.
func TestWorkBudgetAsDocumented(t *testing.T) {
	for _, tc := range []struct {
		text      string
		fits, not int // a value of fits bytes renders; one of not bytes runs out
		insts     int
	}{
		{`{{ t.extractRegex("E\d+") }}`, 260 << 10, 290 << 10, 5},
		{`{{ t.extractRegexGroups("host=([a-z]+)-(\d+)") }}`, 115 << 10, 130 << 10, 16},
		{`{{ t.extractRegex("x{997}y") }}`, 2 << 10, 3 << 10, 1000},
		{`{{ t.lowerCase() }}`, 1000 << 10, 1100 << 10, 0},
		{`{{ t.containsTakeOrDrop("y", "") }}`, 11 << 20, 13 << 20, 0},
	} {
		tmpl := mustParseT(t, tc.text)
		if c := tmpl.nodes[0].(*varNode).call; c.reInsts != tc.insts {
			t.Errorf("%s: %d instructions, want %d", tc.text, c.reInsts, tc.insts)
		}
		if _, err := tmpl.Execute(map[string]any{"t": strings.Repeat("x", tc.fits)}); err != nil {
			t.Errorf("%s over %d bytes: %v", tc.text, tc.fits, err)
		}
		if _, err := tmpl.Execute(map[string]any{"t": strings.Repeat("x", tc.not)}); !errors.Is(err, ErrWorkLimit) {
			t.Errorf("%s over %d bytes: %v, want ErrWorkLimit", tc.text, tc.not, err)
		}
	}
	// A million path steps: n² lookups of 10 steps, the first paid at three levels.
	// Three million loop rounds.
	for _, tc := range []struct {
		text      string
		fits, not int // items of a
	}{
		{"{{#a}}{{#a}}{{ b.c.d.e.f.g.h.i.j.k }}{{/a}}{{/a}}", 250, 320},
		{"{{#a}}{{#a}}{{/a}}{{/a}}", 1700, 1850},
	} {
		for n, want := range map[int]error{tc.fits: nil, tc.not: ErrWorkLimit} {
			var b any = ""
			for _, k := range strings.Split("k.j.i.h.g.f.e.d.c", ".") {
				b = map[string]any{k: b}
			}
			if _, err := mustParseT(t, tc.text).Execute(map[string]any{"a": items(n, 1.0), "b": b}); !errors.Is(err, want) {
				t.Errorf("%s over %d items: %v, want %v", tc.text, n, err, want)
			}
		}
	}
}

func mustParseT(t *testing.T, text string) *Template {
	t.Helper()
	tmpl, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}
