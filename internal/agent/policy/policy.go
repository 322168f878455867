// Package policy is escalation-policy sync: an external system (workforce management, a shift
// planner) says who is on call for a level of a policy, and the agent makes the server's
// policy say so, through the public API as ilagent does.
package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

// Sync puts the user with u.Email alone on level u.Level of the escalation policy whose
// routing key is u.RoutingKey, keeping the level's escalation timeout (1 minute when the
// policy does not show the level). The level must exist: it is replaced, never added.
//
// An unknown user, an unknown policy or a missing level is an error that Retryable says will
// not go away (the server answers 404); an unreachable or failing server, one that will.
func Sync(ctx context.Context, c *client.Client, u mapping.PolicyUpdate) error {
	userID, err := c.UserIDByEmail(ctx, u.Email)
	if err != nil {
		return fmt.Errorf("policy: find the user %s: %w", u.Email, err)
	}
	p, err := c.PolicyByRoutingKey(ctx, u.RoutingKey)
	if err != nil {
		return fmt.Errorf("policy: find the escalation policy of routing key %q: %w", u.RoutingKey, err)
	}
	timeout := 1
	if u.Level < len(p.EscalationRules) {
		timeout = p.EscalationRules[u.Level].EscalationTimeout
	}
	if err := c.SetLevel(ctx, p.ID, u.Level, timeout, []int64{userID}); err != nil {
		return fmt.Errorf("policy: put user %d on level %d of escalation policy %d: %w", userID, u.Level, p.ID, err)
	}
	return nil
}

// Handler returns the handler of buffered policy messages (their raw payload): it reads the
// message with o and syncs it. A message the filter skips is done (nil). Use Retryable on
// its errors: a message that cannot be read is as permanent as an unknown user.
func Handler(c *client.Client, o mapping.PolicyOptions) func(context.Context, []byte) error {
	return func(ctx context.Context, payload []byte) error {
		u, err := o.Policy(payload)
		if errors.Is(err, mapping.ErrFiltered) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		return Sync(ctx, c, u)
	}
}

// Retryable reports whether a policy message that failed with err can succeed later:
// client.Retryable for the server's answers, false for a message that cannot be read.
func Retryable(err error) bool {
	if errors.Is(err, mapping.ErrUnmappable) || errors.Is(err, mapping.ErrFiltered) {
		return false
	}
	return client.Retryable(err)
}
