package contact

import (
	"slices"
	"strings"

	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/notify"
)

// Method is how a rule reaches its user: notify's methods, which tocsin delivers (EMAIL, SMS,
// VOICE, WEBHOOK), and ilert's PUSH, WHATSAPP and TELEGRAM, which are stored so that ilert
// configurations carry over but have no channel yet.
type Method = notify.Method

const (
	Email           = notify.Email
	SMS             = notify.SMS
	Voice           = notify.Voice
	Webhook         = notify.Webhook
	Push     Method = "PUSH"
	WhatsApp Method = "WHATSAPP"
	Telegram Method = "TELEGRAM"
)

// RuleKind says what a rule notifies about, as the path of its resource does.
type RuleKind string

const (
	Alerts  RuleKind = "ALERT"  // an alert the user is paged for
	Duties  RuleKind = "DUTY"   // the user's on-call shift is about to start
	Updates RuleKind = "UPDATE" // an alert the user was paged for changed
	// Subscriptions: news of what the user subscribed to (ilert's status-page and service
	// subscriptions). Kept for the day tocsin sends such news; nothing reads them yet.
	Subscriptions RuleKind = "SUBSCRIPTION"
)

// RuleType is a rule's ilert type: the alert priority, the duty or the update it is for.
type RuleType string

const (
	HighPriority   RuleType = "HIGH_PRIORITY"
	LowPriority    RuleType = "LOW_PRIORITY"
	OnCall         RuleType = "ON_CALL"
	AlertAccepted  RuleType = "ALERT_ACCEPTED"
	AlertResolved  RuleType = "ALERT_RESOLVED"
	AlertEscalated RuleType = "ALERT_ESCALATED"
)

// MaxDelayMin is the longest delay of an alert rule: a day. ilert's Terraform provider allows
// 0 to 120 minutes; tocsin accepts more.
const MaxDelayMin = 1440

// BeforeMins are the lead times a duty rule may have, in minutes, as ilert allows them.
var BeforeMins = []int{0, 15, 30, 60, 180, 360, 720, 1440}

// kindRules is, per kind of rule, the methods and types it may have. VOICE calls are for
// alerts only: the call offers to accept or resolve the alert it reads out.
var kindRules = map[RuleKind]struct {
	methods []Method
	types   []RuleType
}{
	Alerts:  {[]Method{Email, SMS, Voice, Webhook, Push, WhatsApp, Telegram}, []RuleType{HighPriority, LowPriority}},
	Duties:  {[]Method{Email, SMS, Webhook, Push, WhatsApp, Telegram}, []RuleType{OnCall}},
	Updates: {[]Method{Email, SMS, Webhook, Push, WhatsApp, Telegram}, []RuleType{AlertAccepted, AlertResolved, AlertEscalated}},
	// ilert's subscription preferences have no type.
	Subscriptions: {[]Method{Email, SMS, Push}, []RuleType{""}},
}

// Rule is one of a user's notification preferences: notify by Method through the contact
// ContactID about what Kind and Type name, Minutes after (alerts) or before (duties) it.
type Rule struct {
	ID        int64
	UserID    int64
	Kind      RuleKind
	Method    Method
	ContactID int64 // 0 when the method takes no contact (PUSH, and TELEGRAM if none is given)
	Type      RuleType
	// Minutes is an alert rule's delayMin (after the alert opens) or a duty rule's beforeMin
	// (before the shift starts); update rules have 0.
	Minutes int
	// ContactTarget is the contact's target, filled when a rule is read.
	ContactTarget string
}

// Normalize upper-cases the enums a client may send in any case and defaults a duty rule's
// type to ON_CALL, its only one.
func (r *Rule) Normalize() {
	r.Method = Method(strings.ToUpper(strings.TrimSpace(string(r.Method))))
	r.Type = RuleType(strings.ToUpper(strings.TrimSpace(string(r.Type))))
	if r.Kind == Duties && r.Type == "" {
		r.Type = OnCall
	}
	if r.Kind == Updates || r.Kind == Subscriptions {
		r.Minutes = 0
	}
}

// Validate checks the rule on its own; CheckContact checks it against its contact.
func (r *Rule) Validate() error {
	k, ok := kindRules[r.Kind]
	if !ok {
		return fault.Errorf("rule kind %q is not one of ALERT, DUTY, UPDATE, SUBSCRIPTION", r.Kind)
	}
	if !slices.Contains(k.methods, r.Method) {
		return fault.Errorf("method %q is not one of %s", r.Method, join(k.methods))
	}
	if !slices.Contains(k.types, r.Type) {
		if r.Kind == Subscriptions {
			return fault.Errorf("a subscription preference has no type, and %q was given", r.Type)
		}
		return fault.Errorf("type %q is not one of %s", r.Type, join(k.types))
	}
	switch r.Kind {
	case Alerts:
		if r.Minutes < 0 || r.Minutes > MaxDelayMin {
			return fault.Errorf("delayMin must be between 0 and %d, not %d", MaxDelayMin, r.Minutes)
		}
	case Duties:
		if !slices.Contains(BeforeMins, r.Minutes) {
			return fault.Errorf("beforeMin must be one of 0, 15, 30, 60, 180, 360, 720, 1440, not %d", r.Minutes)
		}
	}
	switch {
	case r.Method == Push && r.ContactID != 0:
		return fault.Errorf("method PUSH takes no contact")
	case r.Method != Push && r.Method != Telegram && r.ContactID == 0:
		return fault.Errorf("method %s needs contact.id: one of the user's %s contacts", r.Method, strings.ToLower(string(contactKindFor(r.Method))))
	case r.ContactID < 0:
		return fault.Errorf("contact.id %d is not a valid id", r.ContactID)
	}
	return nil
}

// contactKindFor is the kind of contact method sends to; "" for methods that take any (or none).
func contactKindFor(m Method) Kind {
	switch m {
	case Email:
		return KindEmail
	case SMS, Voice, WhatsApp:
		return KindPhone
	case Webhook:
		return KindWebhook
	}
	return ""
}

// CheckContact checks that c, the contact r names, is its user's and fits its method: an
// email address for EMAIL, a phone number for SMS, VOICE and WHATSAPP, a webhook for WEBHOOK.
func (r *Rule) CheckContact(c Contact) error {
	if c.UserID != r.UserID {
		return fault.Errorf("contact %d is not one of user %d's contacts", c.ID, r.UserID)
	}
	if want := contactKindFor(r.Method); want != "" && c.Kind != want {
		return fault.Errorf("method %s needs a %s contact, and contact %d is a %s contact", r.Method,
			strings.ToLower(string(want)), c.ID, strings.ToLower(string(c.Kind)))
	}
	return nil
}

func join[T ~string](vals []T) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
