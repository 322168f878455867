// Package rules is the agent's stream rules: alerting rules evaluated on the broker messages
// the agent sees, so that a sensor that only publishes readings still gets alerting. A rules
// file (YAML, --rules) holds threshold, missing-heartbeat, rate and composite rules; Parse
// checks it completely at start, and an Engine evaluates it, sending ALERT when a rule starts
// firing for a dedup key and RESOLVE when it clears, through the agent's durable buffer. Rule
// state lives in the agent's SQLite file, so it survives a restart. The user-facing
// description is docs/agent-rules.md.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/condition"
	"github.com/tocsinhq/tocsin/internal/template"
)

// Rule types.
const (
	Threshold        = "threshold"
	MissingHeartbeat = "missing_heartbeat"
	Rate             = "rate"
	Composite        = "composite"
)

// Limits of a rules file and of the state it may keep. They are documented in
// docs/agent-rules.md.
const (
	// MaxRules is the most rules one file may hold.
	MaxRules = 1000
	// DefaultMaxKeys is how many dedup keys a rule tracks when it does not set max_keys. A
	// message that would add a key beyond a rule's max_keys is not evaluated by that rule.
	DefaultMaxKeys = 1000
	// MaxKeysLimit is the largest max_keys a rule may set.
	MaxKeysLimit = 100_000
	// maxDuration bounds every duration in the file.
	maxDuration = 30 * 24 * time.Hour
	// maxErrors is how many mistakes Parse reports at once.
	maxErrors = 50
)

var ruleTypes = []string{Threshold, MissingHeartbeat, Rate, Composite}

// Set is a parsed and checked rules file. It is immutable; an Engine evaluates it.
type Set struct {
	file  string
	rules []*rule // in file order
}

// Len returns the number of rules.
func (s *Set) Len() int { return len(s.rules) }

// Topics returns the distinct topic filters the rules watch, in file order, so that the
// daemon can subscribe to them.
func (s *Set) Topics() []string {
	var out []string
	for _, r := range s.rules {
		if r.kind != Composite && !slices.Contains(out, r.topic.text) {
			out = append(out, r.topic.text)
		}
	}
	return out
}

// rule is one compiled rule.
type rule struct {
	name           string
	kind           string
	line           int
	integrationKey string
	silent         bool // evaluated for composites only; sends nothing
	priority       string
	summary        *template.Template
	dedupKey       *template.Template
	suppress       time.Duration
	minFiring      time.Duration
	maxKeys        int
	fingerprint    string // what the rule watches; a change starts its state afresh

	// threshold, missing_heartbeat and rate
	topic  topicFilter
	match  *condition.Condition
	device *template.Template // nil: the rule has no device

	// threshold
	field  *template.Template
	limit  float64
	below  bool
	forDur time.Duration
	// missing_heartbeat
	timeout     time.Duration
	forgetAfter time.Duration
	staticKey   string // the one key of a rule whose dedup key needs no message; "" if none
	// rate
	moreThan int64
	window   time.Duration
	// composite
	and      bool
	children []*rule
}

// breached reports whether a threshold rule's value is beyond its limit.
func (r *rule) breached(v float64) bool {
	if r.below {
		return v < r.limit
	}
	return v > r.limit
}

