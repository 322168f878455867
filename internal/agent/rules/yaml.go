package rules

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// spec is one rule as written, before it is checked.
type spec struct {
	line  int            // of the rule's first key
	ident string         // how errors name the rule: "\"boiler-hot\"" or "#3"
	lines map[string]int // key → line
	order []string       // keys in the order written

	Name, Type, IntegrationKey, Priority, Match, Device, Field, Op string
	Topic, Summary, DedupKey                                       *string
	Above, Below                                                   *float64
	MoreThan, MaxKeys                                              *int64
	For, Timeout, ForgetAfter, Window, Suppress, MinFiring         *time.Duration
	Silent                                                         bool
	Rules                                                          []string
}

// has reports whether the rule sets key, with a valid value or not: a key written with a bad
// value is reported as bad, not also as missing.
func (sp *spec) has(key string) bool {
	_, ok := sp.lines[key]
	return ok
}

func (sp *spec) lineOf(key string) int {
	if l, ok := sp.lines[key]; ok {
		return l
	}
	return sp.line
}

// keyOwner names, for every key a rule may have, the rule type it belongs to; "" is a key of
// every rule and "stream" one of every rule but composites.
var keyOwner = map[string]string{
	"name": "", "type": "", "integration_key": "", "summary": "", "dedup_key": "", "priority": "",
	"suppress": "", "min_firing": "", "silent": "", "max_keys": "",
	"topic": "stream", "match": "stream", "device": "stream",
	"field": Threshold, "above": Threshold, "below": Threshold, "for": Threshold,
	"timeout": MissingHeartbeat, "forget_after": MissingHeartbeat,
	"more_than": Rate, "window": Rate,
	"op": Composite, "rules": Composite,
}

// defaultKeys are the keys the top-level defaults mapping may set for every rule.
var defaultKeys = []string{"integration_key", "priority", "suppress", "min_firing", "max_keys"}

func ownsKey(kind, owner string) bool {
	return owner == kind || (owner == "stream" && kind != Composite)
}

