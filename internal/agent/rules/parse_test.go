package rules_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	agentrules "github.com/tocsinhq/tocsin/internal/agent/rules"
)

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		file string
		want string // the error, or one of the errors, as written
	}{
		{"ErrUnknownType", rulesFile(lines(
			"  - name: hot",
			"    type: thresold",
			"    integration_key: "+key,
		)), `rules.yaml:3: rule "hot": type: unknown type "thresold" (one of threshold, missing_heartbeat, rate, composite)`},
		{"ErrTypeRequired", rulesFile(lines(
			"  - name: hot",
			"    integration_key: "+key,
		)), `rules.yaml:2: rule "hot": type is required`},
		{"ErrIntegrationKeyRequired", rulesFile(lines(
			"  - name: hot",
			"    type: threshold",
			"    topic: t",
			"    field: payload",
			"    above: 90",
		)), `rules.yaml:2: rule "hot": integration_key is required (or silent: true for a rule used only in composites)`},
		{"ErrBadSummary", hotRule("    summary: 'too hot: {{value'"),
			`rules.yaml:8: rule "hot": summary: line 1, column 10: unclosed tag: {{ without a closing }}`},
		{"ErrBadDedupKey", hotRule("    dedup_key: '{{device.nope()}}'"),
			`rules.yaml:8: rule "hot": dedup_key: line 1, column 10: unknown function nope`},
		{"ErrEmptySummary", hotRule("    summary: ' '"), `rules.yaml:8: rule "hot": summary: the template is empty`},
		{"ErrBadDuration", hotRule("    for: 5 minutes"),
			`rules.yaml:8: rule "hot": for: "5 minutes" is not a duration: write a number of seconds or a duration such as 90s, 5m, 1h30m or 2d`},
		{"ErrNegativeDuration", hotRule("    suppress: -5m"), `rules.yaml:8: rule "hot": suppress: must be more than 0`},
		{"ErrUnknownKey", hotRule("    abov: 3"), `rules.yaml:8: rule "hot": unknown key "abov"`},
		{"ErrKeyOfAnotherType", hotRule("    window: 1m"),
			`rules.yaml:8: rule "hot": window: not a setting of threshold rules (it belongs to rate rules)`},
		{"ErrAboveAndBelow", hotRule("    below: 10"), `rules.yaml:8: rule "hot": below: a threshold rule has either above or below, not both`},
		{"ErrNotANumber", rulesFile(lines(
			"  - name: hot",
			"    type: threshold",
			"    integration_key: "+key,
			"    topic: t",
			"    field: payload",
			"    above: ninety",
		)), `rules.yaml:7: rule "hot": above: "ninety" is not a number`},
		{"ErrFieldOutsideTheMessage", rulesFile(lines(
			"  - name: hot",
			"    type: threshold",
			"    integration_key: "+key,
			"    topic: t",
			"    field: temperature",
			"    above: 90",
		)), `rules.yaml:6: rule "hot": field: "temperature" must start with one of payload, topic, key, source, levels (payload.temperature?)`},
		{"ErrFieldWithBraces", rulesFile(lines(
			"  - name: hot",
			"    type: threshold",
			"    integration_key: "+key,
			"    topic: t",
			"    field: '{{payload.v}}'",
			"    above: 90",
		)), `rules.yaml:6: rule "hot": field: write a path such as payload.temperature, without {{ }}`},
		{"ErrBadTopic", rulesFile(lines(
			"  - name: hot",
			"    type: threshold",
			"    integration_key: "+key,
			"    topic: a/#/b",
			"    field: payload",
			"    above: 90",
		)), `rules.yaml:5: rule "hot": topic "a/#/b": # must be the whole last level`},
		{"ErrBadMatch", hotRule("    match: event.payload.v >"),
			`rules.yaml:8: rule "hot": match: line 1, column 18: expected a value, found the end of the condition`},
		{"ErrDuplicateName", rulesFile(lines(
			"  - name: hot",
			"    type: rate",
			"    integration_key: "+key,
			"    topic: t",
			"    more_than: 1",
			"    window: 1m",
			"  - name: hot",
			"    type: rate",
			"    integration_key: "+key,
			"    topic: u",
			"    more_than: 1",
			"    window: 1m",
		)), `rules.yaml:8: rule "hot": the name is already used by the rule on line 2`},
		{"ErrUnknownReference", rulesFile(lines(
			"  - name: both",
			"    type: composite",
			"    integration_key: "+key,
			"    op: and",
			"    rules: [hot, cold]",
		)), `rules.yaml:6: rule "both": rules: no rule is named "hot"`},
		{"ErrCycle", rulesFile(lines(
			"  - name: a",
			"    type: composite",
			"    integration_key: "+key,
			"    op: and",
			"    rules: [b, c]",
			"  - name: b",
			"    type: composite",
			"    integration_key: "+key,
			"    op: or",
			"    rules: [a, c]",
			"  - name: c",
			"    type: missing_heartbeat",
			"    integration_key: "+key,
			"    topic: t",
			"    timeout: 1m",
			"    dedup_key: 'x'",
		)), `rules.yaml:2: rule "a": composites form a cycle: a → b → a`},
		{"ErrCompositeOfDefaultKeys", rulesFile(lines(
			"  - name: a",
			"    type: missing_heartbeat",
			"    integration_key: "+key,
			"    topic: t",
			"    timeout: 1m",
			"  - name: b",
			"    type: missing_heartbeat",
			"    integration_key: "+key,
			"    topic: u",
			"    timeout: 1m",
			"  - name: both",
			"    type: composite",
			"    integration_key: "+key,
			"    op: and",
			"    rules: [a, b]",
		)), `rules.yaml:16: rule "both": rules: the dedup_key of "a" contains {{rule}}`},
		{"ErrSilentUnused", rulesFile(lines(
			"  - name: hot",
			"    type: threshold",
			"    silent: true",
			"    topic: t",
			"    field: payload",
			"    above: 90",
		)), `rules.yaml:2: rule "hot": a silent rule that no composite names would never alert`},
		{"ErrYAMLSyntax", "rules:\n  - name: hot\n    type: [threshold\n", `rules.yaml:3: did not find expected ',' or ']' (in the block that starts on this line)`},
		{"ErrNoRules", "rules: []\n", `rules.yaml:1: the rules list is empty`},
		{"ErrEmptyFile", "", `rules.yaml: the file holds no rules`},
		{"ErrUnknownTopLevelKey", "rule:\n  - name: x\n", `rules.yaml:1: unknown key "rule" (a rules file has rules and defaults)`},
		{"ErrKeyTwice", hotRule("    above: 91"), `rules.yaml:8: rule "hot": above: the key is written twice`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := agentrules.Parse([]byte(c.file), "rules.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", c.want)
			}
			msgs := strings.Split(err.Error(), "\n")
			if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, c.want) }) {
				t.Fatalf("errors:\n%v\nwant one starting with\n%s", err, c.want)
			}
			var e *agentrules.Error
			if !errors.As(err, &e) {
				t.Errorf("%T is not an *Error", err)
			}
		})
	}
}

