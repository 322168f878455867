// Package similarity scores how alike two alert texts are, for grouping alerts that report
// the same problem.
//
// The score is the mean of two cosine similarities between term-frequency vectors: one of
// the texts' words, one of their character trigrams. Before either is counted the text is
// lower-cased and the parts that change from one occurrence of a problem to the next are
// replaced by placeholders: UUIDs, IP and MAC addresses, dates and times, hexadecimal ids
// (seven or more hex digits with both a digit and a letter, or 0x…) and numbers. So
// "disk 91% full on host-7" and "disk 93% full on host-7" are the same text.
//
// Why this measure: alert texts are short, machine-written and formulaic, so what tells two
// of them apart is their wording and their names, not their meaning; a model or an external
// service would add cost and a dependency without doing better on them. Words reward the
// same vocabulary in any order; trigrams forgive inflections, typos and names that differ in
// a character ("host-7" and "host-8" stay close without being equal). Cosine compares the mix
// of terms rather than their number, so a summary repeated with more context around it still
// scores well above unrelated text. Counts are integers, so the score does not depend on map
// order: it is deterministic.
//
// Numbers glued to a name by "-" or "_" ("host-7", "db_02") are kept when they have fewer
// than four digits: they name things. Longer ones ("job-184467") are ids and are replaced.
// Only the first MaxLen bytes of a text count.
package similarity

