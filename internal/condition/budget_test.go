package condition_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/condition"
)

// slow is far above what any evaluation may take (about 15 ms on a 2-core machine), and far
// below what the hostile conditions below took without a work budget (seconds to minutes).
const slow = time.Second

// eventEnv decodes body as the Events API does and evaluates conditions against it.
func eventEnv(t testing.TB, body any) condition.Env {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return condition.Env{Data: map[string]any{"event": ev}, Now: testNow}
}

// evaluate runs text in env and reports its result, its error and how long it took.
func evaluate(t testing.TB, text string, env condition.Env) (bool, error, time.Duration) {
	t.Helper()
	c := mustParse(t, text)
	start := time.Now()
	ok, err := c.Evaluate(env)
	return ok, err, time.Since(start)
}

// mustExhaust checks that text runs out of work in env, quickly, and is false.
func mustExhaust(t *testing.T, text string, env condition.Env) {
	t.Helper()
	ok, err, took := evaluate(t, text, env)
	t.Logf("%.60s…: %v", text, took)
	if !errors.Is(err, condition.ErrTooMuchWork) || ok {
		t.Errorf("%.60s…: Evaluate = %v, %v; want false, ErrTooMuchWork", text, ok, err)
	}
	if took > slow {
		t.Errorf("%.60s…: took %v", text, took)
	}
	if mustParse(t, text).Eval(env) {
		t.Errorf("%.60s…: Eval is true", text)
	}
}

// orChain joins copies of term with or, as many as fit in a condition.
func orChain(term string) string {
	text := term
	for len(text)+len(term)+4 <= 10000 {
		text += " or " + term
	}
	return text
}

// A list in the event makes the _any operators do one search per element; with long text
// and long elements that was half a second per comparison, three minutes per condition.
func TestEvalBudgetBoundsAnyOperatorsOverEventLists(t *testing.T) {
	list := make([]string, 1000)
	for i := range list {
		list[i] = strings.Repeat("a", 190) + "b"
	}
	env := eventEnv(t, map[string]any{"t": strings.Repeat("a", 250<<10), "l": list})
	mustExhaust(t, `event.t contains_any event.l`, env)
	mustExhaust(t, orChain(`event.t contains_any event.l`), env)
	mustExhaust(t, orChain(`event.t exact_ends_with_any event.l`), env)
}

// A regular expression costs the text's length times its program's size: the largest
// programs allowed over the largest texts run out of work instead of taking seconds.
func TestEvalBudgetBoundsRegex(t *testing.T) {
	env := eventEnv(t, map[string]any{"t": strings.Repeat("x", 400<<10)})
	for _, pattern := range []string{`(?:x{30}){30}y`, `[a-z]{500}y`, `x{990}y`, `(x+x+)+y`, `(?:\pL|\d){300}y`} {
		mustExhaust(t, `event.t regex '`+pattern+`'`, env)
	}
	mustExhaust(t, orChain(`event.t regex '(x+x+)+y'`), env)
}

// The same long text compared many times runs out of work; each comparison reads it again.
func TestEvalBudgetBoundsRepeatedComparisons(t *testing.T) {
	env := eventEnv(t, map[string]any{"big": strings.Repeat("X", 1<<20), "digits": strings.Repeat("7", 1<<20)})
	mustExhaust(t, strings.Repeat("event.big contains 'q' or ", 300)+"false", env)
	mustExhaust(t, orChain(`event.big != event.big`), env)
	mustExhaust(t, orChain(`event.digits < 5`), env)
}

// Lists and objects compared element by element cost their elements.
func TestEvalBudgetBoundsEquality(t *testing.T) {
	m := map[string]any{}
	for i := range 40000 {
		m[fmt.Sprint("k", i)] = i
	}
	list := make([]any, 1000)
	for i := range list {
		list[i] = strings.Repeat("y", 399) + "z"
	}
	env := condition.Env{Data: map[string]any{"event": map[string]any{"m": m, "m2": m,
		"ml": []any{m, m, m, m, m, m, m, m, m, m}, "list": list, "s": strings.Repeat("y", 400)}}}
	mustExhaust(t, orChain(`event.m != event.m2`), env)
	mustExhaust(t, orChain(`event.m not in event.ml`), env)
	mustExhaust(t, orChain(`event.list != event.list`), env)
	mustExhaust(t, orChain(`event.s in event.list`), env)
	mustExhaust(t, orChain(`'Y' in event.list`), env)
}

