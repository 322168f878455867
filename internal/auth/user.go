// Package auth holds users, teams, roles, API keys and passwords: who may call tocsin and what
// each role may do. It is pure: hashing and validation only, no storage.
package auth

import (
	"net/mail"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// Role is a user's account-wide role, as in ilert.
type Role string

const (
	Admin       Role = "ADMIN"
	User        Role = "USER"
	Responder   Role = "RESPONDER"
	Stakeholder Role = "STAKEHOLDER"
	Guest       Role = "GUEST"
)

// ParseRole accepts a role name in any case; the empty string means USER.
func ParseRole(s string) (Role, error) {
	if s == "" {
		return User, nil
	}
	r := Role(strings.ToUpper(strings.TrimSpace(s)))
	switch r {
	case Admin, User, Responder, Stakeholder, Guest:
		return r, nil
	}
	return "", fault.Errorf("role %q is not one of ADMIN, USER, RESPONDER, STAKEHOLDER, GUEST", s)
}

// Account is a person who can sign in and be paged. Its JSON form is ilert's User.
type Account struct {
	ID         int64      `json:"id"`
	FirstName  string     `json:"firstName"`
	LastName   string     `json:"lastName"`
	Email      string     `json:"email"`
	Username   string     `json:"username,omitempty"`
	Timezone   string     `json:"timezone,omitempty"`
	Position   string     `json:"position,omitempty"`
	Department string     `json:"department,omitempty"`
	Language   string     `json:"language,omitempty"`
	Region     string     `json:"region,omitempty"`
	Role       Role       `json:"role"`
	ShiftColor string     `json:"shiftColor,omitempty"`
	MutedUntil *time.Time `json:"mutedUntil,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

// Limits on user fields; longer values are rejected, not truncated.
const (
	maxNameLen  = 200
	maxEmailLen = 254
)

var (
	languages = map[string]bool{"": true, "de": true, "en": true}
	regions   = map[string]bool{"": true, "DE": true, "GB": true, "CH": true, "CN": true, "IN": true,
		"US": true, "FR": true, "ES": true, "CA": true, "IE": true}
)

// Normalize trims the fields a person types and fills defaults.
func (a *Account) Normalize() {
	a.FirstName = strings.TrimSpace(a.FirstName)
	a.LastName = strings.TrimSpace(a.LastName)
	a.Email = strings.TrimSpace(a.Email)
	a.Username = strings.TrimSpace(a.Username)
	if a.Role == "" {
		a.Role = User
	}
	a.Role = Role(strings.ToUpper(string(a.Role)))
	a.Language = strings.ToLower(a.Language)
	a.Region = strings.ToUpper(a.Region)
}

// Validate reports the first field that breaks a rule.
func (a *Account) Validate() error {
	switch {
	case a.FirstName == "":
		return fault.Errorf("firstName is required")
	case a.LastName == "":
		return fault.Errorf("lastName is required")
	case len(a.FirstName) > maxNameLen || len(a.LastName) > maxNameLen:
		return fault.Errorf("firstName and lastName must be at most %d characters", maxNameLen)
	case a.Email == "":
		return fault.Errorf("email is required")
	case len(a.Email) > maxEmailLen:
		return fault.Errorf("email must be at most %d characters", maxEmailLen)
	case len(a.Username) > maxNameLen || len(a.Position) > maxNameLen || len(a.Department) > maxNameLen:
		return fault.Errorf("username, position and department must be at most %d characters", maxNameLen)
	case !languages[a.Language]:
		return fault.Errorf("language %q is not one of de, en", a.Language)
	case !regions[a.Region]:
		return fault.Errorf("region %q is not supported", a.Region)
	}
	if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email {
		return fault.Errorf("email %q is not a valid address", a.Email)
	}
	if _, err := ParseRole(string(a.Role)); err != nil {
		return err
	}
	if a.Timezone != "" {
		if _, err := zone.Load(a.Timezone); err != nil {
			return fault.Errorf("timezone %q is not an IANA time zone", a.Timezone)
		}
	}
	return nil
}

// Ref is a reference to a user as it appears inside other resources.
type Ref struct {
	ID        int64  `json:"id"`
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
}
