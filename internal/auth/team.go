package auth

import (
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// Team groups users; its JSON form is ilert's Team.
type Team struct {
	ID         int64        `json:"id"`
	Name       string       `json:"name"`
	Visibility string       `json:"visibility"`
	Members    []TeamMember `json:"members"`
	CreatedAt  time.Time    `json:"createdAt"`
	UpdatedAt  time.Time    `json:"updatedAt"`
}

// TeamMember is one user in a team with the team role (ADMIN, USER, RESPONDER, STAKEHOLDER).
type TeamMember struct {
	User Account `json:"user"`
	Role Role    `json:"role"`
}

// TeamRef is a reference to a team inside other resources (ilert's TeamRel).
type TeamRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name,omitempty"`
}

// Normalize trims the name and fills defaults.
func (t *Team) Normalize() {
	t.Name = strings.TrimSpace(t.Name)
	t.Visibility = strings.ToUpper(strings.TrimSpace(t.Visibility))
	if t.Visibility == "" {
		t.Visibility = "PUBLIC"
	}
	for i := range t.Members {
		t.Members[i].Role = Role(strings.ToUpper(string(t.Members[i].Role)))
		if t.Members[i].Role == "" {
			t.Members[i].Role = User
		}
	}
}

// Validate reports the first rule the team breaks.
func (t *Team) Validate() error {
	switch {
	case t.Name == "":
		return fault.Errorf("name is required")
	case len(t.Name) > maxNameLen:
		return fault.Errorf("name must be at most %d characters", maxNameLen)
	case t.Visibility != "PUBLIC" && t.Visibility != "PRIVATE":
		return fault.Errorf("visibility %q is not one of PUBLIC, PRIVATE", t.Visibility)
	}
	seen := map[int64]bool{}
	for _, m := range t.Members {
		if err := ValidateTeamRole(m.Role); err != nil {
			return err
		}
		if m.User.ID <= 0 {
			return fault.Errorf("members[].user.id is required")
		}
		if seen[m.User.ID] {
			return fault.Errorf("user %d is listed twice in members", m.User.ID)
		}
		seen[m.User.ID] = true
	}
	return nil
}

// ValidateTeamRole checks a member's role inside a team.
func ValidateTeamRole(r Role) error {
	switch r {
	case Admin, User, Responder, Stakeholder:
		return nil
	}
	return fault.Errorf("team role %q is not one of ADMIN, USER, RESPONDER, STAKEHOLDER", r)
}

// ValidateTeamRefs checks the teams a resource belongs to: each named by id, once.
func ValidateTeamRefs(teams []TeamRef) error {
	seen := map[int64]bool{}
	for _, t := range teams {
		switch {
		case t.ID <= 0:
			return fault.Errorf("teams[].id is required")
		case seen[t.ID]:
			return fault.Errorf("team %d is listed twice in teams", t.ID)
		}
		seen[t.ID] = true
	}
	return nil
}