func TestParseReportsEveryMistake(t *testing.T) {
	_, err := agentrules.Parse([]byte(rulesFile(lines(
		"  - name: a",
		"    type: threshold",
		"    topic: t",
		"    field: payload",
		"    above: 1",
		"  - name: b",
		"    type: rate",
		"    integration_key: "+key,
		"    topic: t",
		"    more_than: 1",
		"    window: soon",
	))), "rules.yaml")
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if got := strings.Count(err.Error(), "\n") + 1; got != 2 {
		t.Errorf("%d errors, want 2:\n%v", got, err)
	}
}

func TestParse(t *testing.T) {
	t.Run("DefaultsAndAnchors", func(t *testing.T) {
		h := newHarness(t, `
defaults:
  integration_key: `+key+`
  suppress: 1m
rules:
  - &hot
    name: a
    type: threshold
    topic: a
    field: payload
    above: 10
  - <<: *hot
    name: b
    topic: b
    above: 20
`)
		if got := h.set.Len(); got != 2 {
			t.Fatalf("Len = %d, want 2", got)
		}
		if got, want := h.set.Topics(), []string{"a", "b"}; !slices.Equal(got, want) {
			t.Errorf("Topics = %q, want %q", got, want)
		}
		h.send("a", "15")
		h.send("b", "15")
		h.expect("ALERT a")
		h.send("b", "25")
		h.expect("ALERT b")
	})

	t.Run("Load", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "rules.yaml")
		if err := os.WriteFile(path, []byte(boilerRules), 0o600); err != nil {
			t.Fatal(err)
		}
		set, err := agentrules.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := set.Topics(); !slices.Equal(got, []string{"plant/+/boiler"}) {
			t.Errorf("Topics = %q", got)
		}
		if _, err := agentrules.Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
			t.Error("Load of a missing file succeeded")
		}
		if err := os.WriteFile(path, []byte("rules:\n  - name: x\n    type: nope\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := agentrules.Load(path); err == nil || !strings.HasPrefix(err.Error(), path+":3: ") {
			t.Errorf("Load error = %v, want one naming %s:3", err, path)
		}
	})

	t.Run("Durations", func(t *testing.T) {
		for _, d := range []string{"90", "90s", "1h30m", "2d", "1d12h"} {
			if _, err := agentrules.Parse([]byte(rulesFile(lines(
				"  - name: x",
				"    type: missing_heartbeat",
				"    integration_key: "+key,
				"    topic: t",
				"    timeout: "+d,
			))), ""); err != nil {
				t.Errorf("timeout %s: %v", d, err)
			}
		}
	})
}

// TestDocExamples parses every YAML example of docs/agent-rules.md, so that the documentation
// shows only files the agent takes.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/agent-rules.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")[1:]
	if len(blocks) < 5 {
		t.Fatalf("%d YAML examples, want at least 5", len(blocks))
	}
	for i, b := range blocks {
		text, _, _ := strings.Cut(b, "```")
		if !strings.HasPrefix(text, "defaults:") && !strings.HasPrefix(text, "rules:") {
			text = "rules:\n" + text
		}
		if _, err := agentrules.Parse([]byte(text), "example"); err != nil {
			t.Errorf("example %d:\n%s\n%v", i+1, text, err)
		}
	}
}
