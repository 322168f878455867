package contact

import (
	"cmp"
	"slices"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
)

// UserRules is what the escalation engine needs to notify one user: their account email,
// every notification rule and every contact.
type UserRules struct {
	UserID     int64
	Name       string     // first and last name, for messages
	Email      string     // the account's email: the target of the default rule
	MutedUntil *time.Time // the user asked not to be notified until then; the engine decides
	Rules      []Rule
	Contacts   map[int64]Contact // by id
}

// Delivery is one notification to send: by Method to Target, Delay after the event.
type Delivery struct {
	RuleID    int64 // 0 for the default rule
	Method    Method
	ContactID int64  // 0 for the default rule and rules without a contact
	Target    string // email address, E.164 number or URL; "" for methods without a contact
	Secret    string // WEBHOOK: the key the body is signed with
	// Delay is when to send, relative to the event: after an alert opens (≥ 0), or before an
	// on-call shift starts (≤ 0: -15m is a quarter of an hour before). Updates have 0.
	Delay time.Duration
}

// ForAlert returns the deliveries for an alert of priority p, in the order they are due
// (then in rule order). A user with no alert rules at all gets the default: an email to their
// account address at once, for both priorities. A user whose rules are all for the other
// priority gets nothing.
func (u UserRules) ForAlert(p alert.Priority) []Delivery {
	want := HighPriority
	if p == alert.Low {
		want = LowPriority
	}
	if !slices.ContainsFunc(u.Rules, func(r Rule) bool { return r.Kind == Alerts }) {
		return []Delivery{{Method: Email, Target: u.Email}}
	}
	return u.deliveries(Alerts, want, time.Minute)
}

// ForUpdate returns the deliveries for an update about an alert the user was paged for
// (ALERT_ACCEPTED, ALERT_RESOLVED or ALERT_ESCALATED), in rule order. There is no default.
func (u UserRules) ForUpdate(t RuleType) []Delivery {
	return u.deliveries(Updates, t, 0)
}

// ForDuty returns the reminders of an on-call shift, earliest first; each Delay is negative
// or zero, the time before the shift starts. There is no default.
func (u UserRules) ForDuty() []Delivery {
	return u.deliveries(Duties, OnCall, -time.Minute)
}

// deliveries selects the rules of one kind and type whose contact can be notified, with a
// delay of Minutes units each, sorted by delay and then by rule id. A rule whose contact is
// missing or not OK (locked, blacklisted) is left out.
func (u UserRules) deliveries(kind RuleKind, typ RuleType, unit time.Duration) []Delivery {
	out := []Delivery{}
	for _, r := range u.Rules {
		if r.Kind != kind || r.Type != typ {
			continue
		}
		d := Delivery{RuleID: r.ID, Method: r.Method, ContactID: r.ContactID, Delay: time.Duration(r.Minutes) * unit}
		if r.ContactID != 0 {
			c, ok := u.Contacts[r.ContactID]
			if !ok || c.Status != OK {
				continue
			}
			d.Target = c.Address
			if c.Kind == KindWebhook {
				d.Secret = c.Secret
			}
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b Delivery) int {
		return cmp.Or(cmp.Compare(a.Delay, b.Delay), cmp.Compare(a.RuleID, b.RuleID))
	})
	return out
}