import (
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is how much of a text is read, in bytes.
const MaxLen = 16 << 10

// Placeholders, one private-use rune each, so that a replaced value weighs as one character
// in trigrams.
const (
	phNumber = "\ue000"
	phHex    = "\ue001"
	phUUID   = "\ue002"
	phAddr   = "\ue003"
	phTime   = "\ue004"
)

// Profile is a text prepared for scoring. Prepare each text once when it is compared with
// many others.
type Profile struct {
	words    map[string]int64
	trigrams map[uint64]int64 // three runes of 21 bits each
	wordSq   int64            // the squared lengths of the vectors
	triSq    int64
	empty    bool
}

// Score returns how alike a and b are, from 0 (nothing in common) to 1 (the same once
// numbers, ids, addresses and times are set aside). Two empty texts score 1, an empty and a
// non-empty one 0.
func Score(a, b string) float64 { return New(a).Score(New(b)) }

// New prepares a text for scoring.
func New(s string) Profile {
	if len(s) > MaxLen {
		s = strings.ToValidUTF8(s[:MaxLen], "")
	}
	tokens := normalize(s)
	p := Profile{words: make(map[string]int64, len(tokens)), trigrams: make(map[uint64]int64, len(tokens)*4), empty: len(tokens) == 0}
	for _, t := range tokens {
		c := p.words[t]
		p.words[t] = c + 1
		p.wordSq += 2*c + 1 // (c+1)² - c²
	}
	// Trigrams of the normalized text with a space around each word, so word edges count.
	var w uint64
	n := 0
	push := func(r rune) {
		w = (w<<21 | uint64(r)) & (1<<63 - 1)
		if n++; n >= 3 {
			c := p.trigrams[w]
			p.trigrams[w] = c + 1
			p.triSq += 2*c + 1
		}
	}
	push(' ')
	for _, t := range tokens {
		for _, r := range t {
			push(r)
		}
		push(' ')
	}
	return p
}

// Score returns how alike the texts of p and q are; see Score.
func (p Profile) Score(q Profile) float64 {
	switch {
	case p.empty && q.empty:
		return 1
	case p.empty || q.empty:
		return 0
	}
	s := (cosine(p.words, q.words, p.wordSq, q.wordSq) + cosine(p.trigrams, q.trigrams, p.triSq, q.triSq)) / 2
	return min(max(s, 0), 1)
}

// cosine divides by the root of the product of the squared lengths, so that equal vectors
// score exactly 1.
func cosine[K comparable](a, b map[K]int64, sa, sb int64) float64 {
	if sa == 0 || sb == 0 {
		return 0
	}
	if len(b) < len(a) {
		a, b = b, a
	}
	var dot int64
	for k, c := range a {
		dot += c * b[k]
	}
	return float64(dot) / math.Sqrt(float64(sa)*float64(sb))
}

// normalize lower-cases s, splits it into words and replaces the volatile ones (see the
// package comment). A word is a run of letters, digits and the joiners . : - _ / @ # + %
// that does not start or end with a joiner other than %.
func normalize(s string) []string {
	s = strings.ToLower(s)
	var out []string
	for len(s) > 0 {
		i := strings.IndexFunc(s, isWordRune)
		if i < 0 {
			break
		}
		s = s[i:]
		j := strings.IndexFunc(s, func(r rune) bool { return !isWordRune(r) })
		if j < 0 {
			j = len(s)
		}
		word := strings.Trim(s[:j], ".:-_/@#+")
		s = s[j:]
		if word == "" || word == "%" {
			continue
		}
		out = append(out, classify(word))
	}
	return out
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || strings.ContainsRune(".:-_/@#+%", r)
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// classify returns the placeholder of a whole word, or the word with its volatile parts
// replaced.
func classify(w string) string {
	switch {
	case isUUID(w):
		return phUUID
	case isTime(w):
		return phTime
	case isIPv4(w) || isColonHex(w):
		return phAddr
	case isHexID(w):
		return phHex
	}
	if rest, ok := numberPrefix(w); ok && isUnit(rest) {
		return phNumber + rest // "91%", "200ms", "1.5s", "4gb"
	}
	return replaceParts(w)
}

// replaceParts replaces the hex ids and long numbers among the parts of a compound word
// ("pod-7f9c8d6b5-x2kq", "job/184467").
func replaceParts(w string) string {
	if !strings.ContainsAny(w, ".:-_/@#+") {
		return w
	}
	var b strings.Builder
	start := 0
	flush := func(end int) {
		part := w[start:end]
		switch {
		case isHexID(part):
			b.WriteString(phHex)
		case len(part) >= 4 && allDigits(part):
			b.WriteString(phNumber)
		default:
			b.WriteString(part)
		}
	}
	for i := 0; i < len(w); i++ {
		if strings.IndexByte(".:-_/@#+", w[i]) >= 0 {
			flush(i)
			b.WriteByte(w[i])
			start = i + 1
		}
	}
	flush(len(w))
	return b.String()
}

// numberPrefix reads a number (digits, with . or , separated groups) at the start of w and
// returns what follows it.
func numberPrefix(w string) (rest string, ok bool) {
	i := 0
	for {
		j := i
		for j < len(w) && isDigit(w[j]) {
			j++
		}
		if j == i {
			return "", false
		}
		i = j
		if i+1 < len(w) && (w[i] == '.' || w[i] == ',') && isDigit(w[i+1]) {
			i++
			continue
		}
		return w[i:], true
	}
}

// isUnit reports whether s may follow a number as its unit: nothing, %, or up to three
// letters.
func isUnit(s string) bool {
	if s == "" || s == "%" {
		return true
	}
	if len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// isUUID reports 8-4-4-4-12 hex digits.
func isUUID(w string) bool {
	if len(w) != 36 {
		return false
	}
	for i := 0; i < len(w); i++ {
		switch i {
		case 8, 13, 18, 23:
			if w[i] != '-' {
				return false
			}
		default:
			if !isHex(w[i]) {
				return false
			}
		}
	}
	return true
}

// isTime reports a date (2024-03-04, 2024/03/04), a clock time (10:15, 10:15:30.123) or an
// ISO-8601 date-time with an optional zone (2024-03-04t10:15:30z, …+01:00).
func isTime(w string) bool {
	date, clock := w, ""
	if i := strings.IndexByte(w, 't'); i == 10 {
		date, clock = w[:10], w[11:]
	} else if strings.IndexByte(w, ':') >= 0 {
		date, clock = "", w
	}
	if date != "" && !isDate(date) {
		return false
	}
	if clock == "" {
		return date != ""
	}
	// Strip a zone: z, or +hh:mm / -hh:mm / +hhmm.
	clock = strings.TrimSuffix(clock, "z")
	if i := strings.LastIndexAny(clock, "+-"); i > 0 {
		clock = clock[:i]
	}
	return isClock(clock)
}

func isDate(s string) bool {
	if len(s) != 10 || (s[4] != '-' && s[4] != '/') || s[7] != s[4] {
		return false
	}
	return allDigits(s[:4]) && allDigits(s[5:7]) && allDigits(s[8:])
}

func isClock(s string) bool {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		if !allDigits(s[i+1:]) || i+1 == len(s) {
			return false
		}
		s = s[:i]
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	for i, p := range parts {
		if !allDigits(p) || len(p) > 2 || (i > 0 && len(p) != 2) {
			return false
		}
	}
	return true
}

// isIPv4 reports a dotted quad with an optional :port or /prefix.
func isIPv4(w string) bool {
	if i := strings.IndexAny(w, ":/"); i >= 0 {
		if !allDigits(w[i+1:]) || i+1 == len(w) {
			return false
		}
		w = w[:i]
	}
	parts := strings.Split(w, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 3 || !allDigits(p) {
			return false
		}
	}
	return true
}

// isColonHex reports an IPv6 or MAC address: groups of up to four hex digits joined by
// colons, with "::" or at least five colons.
func isColonHex(w string) bool {
	colons := strings.Count(w, ":")
	if colons < 2 || (colons < 5 && !strings.Contains(w, "::")) {
		return false
	}
	digits := 0
	for _, g := range strings.Split(w, ":") {
		if len(g) > 4 {
			return false
		}
		for i := 0; i < len(g); i++ {
			if !isHex(g[i]) {
				return false
			}
		}
		digits += len(g)
	}
	return digits > 0
}

// isHexID reports 0x followed by hex digits, or seven or more hex digits with at least one
// digit and one letter.
func isHexID(w string) bool {
	if len(w) > 2 && strings.HasPrefix(w, "0x") {
		w = w[2:]
		for i := 0; i < len(w); i++ {
			if !isHex(w[i]) {
				return false
			}
		}
		return true
	}
	if len(w) < 7 {
		return false
	}
	var digit, letter bool
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case isDigit(c):
			digit = true
		case 'a' <= c && c <= 'f':
			letter = true
		default:
			return false
		}
	}
	return digit && letter
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' }
