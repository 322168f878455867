package escalation

import "time"

// Step is where an alert stands in its policy: the 0-based level being notified, and the
// round (0 for the first pass; repeating policies run frequency more rounds).
type Step struct {
	Level int
	Round int
}

// Start is the first step of an alert under p and how long to wait before it: delayMin.
func Start(p *Policy) (Step, time.Duration) {
	return Step{}, time.Duration(p.DelayMin) * time.Minute
}

// After says what follows step s once its level has been notified: the next step and how long
// to wait for it (the level's escalationTimeout). ok is false when the policy is exhausted:
// after the last level of the last round, waiting the timeout ends the escalation instead.
// A policy that repeats starts again from level 0, frequency more times.
func After(p *Policy, s Step) (next Step, wait time.Duration, ok bool) {
	if s.Level < 0 || s.Level >= len(p.EscalationRules) {
		return Step{}, 0, false
	}
	wait = time.Duration(p.EscalationRules[s.Level].EscalationTimeout) * time.Minute
	switch {
	case s.Level+1 < len(p.EscalationRules):
		return Step{Level: s.Level + 1, Round: s.Round}, wait, true
	case p.Repeating && s.Round < p.Frequency:
		return Step{Level: 0, Round: s.Round + 1}, wait, true
	}
	return Step{}, wait, false
}
