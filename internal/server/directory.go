package server

import (
	"context"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/contact"
	"github.com/tocsinhq/tocsin/internal/engine"
	"github.com/tocsinhq/tocsin/internal/rules"
	"github.com/tocsinhq/tocsin/internal/store"
)

// directory answers the engine's questions from the database.
type directory struct {
	db  *store.DB
	now func() time.Time
}

func (d directory) OnCall(ctx context.Context, scheduleIDs []int64, at time.Time) (map[int64]int64, error) {
	return d.db.OnCallUsers(ctx, scheduleIDs, at)
}

func (d directory) TeamMembers(ctx context.Context, teamIDs []int64) ([]int64, error) {
	return d.db.TeamMemberIDs(ctx, teamIDs)
}

// Deliveries follows each user's notification rules for the alert's priority. A user who
// muted notifications until later is not paged.
func (d directory) Deliveries(ctx context.Context, userIDs []int64, p alert.Priority) (map[int64][]engine.Delivery, error) {
	plans, err := d.db.NotificationPlan(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	now := d.now()
	out := make(map[int64][]engine.Delivery, len(plans))
	for id, plan := range plans {
		if plan.MutedUntil != nil && plan.MutedUntil.After(now) {
			continue
		}
		for _, del := range plan.ForAlert(p) {
			out[id] = append(out[id], engine.Delivery{RuleID: del.RuleID, Method: del.Method, Target: del.Target,
				Secret: del.Secret, Delay: del.Delay})
		}
	}
	return out, nil
}

// UpdateDeliveries follows each user's update rules; there is no default.
func (d directory) UpdateDeliveries(ctx context.Context, userIDs []int64, update string) (map[int64][]engine.Delivery, error) {
	plans, err := d.db.NotificationPlan(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]engine.Delivery, len(plans))
	for id, plan := range plans {
		for _, del := range plan.ForUpdate(contact.RuleType(update)) {
			out[id] = append(out[id], engine.Delivery{RuleID: del.RuleID, Method: del.Method, Target: del.Target, Secret: del.Secret})
		}
	}
	return out, nil
}

// NextRaise compiles the source's rules as stored and asks them for the next auto-raise.
func (d directory) NextRaise(ctx context.Context, sourceID int64, after time.Time) (time.Time, bool, error) {
	src, err := d.db.SourceByID(ctx, sourceID)
	if err != nil {
		return time.Time{}, false, err
	}
	set, err := rules.Compile(ctx, src, d.db, nil)
	if err != nil {
		return time.Time{}, false, err
	}
	at, ok := set.NextRaise(after)
	return at, ok, nil
}
