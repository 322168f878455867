package escalation_test

import (
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/escalation"
)

func TestEscalationSteps(t *testing.T) {
	levels := func(timeouts ...int) []escalation.Rule {
		var out []escalation.Rule
		for _, m := range timeouts {
			out = append(out, escalation.Rule{EscalationTimeout: m})
		}
		return out
	}
	type hop struct {
		next escalation.Step
		wait time.Duration
		ok   bool
	}
	tests := []struct {
		name   string
		policy escalation.Policy
		want   []hop // the hops from Start until the policy is exhausted
	}{
		{"OneLevel", escalation.Policy{EscalationRules: levels(5), Frequency: 1},
			[]hop{{escalation.Step{}, 5 * time.Minute, false}}},
		{"ThreeLevels", escalation.Policy{EscalationRules: levels(5, 10, 15), Frequency: 1},
			[]hop{{escalation.Step{Level: 1}, 5 * time.Minute, true}, {escalation.Step{Level: 2}, 10 * time.Minute, true}, {escalation.Step{}, 15 * time.Minute, false}}},
		{"RepeatsTwice", escalation.Policy{EscalationRules: levels(1, 2), Repeating: true, Frequency: 2},
			[]hop{
				{escalation.Step{Level: 1}, time.Minute, true},
				{escalation.Step{Level: 0, Round: 1}, 2 * time.Minute, true},
				{escalation.Step{Level: 1, Round: 1}, time.Minute, true},
				{escalation.Step{Level: 0, Round: 2}, 2 * time.Minute, true},
				{escalation.Step{Level: 1, Round: 2}, time.Minute, true},
				{escalation.Step{}, 2 * time.Minute, false},
			}},
		{"FrequencyIgnoredWithoutRepeating", escalation.Policy{EscalationRules: levels(3), Frequency: 5},
			[]hop{{escalation.Step{}, 3 * time.Minute, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, delay := escalation.Start(&tc.policy)
			if s != (escalation.Step{}) || delay != 0 {
				t.Fatalf("Start: %+v %v", s, delay)
			}
			for i, want := range tc.want {
				next, wait, ok := escalation.After(&tc.policy, s)
				if next != want.next || wait != want.wait || ok != want.ok {
					t.Fatalf("hop %d after %+v: got %+v %v %v, want %+v %v %v", i, s, next, wait, ok, want.next, want.wait, want.ok)
				}
				s = next
			}
		})
	}
	p := escalation.Policy{EscalationRules: levels(1), DelayMin: 7}
	if _, delay := escalation.Start(&p); delay != 7*time.Minute {
		t.Fatalf("delayMin: %v", delay)
	}
}