// Running out of work stops the evaluation: the condition is false, whatever not and or
// would have made of the comparisons that were left.
func TestEvalBudgetExhaustedIsFalse(t *testing.T) {
	env := eventEnv(t, map[string]any{"t": strings.Repeat("x", 400<<10)})
	mustExhaust(t, `not (event.t regex '[a-z]{500}y')`, env)
	mustExhaust(t, `event.t not_regex '[a-z]{500}y'`, env)
	mustExhaust(t, `event.t regex '[a-z]{500}y' or true`, env)
	// What is decided before the costly comparison is reached stands.
	if ok, err, _ := evaluate(t, `true or event.t regex '[a-z]{500}y'`, env); !ok || err != nil {
		t.Errorf("true or …: Evaluate = %v, %v; want true, nil", ok, err)
	}
	if ok, err, _ := evaluate(t, `false and event.t regex '[a-z]{500}y'`, env); ok || err != nil {
		t.Errorf("false and …: Evaluate = %v, %v; want false, nil", ok, err)
	}
	// Each evaluation has its own budget.
	c := mustParse(t, `event.t contains 'y' or event.t contains 'z'`)
	for range 100 {
		if ok, err := c.Evaluate(env); ok || err != nil {
			t.Fatalf("Evaluate = %v, %v; want false, nil", ok, err)
		}
	}
}

// Text is lower-cased once per evaluation, however many case-insensitive comparisons read it.
func TestEvalLowerCasesEachValueOnce(t *testing.T) {
	env := eventEnv(t, map[string]any{"details": strings.Repeat("Stack Trace Line ÄÖÜ\n", (500<<10)/23)})
	text := `event.details contains 'panic:' or event.details contains 'OutOfMemory' or event.details starts_with 'fatal'
		or event.details ends_with 'exit 137' or event.details contains_any ['segfault', 'SIGKILL'] or event.details == 'x'`
	if ok, err, took := evaluate(t, text, env); ok || err != nil || took > slow {
		t.Errorf("Evaluate = %v, %v in %v; want false, nil", ok, err, took)
	}
}

// What users write over the largest events the Events API takes (512 KiB) stays within the
// budget: a handful of text comparisons over a big field, a regex over a small one, lists.
func TestEvalBudgetAllowsRealisticConditions(t *testing.T) {
	tags := make([]string, 200)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag-%d:value-%d", i, i)
	}
	env := eventEnv(t, map[string]any{
		"summary": "[FIRING:1] HostDiskFull db-17.eu-west (/var/lib/postgresql ext4 critical)",
		"details": strings.Repeat("2024-05-15T15:18:00Z ERROR pq: could not extend file \"base/16384/2619\": No space left on device\n", 4500),
		"customDetails": map[string]any{"env": "prod", "tags": tags, "team": "db-platform",
			"description": strings.Repeat("Disk is almost full (< 10% left). ", 300)},
	})
	text := `event.customDetails.env in ['prod', 'production']
		and not (event.summary contains_any ['test', 'staging', 'canary'])
		and event.summary regex '(?:disk|inode|volume)\w* ?(?:full|usage|pressure)'
		and (event.details contains 'no space left' or event.details contains 'read-only file system'
			or event.details contains_any ['ENOSPC', 'quota exceeded', 'disk full'])
		and event.details not_contains 'maintenance' and event.details not ends_with 'ignore'
		and event.customDetails.description contains 'almost full'
		and 'tag-199:value-199' in event.customDetails.tags
		and event.customDetails.team starts_with_any ['db-', 'storage-']`
	ok, err, took := evaluate(t, text, env)
	t.Logf("%v", took)
	if !ok || err != nil {
		t.Errorf("Evaluate = %v, %v; want true, nil", ok, err)
	}
}