func knownKeys() string {
	keys := make([]string, 0, len(keyOwner))
	for k := range keyOwner {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

type parser struct {
	file string
	errs []*Error
}

func (p *parser) errorf(line int, rule, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

// pair is one key and its value in a mapping.
type pair struct {
	key  string
	line int
	val  *yaml.Node
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

var yamlParserErrors = []string{
	"did not find expected <document start>", "did not find expected key", "did not find expected '-' indicator",
	"did not find expected node content", "did not find expected ',' or ']'", "did not find expected ',' or '}'",
}

// document reads the file: a mapping with rules (a list of rule mappings) and optional
// defaults.
func (p *parser) document(data []byte) []*spec {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			msg := m[2]
			// For these errors of its parser, yaml.v3 gives the line before the one where the
			// enclosing block or list starts.
			if slices.Contains(yamlParserErrors, msg) {
				line++
				msg += " (in the block that starts on this line)"
			}
			p.errorf(line, "", "%s", msg)
		} else {
			p.errorf(0, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil
	}
	if len(doc.Content) == 0 {
		p.errorf(0, "", "the file holds no rules")
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.errorf(root.Line, "", "the file must be a mapping with a rules list")
		return nil
	}
	var rulesNode *yaml.Node
	defaults := map[string]pair{}
	for _, kv := range p.pairs(root, "") {
		switch kv.key {
		case "rules":
			rulesNode = resolve(kv.val)
		case "defaults":
			d := resolve(kv.val)
			if d.Kind != yaml.MappingNode {
				p.errorf(kv.line, "", "defaults: must be a mapping")
				continue
			}
			for _, dkv := range p.pairs(d, "") {
				if !slices.Contains(defaultKeys, dkv.key) {
					p.errorf(dkv.line, "", "defaults: %q cannot be a default (defaults may set %s)", dkv.key, strings.Join(defaultKeys, ", "))
					continue
				}
				defaults[dkv.key] = dkv
			}
		default:
			p.errorf(kv.line, "", "unknown key %q (a rules file has rules and defaults)", kv.key)
		}
	}
	if rulesNode == nil || (rulesNode.Kind == yaml.ScalarNode && rulesNode.ShortTag() == "!!null") {
		p.errorf(root.Line, "", "the file holds no rules: write them in a list under rules:")
		return nil
	}
	if rulesNode.Kind != yaml.SequenceNode {
		p.errorf(rulesNode.Line, "", "rules: must be a list of rules")
		return nil
	}
	if len(rulesNode.Content) == 0 {
		p.errorf(rulesNode.Line, "", "the rules list is empty")
		return nil
	}
	if len(rulesNode.Content) > MaxRules {
		p.errorf(rulesNode.Line, "", "rules: at most %d rules", MaxRules)
		return nil
	}
	specs := make([]*spec, 0, len(rulesNode.Content))
	for i, n := range rulesNode.Content {
		if sp := p.rule(resolve(n), i, defaults); sp != nil {
			specs = append(specs, sp)
		}
	}
	return specs
}

// rule reads one rule mapping, with the defaults under its own keys.
func (p *parser) rule(n *yaml.Node, index int, defaults map[string]pair) *spec {
	sp := &spec{line: n.Line, ident: "#" + strconv.Itoa(index+1), lines: map[string]int{}}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, sp.ident, "a rule must be a mapping of keys to values")
		return nil
	}
	// The name first, so that every other error names the rule.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], resolve(n.Content[i+1]); k.Value == "name" && v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) != "" {
			sp.Name = strings.TrimSpace(v.Value)
			sp.ident = strconv.Quote(sp.Name)
			break
		}
	}
	kvs := p.pairs(n, sp.ident)
	// A silent rule sends nothing, so the defaults about sending are not its own.
	silent := slices.ContainsFunc(kvs, func(kv pair) bool {
		v := resolve(kv.val)
		return kv.key == "silent" && v.Kind == yaml.ScalarNode && strings.EqualFold(v.Value, "true")
	})
	for _, k := range defaultKeys {
		if silent && (k == "integration_key" || k == "priority") {
			continue
		}
		if d, ok := defaults[k]; ok && !slices.ContainsFunc(kvs, func(kv pair) bool { return kv.key == k }) {
			kvs = append(kvs, d)
		}
	}
	for _, kv := range kvs {
		if _, ok := keyOwner[kv.key]; !ok {
			p.errorf(kv.line, sp.ident, "unknown key %q (known keys: %s)", kv.key, knownKeys())
			continue
		}
		sp.lines[kv.key] = kv.line
		sp.order = append(sp.order, kv.key)
		switch kv.key {
		case "name":
			p.str(kv, sp) // reports an empty or non-text name
			if sp.Name == "" && kv.val != nil {
				sp.Name = strings.TrimSpace(resolve(kv.val).Value) // from a merged mapping
			}
		case "type":
			sp.Type, _ = p.str(kv, sp)
		case "integration_key":
			sp.IntegrationKey, _ = p.str(kv, sp)
		case "priority":
			sp.Priority, _ = p.str(kv, sp)
		case "match":
			sp.Match, _ = p.str(kv, sp)
		case "device":
			sp.Device, _ = p.str(kv, sp)
		case "field":
			sp.Field, _ = p.str(kv, sp)
		case "op":
			sp.Op, _ = p.str(kv, sp)
		case "topic":
			sp.Topic = p.optStr(kv, sp)
		case "summary":
			sp.Summary = p.optStr(kv, sp)
		case "dedup_key":
			sp.DedupKey = p.optStr(kv, sp)
		case "above":
			sp.Above = p.number(kv, sp)
		case "below":
			sp.Below = p.number(kv, sp)
		case "more_than":
			sp.MoreThan = p.whole(kv, sp)
		case "max_keys":
			sp.MaxKeys = p.whole(kv, sp)
		case "for":
			sp.For = p.dur(kv, sp)
		case "timeout":
			sp.Timeout = p.dur(kv, sp)
		case "forget_after":
			sp.ForgetAfter = p.dur(kv, sp)
		case "window":
			sp.Window = p.dur(kv, sp)
		case "suppress":
			sp.Suppress = p.dur(kv, sp)
		case "min_firing":
			sp.MinFiring = p.dur(kv, sp)
		case "silent":
			v := resolve(kv.val)
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
				p.errorf(kv.line, sp.ident, "silent: must be true or false")
			} else {
				sp.Silent = strings.EqualFold(v.Value, "true")
			}
		case "rules":
			v := resolve(kv.val)
			if v.Kind != yaml.SequenceNode {
				p.errorf(kv.line, sp.ident, "rules: must be a list of rule names")
				continue
			}
			for _, c := range v.Content {
				c = resolve(c)
				if c.Kind != yaml.ScalarNode || c.ShortTag() == "!!null" || strings.TrimSpace(c.Value) == "" {
					p.errorf(c.Line, sp.ident, "rules: must be a list of rule names")
					continue
				}
				sp.Rules = append(sp.Rules, strings.TrimSpace(c.Value))
			}
		}
	}
	return sp
}