// Error is one mistake in a rules file.
type Error struct {
	File string
	Line int    // from 1; 0 when the mistake has no single place
	Rule string // the rule's name, or "#3" for a rule without one; "" outside a rule
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Rule != "" {
		b.WriteString("rule " + e.Rule + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and parses a rules file.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return Parse(data, path)
}

// Parse parses and checks a rules file; name names it in errors. It reports every mistake it
// finds (up to 50), each an *Error, joined with errors.Join: unknown keys, missing or invalid
// values, templates and conditions that do not parse, composites that name unknown rules or
// form a cycle.
func Parse(data []byte, name string) (*Set, error) {
	if name == "" {
		name = "rules"
	}
	p := &parser{file: name}
	specs := p.document(data)
	set := &Set{file: name}
	byName := map[string]*rule{}
	for _, sp := range specs {
		r := p.compile(sp)
		if r == nil {
			continue
		}
		if prev, ok := byName[r.name]; ok {
			p.errorf(sp.line, sp.ident, "the name is already used by the rule on line %d", prev.line)
			continue
		}
		byName[r.name] = r
		set.rules = append(set.rules, r)
	}
	p.link(set, specs, byName)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return a.Line - b.Line })
		errs := make([]error, 0, len(p.errs))
		for _, e := range p.errs[:min(len(p.errs), maxErrors)] {
			errs = append(errs, e)
		}
		if len(errs) == 1 {
			return nil, errs[0]
		}
		return nil, errors.Join(errs...)
	}
	return set, nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// compile checks one rule's own settings; link checks what rules say about each other.
