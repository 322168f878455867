package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Fixture is a user, an escalation policy paging that user, and an alert source using it.
type Fixture struct {
	User   auth.Account
	Policy *escalation.Policy
	Source *alert.Source
}

// NewFixture creates a Fixture in db.
func NewFixture(tb testing.TB, db *store.DB) Fixture {
	tb.Helper()
	ctx := context.Background()
	f := Fixture{User: auth.Account{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Role: auth.Admin}}
	if err := db.CreateAccount(ctx, &f.User, ""); err != nil {
		tb.Fatal(err)
	}
	f.Policy = &escalation.Policy{Name: "ops", EscalationRules: []escalation.Rule{{EscalationTimeout: 5, Users: []auth.Ref{{ID: f.User.ID}}}}}
	if err := db.CreatePolicy(ctx, f.Policy); err != nil {
		tb.Fatal(err)
	}
	f.Source = &alert.Source{Name: "nightly", IntegrationType: "API", EscalationPolicy: json.RawMessage(fmt.Sprintf(`{"id":%d}`, f.Policy.ID))}
	if err := db.CreateSource(ctx, f.Source, nil); err != nil {
		tb.Fatal(err)
	}
	return f
}

// NewSchedules creates n recurring schedules (UTC, weekly rotation) of the one user, starting
// at startsOn ("2020-01-06T09:00"; a future date makes a schedule with nobody on call yet),
// and returns their ids.
func NewSchedules(tb testing.TB, db *store.DB, userID int64, startsOn string, n int) []int64 {
	tb.Helper()
	var ids []int64
	for i := range n {
		s := &schedule.Schedule{Name: fmt.Sprintf("schedule %d", i+1), Timezone: "UTC", Type: schedule.Recurring,
			ScheduleLayers: []schedule.Layer{{Name: "layer", StartsOn: schedule.MustWall(startsOn),
				Users: []auth.Ref{{ID: userID}}, Rotation: "P7D"}}}
		if err := db.CreateSchedule(context.Background(), s, false); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	return ids
}
