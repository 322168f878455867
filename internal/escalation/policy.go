// Package escalation holds escalation policies: ordered levels of users, schedules and teams
// to notify, with the minutes to wait before moving to the next level.
package escalation

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// Policy is ilert's EscalationPolicy.
type Policy struct {
	ID              int64          `json:"id"`
	Name            string         `json:"name"`
	EscalationRules []Rule         `json:"escalationRules"`
	Teams           []auth.TeamRef `json:"teams"`
	Repeating       bool           `json:"repeating"`
	Frequency       int            `json:"frequency"`
	DelayMin        int            `json:"delayMin"`
	RoutingKey      string         `json:"routingKey,omitempty"`
}

// Rule is one level of a policy (ilert's EscalationRule). The singular User, Schedule and
// Team fields are the deprecated wire form; Normalize folds them into the lists.
type Rule struct {
	EscalationTimeout int            `json:"escalationTimeout"`
	Users             []auth.Ref     `json:"users"`
	Schedules         []ScheduleRef  `json:"schedules"`
	Teams             []auth.TeamRef `json:"teams"`
	User              *auth.Ref      `json:"user,omitempty"`
	Schedule          *ScheduleRef   `json:"schedule,omitempty"`
	Team              *auth.TeamRef  `json:"team,omitempty"`
}

// ScheduleRef names an on-call schedule inside a level.
type ScheduleRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"`
}

// Limits of a policy.
const (
	MaxLevels         = 20
	MaxTargets        = 50
	MaxTimeoutMinutes = 7 * 24 * 60
	maxNameLen        = 200
	maxRoutingKeyLen  = 255
)

// Normalize trims text, applies ilert's defaults (frequency 1) and folds the deprecated
// singular targets into the lists.
func (p *Policy) Normalize() {
	p.Name = strings.TrimSpace(p.Name)
	p.RoutingKey = strings.TrimSpace(p.RoutingKey)
	if p.Frequency == 0 {
		p.Frequency = 1
	}
	if p.Teams == nil {
		p.Teams = []auth.TeamRef{}
	}
	for i := range p.EscalationRules {
		p.EscalationRules[i].Normalize()
	}
}

// Normalize folds the deprecated singular targets into the lists. A singular counts only
// when its list is empty: ilert's clients send one form or the other, and a level read back
// carries both (see MarshalJSON), so that a client who edits the list and sends the level
// back must not see the first entry it removed come back.
func (r *Rule) Normalize() {
	if r.User != nil && r.User.ID != 0 && len(r.Users) == 0 {
		r.Users = []auth.Ref{*r.User}
	}
	if r.Schedule != nil && r.Schedule.ID != 0 && len(r.Schedules) == 0 {
		r.Schedules = []ScheduleRef{*r.Schedule}
	}
	if r.Team != nil && r.Team.ID != 0 && len(r.Teams) == 0 {
		r.Teams = []auth.TeamRef{*r.Team}
	}
	r.User, r.Schedule, r.Team = nil, nil, nil
	if r.Users == nil {
		r.Users = []auth.Ref{}
	}
	if r.Schedules == nil {
		r.Schedules = []ScheduleRef{}
	}
	if r.Teams == nil {
		r.Teams = []auth.TeamRef{}
	}
}

// Validate reports the first rule the policy breaks. References are checked by the store.
func (p *Policy) Validate() error {
	switch {
	case p.Name == "":
		return fault.Errorf("name is required")
	case len(p.Name) > maxNameLen:
		return fault.Errorf("name must be at most %d characters", maxNameLen)
	case len(p.RoutingKey) > maxRoutingKeyLen:
		return fault.Errorf("routingKey must be at most %d characters", maxRoutingKeyLen)
	case len(p.EscalationRules) == 0:
		return fault.Errorf("escalationRules needs at least one level")
	case len(p.EscalationRules) > MaxLevels:
		return fault.Errorf("escalationRules may have at most %d levels", MaxLevels)
	case p.Frequency < 1 || p.Frequency > 9:
		return fault.Errorf("frequency must be between 1 and 9")
	case p.DelayMin < 0 || p.DelayMin > 60:
		return fault.Errorf("delayMin must be between 0 and 60 minutes")
	}
	if err := auth.ValidateTeamRefs(p.Teams); err != nil {
		return err
	}
	for i := range p.EscalationRules {
		if err := p.EscalationRules[i].Validate(); err != nil {
			return fault.Errorf("escalationRules[%d]: %s", i, fault.MessageOf(err))
		}
	}
	return nil
}

// MarshalJSON writes the level with the deprecated singular fields too, each naming the
// first of its list, as ilert does: clients that still send user or schedule (Terraform's
// escalation_rule.user, for one) read them back and see no change.
func (r Rule) MarshalJSON() ([]byte, error) {
	type plain Rule
	p := plain(r)
	if len(r.Users) > 0 {
		p.User = &r.Users[0]
	}
	if len(r.Schedules) > 0 {
		p.Schedule = &r.Schedules[0]
	}
	if len(r.Teams) > 0 {
		p.Team = &r.Teams[0]
	}
	return json.Marshal(p)
}

// Validate reports the first rule the level breaks.
func (r *Rule) Validate() error {
	if r.EscalationTimeout < 0 || r.EscalationTimeout > MaxTimeoutMinutes {
		return fault.Errorf("escalationTimeout must be between 0 and %d minutes", MaxTimeoutMinutes)
	}
	n := len(r.Users) + len(r.Schedules) + len(r.Teams)
	if n == 0 {
		return fault.Errorf("a level needs at least one user, schedule or team")
	}
	if n > MaxTargets {
		return fault.Errorf("a level may name at most %d users, schedules and teams", MaxTargets)
	}
	seen := map[string]bool{}
	check := func(kind string, id int64) error {
		if id <= 0 {
			return fault.Errorf("%s id is required", strings.ToLower(kind))
		}
		k := fmt.Sprintf("%s/%d", kind, id)
		if seen[k] {
			return fault.Errorf("%s %d is listed twice", strings.ToLower(kind), id)
		}
		seen[k] = true
		return nil
	}
	for _, u := range r.Users {
		if err := check(TargetUser, u.ID); err != nil {
			return err
		}
	}
	for _, s := range r.Schedules {
		if err := check(TargetSchedule, s.ID); err != nil {
			return err
		}
	}
	for _, t := range r.Teams {
		if err := check(TargetTeam, t.ID); err != nil {
			return err
		}
	}
	return nil
}

// Target kinds as stored.
const (
	TargetUser     = "USER"
	TargetSchedule = "SCHEDULE"
	TargetTeam     = "TEAM"
)