func (p *parser) compile(sp *spec) *rule {
	n0 := len(p.errs)
	r := &rule{name: sp.Name, kind: sp.Type, line: sp.line, silent: sp.Silent, maxKeys: DefaultMaxKeys}
	at := func(key string) int { return sp.lineOf(key) }
	bad := func(key, format string, args ...any) { p.errorf(at(key), sp.ident, key+": "+format, args...) }

	if !sp.has("name") {
		p.errorf(sp.line, sp.ident, "name is required")
	} else if sp.Name != "" && !namePattern.MatchString(sp.Name) {
		bad("name", "%q is not a valid name: use up to 64 letters, digits, '_', '.' and '-', starting with a letter or digit", sp.Name)
	}
	kind := sp.Type
	if !sp.has("type") {
		p.errorf(sp.line, sp.ident, "type is required (one of %s)", strings.Join(ruleTypes, ", "))
		return nil
	}
	if kind == "" {
		return nil // the value is wrong, and its error says so
	}
	if !slices.Contains(ruleTypes, kind) {
		bad("type", "unknown type %q (one of %s)", kind, strings.Join(ruleTypes, ", "))
		return nil
	}
	for _, k := range sp.order {
		if owner, ok := keyOwner[k]; ok && owner != "" && !ownsKey(kind, owner) {
			p.errorf(at(k), sp.ident, "%s: not a setting of %s rules (it belongs to %s rules)", k, kind, owner)
		}
	}

	switch {
	case r.silent && sp.IntegrationKey != "":
		bad("integration_key", "a silent rule sends nothing; remove integration_key or silent")
	case !r.silent && !sp.has("integration_key"):
		p.errorf(sp.line, sp.ident, "integration_key is required (or silent: true for a rule used only in composites)")
	case len(sp.IntegrationKey) > alert.MaxKeyLen:
		bad("integration_key", "longer than %d characters", alert.MaxKeyLen)
	}
	r.integrationKey = sp.IntegrationKey
	if sp.Priority != "" {
		r.priority = strings.ToUpper(sp.Priority)
		if r.priority != string(alert.High) && r.priority != string(alert.Low) {
			bad("priority", "%q is not one of HIGH, LOW", sp.Priority)
		}
	}
	r.suppress = p.duration(sp, "suppress", sp.Suppress, false)
	r.minFiring = p.duration(sp, "min_firing", sp.MinFiring, false)
	if sp.MaxKeys != nil {
		if *sp.MaxKeys < 1 || *sp.MaxKeys > MaxKeysLimit {
			bad("max_keys", "must be from 1 to %d", MaxKeysLimit)
		}
		r.maxKeys = int(*sp.MaxKeys)
	}

	if kind != Composite {
		if !sp.has("topic") {
			p.errorf(sp.line, sp.ident, "topic is required (an MQTT topic filter such as plant/+/temperature, or a Kafka topic)")
		} else if sp.Topic != nil {
			var err error
			if r.topic, err = parseTopicFilter(*sp.Topic); err != nil {
				p.errorf(at("topic"), sp.ident, "%v", err)
			}
		}
		if sp.Match != "" {
			c, err := condition.Parse(sp.Match)
			switch {
			case err != nil:
				bad("match", "%v", err)
			case len(c.Refs()) > 0:
				bad("match", "is_in is not available in stream rules")
			case len(c.Counters()) > 0:
				bad("match", "trigger counts are not available in stream rules; use a rate rule")
			default:
				r.match = c
			}
		}
		if sp.Device != "" {
			r.device = p.path(sp, "device", sp.Device)
		}
	}

	switch kind {
	case Threshold:
		if !sp.has("field") {
			p.errorf(sp.line, sp.ident, "field is required (the path of the number, such as payload.temperature)")
		} else if sp.Field != "" {
			r.field = p.path(sp, "field", sp.Field)
		}
		switch {
		case sp.Above != nil && sp.Below != nil:
			bad("below", "a threshold rule has either above or below, not both")
		case sp.Above != nil:
			r.limit = *sp.Above
		case sp.Below != nil:
			r.limit, r.below = *sp.Below, true
		case !sp.has("above") && !sp.has("below"):
			p.errorf(sp.line, sp.ident, "above or below is required")
		}
		r.forDur = p.duration(sp, "for", sp.For, false)
	case MissingHeartbeat:
		if !sp.has("timeout") {
			p.errorf(sp.line, sp.ident, "timeout is required (how long without a message, such as 5m)")
		} else {
			r.timeout = p.duration(sp, "timeout", sp.Timeout, true)
		}
		r.forgetAfter = p.duration(sp, "forget_after", sp.ForgetAfter, true)
		if sp.ForgetAfter != nil && r.forgetAfter <= r.timeout {
			bad("forget_after", "must be longer than timeout")
		}
	case Rate:
		if !sp.has("more_than") {
			p.errorf(sp.line, sp.ident, "more_than is required (the number of messages in the window that is too many)")
		} else if sp.MoreThan != nil && *sp.MoreThan < 0 {
			bad("more_than", "must be 0 or more")
		} else if sp.MoreThan != nil {
			r.moreThan = *sp.MoreThan
		}
		if !sp.has("window") {
			p.errorf(sp.line, sp.ident, "window is required (such as 1m)")
		} else if r.window = p.duration(sp, "window", sp.Window, true); r.window > 0 && r.window < time.Second {
			bad("window", "must be at least 1s")
		}
	case Composite:
		switch strings.ToLower(sp.Op) {
		case "and":
			r.and = true
		case "or":
		case "":
			if !sp.has("op") {
				p.errorf(sp.line, sp.ident, "op is required (and or or)")
			}
		default:
			bad("op", "%q is not one of and, or", sp.Op)
		}
		if len(sp.Rules) < 2 {
			p.errorf(at("rules"), sp.ident, "rules: a composite names at least 2 rules")
		}
	}

	r.dedupKey = p.template(sp, "dedup_key", sp.DedupKey, defaultDedupKey(r))
	if !r.silent {
		r.summary = p.template(sp, "summary", sp.Summary, defaultSummary(r))
	} else if sp.Summary != nil {
		bad("summary", "a silent rule sends nothing; remove summary or silent")
	}
	if kind == MissingHeartbeat && r.device == nil && r.dedupKey != nil {
		r.staticKey = staticKey(r)
	}
	if len(p.errs) > n0 {
		return nil
	}
	r.fingerprint = fingerprint(sp)
	return r
}

