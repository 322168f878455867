// Package contact holds how a user can be reached and when: their contacts (email addresses,
// phone numbers, webhooks), their notification rules, and the pure selection of what to send
// for an alert, an alert update or an on-call shift. It does no I/O and has no clock.
package contact

import (
	"net/mail"
	"strings"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// Kind is what sort of address a contact is.
type Kind string

const (
	KindEmail   Kind = "EMAIL"
	KindPhone   Kind = "PHONE"
	KindWebhook Kind = "WEBHOOK"
)

// Status is ilert's ContactStatus. tocsin creates every contact OK; a contact in another
// status is kept but never notified.
type Status string

const (
	OK          Status = "OK"
	Locked      Status = "LOCKED"
	Blacklisted Status = "BLACKLISTED"
)

// Contact is one way to reach a user.
type Contact struct {
	ID     int64
	UserID int64
	Kind   Kind
	// Target is the address as the user wrote it (trimmed), which the API shows back, so that
	// clients comparing what they sent with what they read (Terraform) see no difference.
	Target string
	// Address is what a channel sends to: Target itself for emails and webhooks, and the
	// number in E.164 form for phones.
	Address    string
	RegionCode string // phones: the ISO 3166 region a national number is read in
	Primary    bool   // phones: at most one of a user's numbers is primary
	Secret     string // webhooks: the key bodies are signed with
	Status     Status
}

// maxTarget bounds every target; URLs are the longest.
const maxTarget = 2048

// Normalize trims c's fields, fills its Address and Status, and checks it: a valid email
// address, a phone number that reads as E.164, or a webhook URL that passes
// ValidateWebhookURL with private addresses allowed (the API applies the stricter check).
func (c *Contact) Normalize() error {
	c.Target = strings.TrimSpace(c.Target)
	c.RegionCode = strings.ToUpper(strings.TrimSpace(c.RegionCode))
	if c.Status == "" {
		c.Status = OK
	}
	switch {
	case c.Target == "":
		return fault.Errorf("target is required")
	case len(c.Target) > maxTarget:
		return fault.Errorf("target must be at most %d characters", maxTarget)
	}
	switch c.Kind {
	case KindEmail:
		if err := ValidateEmail(c.Target); err != nil {
			return err
		}
		c.Address, c.RegionCode, c.Primary, c.Secret = c.Target, "", false, ""
	case KindPhone:
		if c.RegionCode != "" && (len(c.RegionCode) != 2 || strings.Trim(c.RegionCode, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
			return fault.Errorf("regionCode %q is not a two-letter region code such as DE or US", c.RegionCode)
		}
		e164, err := PhoneE164(c.Target, c.RegionCode)
		if err != nil {
			return err
		}
		c.Address, c.Secret = e164, ""
	case KindWebhook:
		if err := ValidateWebhookURL(c.Target, true); err != nil {
			return err
		}
		c.Address, c.RegionCode, c.Primary = c.Target, "", false
	default:
		return fault.Errorf("contact kind %q is not one of EMAIL, PHONE, WEBHOOK", c.Kind)
	}
	return nil
}

// MatchKey is the form two targets of one kind are compared in: case-insensitive for email
// addresses, E.164 for phone numbers, exact for URLs. A user cannot have two contacts with
// the same key, and search-target finds a contact by it.
func MatchKey(kind Kind, address string) string {
	if kind == KindEmail {
		return strings.ToLower(address)
	}
	return address
}

// SearchKey is the MatchKey of a target as a client searches for it, read like a new
// contact's target. ok is false when target cannot be any contact's (it does not validate).
func SearchKey(kind Kind, target, regionCode string) (key string, ok bool) {
	c := Contact{Kind: kind, Target: target, RegionCode: regionCode}
	if err := c.Normalize(); err != nil {
		return "", false
	}
	return MatchKey(kind, c.Address), true
}

// ValidateEmail checks that s is a bare email address ("a@example.com", not "A <a@…>").
func ValidateEmail(s string) error {
	if len(s) > 254 {
		return fault.Errorf("email %q is longer than 254 characters", s)
	}
	if addr, err := mail.ParseAddress(s); err != nil || addr.Address != s {
		return fault.Errorf("email %q is not a valid address", s)
	}
	return nil
}

// NewWebhookSecret returns a new signing key for a webhook contact: 256 random bits.
func NewWebhookSecret() string { return "whsec_" + auth.RandomToken(32) }
