package condition

import "strings"

type opKind int

const (
	opEq opKind = iota
	opLt
	opLe
	opGt
	opGe
	opContains
	opStartsWith
	opEndsWith
	opRegex
	opContainsAny
	opStartsWithAny
	opEndsWithAny
	opIn
	opIsIn
)

// kindNames are the word operators; each also has a not_ form and, except is_in, exact_ and
// not_exact_ forms.
var kindNames = map[opKind]string{
	opContains: "contains", opStartsWith: "starts_with", opEndsWith: "ends_with", opRegex: "regex",
	opContainsAny: "contains_any", opStartsWithAny: "starts_with_any", opEndsWithAny: "ends_with_any",
	opIn: "in", opIsIn: "is_in",
}

// opSpec is an operator as written: its kind, whether it is case-sensitive (exact_) and
// whether it is negated (not_ or not before it).
type opSpec struct {
	kind   opKind
	exact  bool
	negate bool
}

var operators = map[string]opSpec{
	"==": {kind: opEq}, "!=": {kind: opEq, negate: true},
	"<": {kind: opLt}, "<=": {kind: opLe}, ">": {kind: opGt}, ">=": {kind: opGe},
}

// keywords are the words with a meaning of their own: they cannot be bare strings.
var keywords = map[string]bool{"and": true, "or": true, "not": true}

func init() {
	names := map[string]opKind{"matches": opEq}
	for k, name := range kindNames {
		names[name] = k
	}
	for name, k := range names {
		operators[name] = opSpec{kind: k}
		operators["not_"+name] = opSpec{kind: k, negate: true}
		if k != opIsIn {
			operators["exact_"+name] = opSpec{kind: k, exact: true}
			operators["not_exact_"+name] = opSpec{kind: k, exact: true, negate: true}
		}
	}
	for name := range operators {
		keywords[name] = true
	}
}

// isKeyword reports whether w is an operator or a logical word.
func isKeyword(w string) bool {
	return keywords[w] && !strings.ContainsAny(w, "=<>!")
}