// TestEvalWorstCase runs, for each kind of work, a condition that does as much of it as it
// can over an event that makes it as slow as it gets, and checks it stops in time. With
// -v it shows how long each took: the costs in work.go are set so that none takes much more
// than 15 ms on a 2-core machine.
func TestEvalWorstCase(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	uni := strings.Repeat("ÄÖÜẞ", 1<<17) // 1.5 MB of upper-case non-ASCII text
	longNeedle := strings.Repeat("a", 190) + "b"
	texts := make([]any, 1000)
	uppers := make([]any, 1000)
	floats := make([]any, 1000)
	dates := make([]any, 1000)
	maps := make([]any, 1000)
	for i := range texts {
		texts[i] = longNeedle
		uppers[i] = "ÄÖÜẞ" + fmt.Sprint(i) + strings.Repeat("Ä", 25)
		floats[i] = 0.1234567891234567 + float64(i)
		dates[i] = fmt.Sprintf("2024-05-15T15:18:%02d.123456789+02:00x", i%60)
		maps[i] = map[string]any{"a": i}
	}
	big := map[string]any{}
	for i := range 40000 {
		big[fmt.Sprint("k", i)] = float64(i)
	}
	env := condition.Env{Now: testNow, Data: map[string]any{"event": map[string]any{
		"a": strings.Repeat("a", 1<<20), "x": strings.Repeat("x", 400<<10), "uni": uni, "uni63": uni[:63],
		"digits": strings.Repeat("7", 1<<20), "spaces": strings.Repeat(" ", 1<<20), "date": dates[0],
		"texts": texts, "uppers": uppers, "floats": floats, "dates": dates, "maps": maps, "big": big, "big2": big,
		"n": json.Number(strings.Repeat("9", 1<<20)),
	}}, IsIn: func(condition.Ref, time.Time) (bool, error) { return false, nil },
		Count: func(condition.Counter) int { return 1 }}
	for _, text := range []string{
		orChain(`event.a exact_contains '` + longNeedle + `'`),
		orChain(`event.a exact_contains_any event.texts`),
		orChain(`event.uni contains 'q'`),
		orChain(`event.uni != event.uni`),
		orChain(`event.uni63 contains 'q'`),
		orChain(`'q' contains_any event.uppers`),
		orChain(`'q' contains_any event.floats`),
		orChain(`'q' in event.uppers`),
		orChain(`1 in event.uppers`),
		orChain(`event.date in event.dates`),
		orChain(`now in event.dates`),
		orChain(`event.date < event.date`),
		orChain(`event.maps[0] in event.maps`),
		orChain(`event.big != event.big2`),
		orChain(`event.digits < 5`),
		orChain(`event.spaces == 5`),
		orChain(`event.n == 5`),
		orChain(`event.date is_in {id: 1, type: SUPPORT_HOUR}`),
		orChain(`trigger_count.10m == 5`),
		orChain(`event.x == 5`),
		orChain(`event.date == 'Disk full'`),
	} {
		ok, err, took := evaluate(t, text, env)
		t.Logf("%-50.50s %-5v %-5v %v", text, ok, err != nil, took)
		if took > slow {
			t.Errorf("%.60s…: took %v", text, took)
		}
	}
	// Regular expressions over text of every length: the program's size in instructions
	// matters from the first byte, and the engine regexp picks changes with the length.
	for _, n := range []int{20, 200, 2000, 20000, 200000} {
		env.Data["event"].(map[string]any)["x"] = strings.Repeat("x", n)
		for _, pattern := range []string{`[a-z]{500}y`, `(?:x{30}){30}y`, `\pL{300}y`, `(?:[a-z]|\d){200}y`, `[a-z]{100}y`,
			`(x+x+)+y`, `disk`, `.*.*.*.*y`, `y`, `(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z){30}!`} {
			text := orChain(`event.x regex '` + pattern + `'`)
			ok, err, took := evaluate(t, text, env)
			t.Logf("%6d bytes: %-42.42s %-5v %-5v %v", n, pattern, ok, err != nil, took)
			if took > slow {
				t.Errorf("%.60s… over %d bytes: took %v", text, n, took)
			}
		}
	}
}