// pairs returns a mapping's keys and values, with the keys of merged mappings (<<: *anchor)
// that the mapping does not set itself. A key written twice is an error.
func (p *parser) pairs(n *yaml.Node, ident string) []pair {
	var own, merged []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.ShortTag() == "!!merge") {
			merged = append(merged, p.mergeSources(v, ident)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, ident, "a key must be a plain name")
			continue
		}
		if seen[k.Value] {
			p.errorf(k.Line, ident, "%s: the key is written twice", k.Value)
			continue
		}
		seen[k.Value] = true
		own = append(own, pair{key: k.Value, line: k.Line, val: v})
	}
	for _, kv := range merged {
		if !seen[kv.key] {
			seen[kv.key] = true
			own = append(own, kv)
		}
	}
	return own
}

func (p *parser) mergeSources(v *yaml.Node, ident string) []pair {
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return p.pairs(v, ident)
	case yaml.SequenceNode:
		var out []pair
		for _, c := range v.Content {
			out = append(out, p.mergeSources(c, ident)...)
		}
		return out
	}
	p.errorf(v.Line, ident, "<<: merges only mappings")
	return nil
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func (p *parser) scalar(kv pair, sp *spec, what string) (*yaml.Node, bool) {
	v := resolve(kv.val)
	if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
		p.errorf(kv.line, sp.ident, "%s: must be %s", kv.key, what)
		return nil, false
	}
	return v, true
}

func (p *parser) str(kv pair, sp *spec) (string, bool) {
	v, ok := p.scalar(kv, sp, "a text")
	if !ok {
		return "", false
	}
	s := strings.TrimSpace(v.Value)
	if s == "" {
		p.errorf(kv.line, sp.ident, "%s: must not be empty", kv.key)
		return "", false
	}
	return s, true
}

func (p *parser) optStr(kv pair, sp *spec) *string {
	v, ok := p.scalar(kv, sp, "a text")
	if !ok {
		return nil
	}
	return &v.Value
}

func (p *parser) number(kv pair, sp *spec) *float64 {
	v, ok := p.scalar(kv, sp, "a number")
	if !ok {
		return nil
	}
	tag := v.ShortTag()
	f, err := strconv.ParseFloat(strings.ReplaceAll(v.Value, "_", ""), 64)
	if (tag != "!!int" && tag != "!!float") || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(kv.line, sp.ident, "%s: %q is not a number", kv.key, v.Value)
		return nil
	}
	return &f
}

// whole reads a whole number.
func (p *parser) whole(kv pair, sp *spec) *int64 {
	f := p.number(kv, sp)
	if f == nil {
		return nil
	}
	if *f != math.Trunc(*f) || math.Abs(*f) > 1e15 {
		p.errorf(kv.line, sp.ident, "%s: must be a whole number", kv.key)
		return nil
	}
	v := int64(*f)
	return &v
}

// dur reads a duration: a whole number of seconds, or a Go duration such as 90s, 5m, 1h30m.
// d counts days: 2d, 1d12h.
func (p *parser) dur(kv pair, sp *spec) *time.Duration {
	v, ok := p.scalar(kv, sp, "a duration such as 90s, 5m or 1h")
	if !ok {
		return nil
	}
	d, err := parseDuration(v.Value)
	if err != nil {
		p.errorf(kv.line, sp.ident, "%s: %q is not a duration: write a number of seconds or a duration such as 90s, 5m, 1h30m or 2d", kv.key, v.Value)
		return nil
	}
	return &d
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(maxDuration/time.Second)*10 || n < -int64(maxDuration/time.Second)*10 {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("bad days")
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if days > 0 && d < 0 {
		return 0, fmt.Errorf("bad duration")
	}
	return days + d, nil
}
