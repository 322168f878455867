package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
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
	if err := db.CreateSource(ctx, f.Source); err != nil {
		tb.Fatal(err)
	}
	return f
}
