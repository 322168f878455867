package escalation_test

import (
	"encoding/json"
	"testing"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/fault"
)

func valid() escalation.Policy {
	return escalation.Policy{Name: "p", EscalationRules: []escalation.Rule{{EscalationTimeout: 5, Users: []auth.Ref{{ID: 1}}}}}
}

func TestNormalize(t *testing.T) {
	p := valid()
	p.Name = "  p  "
	p.EscalationRules[0].Team = &auth.TeamRef{ID: 3}
	p.Normalize()
	if p.Name != "p" || p.Frequency != 1 || p.Teams == nil {
		t.Fatalf("normalized policy %+v: want trimmed name, frequency 1, empty teams", p)
	}
	r := p.EscalationRules[0]
	if len(r.Teams) != 1 || r.Teams[0].ID != 3 || r.Team != nil || r.Schedules == nil {
		t.Fatalf("normalized rule %+v: want the singular team folded into teams", r)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]func(p *escalation.Policy){
		"ErrNameRequired":  func(p *escalation.Policy) { p.Name = "" },
		"ErrNoLevels":      func(p *escalation.Policy) { p.EscalationRules = nil },
		"ErrFrequency":     func(p *escalation.Policy) { p.Frequency = 10 },
		"ErrDelay":         func(p *escalation.Policy) { p.DelayMin = 61 },
		"ErrTeamID":        func(p *escalation.Policy) { p.Teams = []auth.TeamRef{{Name: "ops"}} },
		"ErrTeamTwice":     func(p *escalation.Policy) { p.Teams = []auth.TeamRef{{ID: 2}, {ID: 2}} },
		"ErrEmptyLevel":    func(p *escalation.Policy) { p.EscalationRules[0].Users = nil },
		"ErrUserTwice":     func(p *escalation.Policy) { p.EscalationRules[0].Users = []auth.Ref{{ID: 1}, {ID: 1}} },
		"ErrNegativeDelay": func(p *escalation.Policy) { p.EscalationRules[0].EscalationTimeout = -1 },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			p := valid()
			p.Normalize()
			breakIt(&p)
			if err := p.Validate(); !fault.Is(err, fault.Invalid) {
				t.Fatalf("Validate = %v, want an Invalid error", err)
			}
		})
	}
}

// A level read back carries user, schedule and team as the first of each list; a client that
// edits the lists and sends the level back gets the lists it sent, not the first entry it
// removed back again.
func TestLevelReadBackAndEdited(t *testing.T) {
	sent := escalation.Rule{EscalationTimeout: 5, Users: []auth.Ref{{ID: 1}, {ID: 2}}, Schedules: []escalation.ScheduleRef{{ID: 7}}}
	body, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	var read escalation.Rule
	if err := json.Unmarshal(body, &read); err != nil {
		t.Fatal(err)
	}
	if read.User == nil || read.User.ID != 1 || read.Schedule == nil || read.Schedule.ID != 7 || read.Team != nil {
		t.Fatalf("read back %s: want user 1 and schedule 7 as the singular fields", body)
	}
	read.Users = read.Users[1:] // remove user 1
	read.Schedules = nil        // and the schedule
	read.Teams = []auth.TeamRef{{ID: 3}}
	read.Normalize()
	if len(read.Users) != 1 || read.Users[0].ID != 2 || len(read.Schedules) != 1 || read.User != nil {
		t.Fatalf("edited level normalized to %+v: want users [2], and schedule 7 from the singular (its list is empty)", read)
	}
}
