package mapping

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"strconv"
	"strings"
)

// Defaults of the policy message paths, as ilagent's.
const (
	DefaultMapKeyEmail = "data.email"
	DefaultMapKeyShift = "data.shift"
)

// PolicyOptions read an escalation-policy update from a message: who (an email) is on call
// for which level (a shift) of which policy (a routing key made of message fields). This is
// the workforce-management case: an external system publishes shift changes.
type PolicyOptions struct {
	// PolicyRoutingKeys is a comma list of top-level fields whose string values, joined
	// without a separator, make the routing key of the policy.
	PolicyRoutingKeys string
	MapKeyEmail       string // dot path of the user's email; DefaultMapKeyEmail when empty
	MapKeyShift       string // dot path of the shift, a number or a string; DefaultMapKeyShift when empty
	ShiftOffset       int    // added to the shift; the level never goes below 0
	// FilterKey and FilterVal are the same filter as Options' (the same flags).
	FilterKey string
	FilterVal string
}

// Flags registers the options under ilagent's flag names. The filter flags are shared with
// Options.Flags: whichever registers them first, both read the same values.
func (o *PolicyOptions) Flags(fs *flag.FlagSet) {
	fs.StringVar(&o.PolicyRoutingKeys, "policy_routing_keys", "", "comma list of top-level payload fields whose values, joined, are the routing key of the escalation policy")
	fs.StringVar(&o.MapKeyEmail, "map_key_email", DefaultMapKeyEmail, "dot path of the user's email in a policy message")
	fs.StringVar(&o.MapKeyShift, "map_key_shift", DefaultMapKeyShift, "dot path of the shift (escalation level, number or string) in a policy message")
	fs.IntVar(&o.ShiftOffset, "shift_offset", 0, "added to the shift to make the escalation level (counted from 0; never below 0)")
	filterFlags(fs, &o.FilterKey, &o.FilterVal)
}

// PolicyUpdate puts the user with Email alone on level Level (from 0) of the escalation
// policy whose routing key is RoutingKey.
type PolicyUpdate struct {
	Email      string
	Level      int
	RoutingKey string
}

// Policy reads a policy message. It returns ErrFiltered for a message the filter skips and
// an error wrapping ErrUnmappable for one without an email, with a shift that is not a whole
// number, or without any routing-key field. A message without a shift is for level 0 (plus
// the offset), as in ilagent.
func (o PolicyOptions) Policy(payload []byte) (PolicyUpdate, error) {
	obj, err := decodeObject(payload)
	if err != nil {
		return PolicyUpdate{}, err
	}
	if !passes(obj, o.FilterKey, o.FilterVal) {
		return PolicyUpdate{}, ErrFiltered
	}
	emailPath := cmp.Or(o.MapKeyEmail, DefaultMapKeyEmail)
	email, _ := lookupString(obj, emailPath)
	if email = strings.TrimSpace(email); email == "" {
		return PolicyUpdate{}, unmappable("no email at %q", emailPath)
	}
	shiftPath := cmp.Or(o.MapKeyShift, DefaultMapKeyShift)
	shift := 0
	if v, ok := lookup(obj, shiftPath); ok {
		if shift, err = wholeNumber(v); err != nil {
			return PolicyUpdate{}, unmappable("the shift at %q %v", shiftPath, err)
		}
	}
	key := routingKey(obj, o.PolicyRoutingKeys)
	if key == "" {
		return PolicyUpdate{}, unmappable("no routing key: none of the fields %q holds a string", o.PolicyRoutingKeys)
	}
	return PolicyUpdate{Email: email, Level: clampLevel(shift, o.ShiftOffset), RoutingKey: key}, nil
}

// wholeNumber reads a shift: a JSON integer, or a string holding one.
func wholeNumber(v any) (int, error) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = strings.TrimSpace(v)
	default:
		return 0, errNotWhole
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errNotWhole
	}
	return n, nil
}

var errNotWhole = errors.New("is not a whole number")

func clampLevel(shift, offset int) int {
	l := int64(shift) + int64(offset)
	switch {
	case l < 0:
		return 0
	case l > math.MaxInt32:
		return math.MaxInt32
	}
	return int(l)
}

// routingKey joins the string values of the listed top-level fields; missing and empty ones
// are skipped.
func routingKey(obj map[string]any, fields string) string {
	var b strings.Builder
	for f := range strings.SplitSeq(fields, ",") {
		if s, ok := obj[strings.TrimSpace(f)].(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}