// link resolves composites' references, rejects cycles and silent rules no composite uses, and
// orders nothing: the engine orders composites itself.
func (p *parser) link(set *Set, specs []*spec, byName map[string]*rule) {
	used := map[string]bool{}
	for _, sp := range specs {
		if sp.Type != Composite {
			continue
		}
		r := byName[sp.Name]
		seen := map[string]bool{}
		for _, name := range sp.Rules {
			used[name] = true
			child, ok := byName[name]
			switch {
			case seen[name]:
				p.errorf(sp.lineOf("rules"), sp.ident, "rules: %q is named twice", name)
				continue
			case name == sp.Name:
				p.errorf(sp.lineOf("rules"), sp.ident, "rules: a composite cannot name itself")
				continue
			case !ok && specNamed(specs, name):
				continue // that rule is broken; its own error says why
			case !ok:
				p.errorf(sp.lineOf("rules"), sp.ident, "rules: no rule is named %q", name)
				continue
			}
			seen[name] = true
			if child.kind != Composite && usesVar(child.dedupKey, "rule") {
				p.errorf(sp.lineOf("rules"), sp.ident, "rules: the dedup_key of %q contains {{rule}} (the default one does), so its keys never match "+
					"the other rules' keys; give the rules of a composite the same dedup_key, such as \"{{device}}\"", name)
			}
			if r != nil {
				r.children = append(r.children, child)
			}
		}
	}
	for _, r := range set.rules {
		if r.silent && !used[r.name] {
			p.errorf(r.line, strconv.Quote(r.name), "a silent rule that no composite names would never alert")
		}
	}
	// Cycles: a depth-first walk over the composites, reporting each cycle once.
	const (
		unseen = iota
		active
		done
	)
	color := map[*rule]int{}
	var walk func(r *rule, path []*rule)
	walk = func(r *rule, path []*rule) {
		color[r] = active
		path = append(path, r)
		for _, c := range r.children {
			switch color[c] {
			case active:
				i := slices.Index(path, c)
				names := make([]string, 0, len(path)-i+1)
				for _, q := range path[i:] {
					names = append(names, q.name)
				}
				names = append(names, c.name)
				p.errorf(c.line, strconv.Quote(c.name), "composites form a cycle: %s", strings.Join(names, " → "))
			case unseen:
				walk(c, path)
			}
		}
		color[r] = done
	}
	for _, r := range set.rules {
		if r.kind == Composite && color[r] == unseen {
			walk(r, nil)
		}
	}
}

func specNamed(specs []*spec, name string) bool {
	return slices.ContainsFunc(specs, func(sp *spec) bool { return sp.Name == name })
}

// duration checks a duration; positive requires it to be above zero.
func (p *parser) duration(sp *spec, key string, d *time.Duration, positive bool) time.Duration {
	if d == nil {
		return 0
	}
	switch {
	case *d < 0 || (positive && *d == 0):
		p.errorf(sp.lineOf(key), sp.ident, "%s: must be more than 0", key)
	case *d > maxDuration:
		p.errorf(sp.lineOf(key), sp.ident, "%s: must be at most %s", key, formatDuration(maxDuration))
	}
	return *d
}

// template parses a template setting, or the default when the setting is absent.
func (p *parser) template(sp *spec, key string, text *string, def string) *template.Template {
	src := def
	if text != nil {
		src = *text
		if strings.TrimSpace(src) == "" {
			p.errorf(sp.lineOf(key), sp.ident, "%s: the template is empty", key)
			return nil
		}
	}
	t, err := template.Parse(src)
	if err != nil {
		p.errorf(sp.lineOf(key), sp.ident, "%s: %v", key, err)
		return nil
	}
	return t
}

// viewRoots are the names a path may start with: the fields of a message.
var viewRoots = []string{"payload", "topic", "key", "source", "levels"}

// path compiles a path into a message, such as payload.sensor.id, as a template holding only
// that variable, so that paths are written as in templates and read the same way.
func (p *parser) path(sp *spec, key, text string) *template.Template {
	bad := func(format string, args ...any) *template.Template {
		p.errorf(sp.lineOf(key), sp.ident, key+": "+format, args...)
		return nil
	}
	if strings.Contains(text, "{{") || strings.Contains(text, "}}") {
		return bad("write a path such as payload.temperature, without {{ }}")
	}
	t, err := template.Parse("{{" + text + "}}")
	if err != nil {
		var se *template.SyntaxError
		if errors.As(err, &se) {
			return bad("%q is not a path: %s", text, se.Msg)
		}
		return bad("%q is not a path: %v", text, err)
	}
	els := t.Elements()
	if len(els) != 1 || els[0].Type != "VAR" {
		return bad("%q is not a single path such as payload.temperature", text)
	}
	root, _, _ := strings.Cut(els[0].Val, ".")
	root, _, _ = strings.Cut(root, "[")
	if !slices.Contains(viewRoots, root) {
		return bad("%q must start with one of %s (payload.%s?)", text, strings.Join(viewRoots, ", "), text)
	}
	return t
}

// usesVar reports whether a template inserts the top-level variable name.
func usesVar(t *template.Template, name string) bool {
	if t == nil {
		return false
	}
	return slices.ContainsFunc(t.Elements(), func(e template.Element) bool {
		return e.Type == "VAR" && e.Val == name
	})
}

// staticKey returns the single dedup key of a missing-heartbeat rule whose key needs no
// message: one that inserts only the rule's name, or the topic when the filter has no
// wildcard. Such a rule watches from the agent's start, not from its first message.
func staticKey(r *rule) string {
	for _, e := range r.dedupKey.Elements() {
		switch {
		case e.Type == "TEXT":
		case e.Type == "VAR" && e.Val == "rule":
		case e.Type == "VAR" && e.Val == "topic" && !r.topic.wild:
		default:
			return ""
		}
	}
	return alertKey(r.dedupKey.Render(map[string]any{"rule": r.name, "topic": r.topic.text}))
}

func defaultDedupKey(r *rule) string {
	switch {
	case r.kind == Composite:
		return "{{rule}}/{{dedup_key}}"
	case r.device != nil:
		return "{{rule}}/{{device}}"
	}
	return "{{rule}}"
}

// defaultSummary is the summary of a rule that sets none; its numbers and durations are the
// rule's own, written into the text.
func defaultSummary(r *rule) string {
	subject := "on {{topic}}"
	if r.device != nil {
		subject = "on {{device}}"
	}
	switch r.kind {
	case Threshold:
		s := fmt.Sprintf("{{rule}}: {{value}} is above %s %s", formatNumber(r.limit), subject)
		if r.below {
			s = fmt.Sprintf("{{rule}}: {{value}} is below %s %s", formatNumber(r.limit), subject)
		}
		if r.forDur > 0 {
			s += " for " + formatDuration(r.forDur)
		}
		return s
	case MissingHeartbeat:
		if r.device != nil {
			return "{{rule}}: no message from {{device}} for more than " + formatDuration(r.timeout)
		}
		return "{{rule}}: no message on {{topic}} for more than " + formatDuration(r.timeout)
	case Rate:
		return fmt.Sprintf("{{rule}}: {{count}} messages in %s %s (more than %d)", formatDuration(r.window), subject, r.moreThan)
	}
	return "{{rule}}: {{firing}} for {{dedup_key}}"
}

// fingerprint identifies what a rule watches and where it sends: its type, topic, match,
// device, field, dedup key, integration key, silence, window and composite parts. When it
// changes, the rule's saved state is retired (see Engine). Its numbers (above, below, for,
// timeout, more_than) and its summary, priority, suppress, min_firing and max_keys are left
// out: changing them keeps the state, and the next evaluation applies them.
func fingerprint(sp *spec) string {
	h := sha256.New()
	str := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	opt := func(s *string) {
		if s == nil {
			str("\x00")
			return
		}
		str(*s)
	}
	str(sp.Type)
	opt(sp.Topic)
	str(sp.Match)
	str(sp.Device)
	str(sp.Field)
	opt(sp.DedupKey)
	str(sp.IntegrationKey)
	str(strconv.FormatBool(sp.Silent))
	if sp.Window != nil {
		str(sp.Window.String())
	}
	str(strings.ToLower(sp.Op))
	for _, c := range sp.Rules {
		str(c)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// formatDuration writes a duration compactly: 90s, 5m, 1h30m, 2d.
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			d -= n * u.d
		}
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
