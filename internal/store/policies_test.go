package store_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func mustAccount(t *testing.T, db *store.DB, first string) auth.Account {
	t.Helper()
	a := auth.Account{FirstName: first, LastName: "Tester", Email: first + "@example.com"}
	if err := db.CreateAccount(context.Background(), &a, ""); err != nil {
		t.Fatalf("create account %s: %v", first, err)
	}
	return a
}

func mustTeam(t *testing.T, db *store.DB, name string) auth.Team {
	t.Helper()
	team := auth.Team{Name: name}
	if err := db.CreateTeam(context.Background(), nil, &team); err != nil {
		t.Fatalf("create team %s: %v", name, err)
	}
	return team
}

// onePolicy returns a valid policy with one level that pages user.
func onePolicy(name string, user int64) escalation.Policy {
	return escalation.Policy{Name: name, EscalationRules: []escalation.Rule{
		{EscalationTimeout: 5, Users: []auth.Ref{{ID: user}}},
	}}
}

func mustPolicy(t *testing.T, db *store.DB, p escalation.Policy) escalation.Policy {
	t.Helper()
	if err := db.CreatePolicy(context.Background(), &p); err != nil {
		t.Fatalf("create policy %s: %v", p.Name, err)
	}
	return p
}

func countPolicies(t *testing.T, db *store.DB) int {
	t.Helper()
	list, err := db.Policies(context.Background(), store.Page{Max: 1000})
	if err != nil {
		t.Fatalf("list policies: %v", err)
	}
	return len(list)
}

func wantCode(t *testing.T, err error, code fault.Code) {
	t.Helper()
	if got := fault.CodeOf(err); err == nil || got != code {
		t.Fatalf("err = %v (%s), want code %s", err, got, code)
	}
}

func TestCreatePolicy(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann, bob := mustAccount(t, db, "Ann"), mustAccount(t, db, "Bob")
		ops := mustTeam(t, db, "ops")
		storetest.NewSchedules(t, db, ann.ID, "2020-01-06T09:00", 4) // level 1 names schedule 4
		p := escalation.Policy{
			Name:       " Primary ",
			RoutingKey: "rk",
			Repeating:  true,
			Teams:      []auth.TeamRef{{ID: ops.ID}},
			EscalationRules: []escalation.Rule{
				{EscalationTimeout: 15, Users: []auth.Ref{{ID: bob.ID}, {ID: ann.ID}}, Schedules: []escalation.ScheduleRef{{ID: 4, Name: "ignored"}}},
				{EscalationTimeout: 30, Teams: []auth.TeamRef{{ID: ops.ID}}, User: &auth.Ref{ID: ann.ID}},
			},
		}
		if err := db.CreatePolicy(ctx, &p); err != nil {
			t.Fatal(err)
		}
		if p.ID == 0 {
			t.Fatal("CreatePolicy did not set the id")
		}
		want := escalation.Policy{
			ID: p.ID, Name: "Primary", RoutingKey: "rk", Repeating: true, Frequency: 1,
			Teams: []auth.TeamRef{{ID: ops.ID, Name: "ops"}},
			EscalationRules: []escalation.Rule{
				{EscalationTimeout: 15,
					Users:     []auth.Ref{{ID: bob.ID, FirstName: "Bob", LastName: "Tester"}, {ID: ann.ID, FirstName: "Ann", LastName: "Tester"}},
					Schedules: []escalation.ScheduleRef{{ID: 4, Name: "schedule 4", Type: "RECURRING"}}, Teams: []auth.TeamRef{}},
				{EscalationTimeout: 30,
					Users:     []auth.Ref{{ID: ann.ID, FirstName: "Ann", LastName: "Tester"}},
					Schedules: []escalation.ScheduleRef{}, Teams: []auth.TeamRef{{ID: ops.ID, Name: "ops"}}},
			},
		}
		if !reflect.DeepEqual(p, want) {
			t.Fatalf("created\n got %+v\nwant %+v", p, want)
		}
		got, err := db.Policy(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("read back\n got %+v\nwant %+v", *got, want)
		}

		t.Run("Lookups", func(t *testing.T) {
			byName, err := db.PolicyByName(ctx, "Primary")
			if err != nil || byName.ID != p.ID {
				t.Fatalf("PolicyByName = %v, %v", byName, err)
			}
			byKey, err := db.PolicyByRoutingKey(ctx, "rk")
			if err != nil || !reflect.DeepEqual(*byKey, want) {
				t.Fatalf("PolicyByRoutingKey = %+v, %v", byKey, err)
			}
			id, err := db.PolicyIDByRoutingKey(ctx, "rk")
			if err != nil || id != p.ID {
				t.Fatalf("PolicyIDByRoutingKey = %d, %v", id, err)
			}
			_, err = db.PolicyIDByRoutingKey(ctx, "nope")
			wantCode(t, err, fault.NotFound)
			_, err = db.PolicyByName(ctx, "primary")
			wantCode(t, err, fault.NotFound)
			_, err = db.Policy(ctx, p.ID+100)
			wantCode(t, err, fault.NotFound)
		})
	})
}

func TestCreatePolicyRejected(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		mustPolicy(t, db, escalation.Policy{Name: "taken", RoutingKey: "rk", EscalationRules: onePolicy("", ann.ID).EscalationRules})
		cases := map[string]struct {
			p    escalation.Policy
			code fault.Code
		}{
			"ErrNameRequired":   {onePolicy(" ", ann.ID), fault.Invalid},
			"ErrNoLevels":       {escalation.Policy{Name: "x"}, fault.Invalid},
			"ErrFrequency":      {escalation.Policy{Name: "x", Frequency: 10, EscalationRules: onePolicy("", ann.ID).EscalationRules}, fault.Invalid},
			"ErrUnknownUser":    {onePolicy("x", ann.ID+99), fault.Invalid},
			"ErrUnknownTeam":    {escalation.Policy{Name: "x", EscalationRules: []escalation.Rule{{Teams: []auth.TeamRef{{ID: 77}}}}}, fault.Invalid},
			"ErrUnknownTeamRef": {escalation.Policy{Name: "x", Teams: []auth.TeamRef{{ID: 77}}, EscalationRules: onePolicy("", ann.ID).EscalationRules}, fault.Invalid},
			"ErrDuplicateTeam":  {escalation.Policy{Name: "x", Teams: []auth.TeamRef{{ID: 1}, {ID: 1}}, EscalationRules: onePolicy("", ann.ID).EscalationRules}, fault.Invalid},
			"ErrRoutingKeyTaken": {escalation.Policy{Name: "x", RoutingKey: " rk ", EscalationRules: onePolicy("", ann.ID).EscalationRules},
				fault.Conflict},
		}
		for name, c := range cases {
			t.Run(name, func(t *testing.T) {
				err := db.CreatePolicy(ctx, &c.p)
				wantCode(t, err, c.code)
				if c.p.ID != 0 {
					t.Errorf("a rejected policy got id %d", c.p.ID)
				}
				if n := countPolicies(t, db); n != 1 {
					t.Errorf("%d policies stored after a rejected create, want 1", n)
				}
			})
		}
	})
}

func TestUpdatePolicy(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann, bob := mustAccount(t, db, "Ann"), mustAccount(t, db, "Bob")
		ops := mustTeam(t, db, "ops")
		orig := mustPolicy(t, db, escalation.Policy{Name: "p", RoutingKey: "a", Teams: []auth.TeamRef{{ID: ops.ID}},
			EscalationRules: []escalation.Rule{
				{EscalationTimeout: 1, Users: []auth.Ref{{ID: ann.ID}}},
				{EscalationTimeout: 2, Users: []auth.Ref{{ID: bob.ID}}},
			}})
		other := mustPolicy(t, db, escalation.Policy{Name: "other", RoutingKey: "b", EscalationRules: onePolicy("", ann.ID).EscalationRules})

		t.Run("ErrAtomic", func(t *testing.T) {
			// The user check fails after the policy row is updated: nothing may remain of it.
			bad := escalation.Policy{ID: orig.ID, Name: "renamed", EscalationRules: []escalation.Rule{
				{EscalationTimeout: 9, Users: []auth.Ref{{ID: bob.ID + 50}}},
			}}
			wantCode(t, db.UpdatePolicy(ctx, &bad), fault.Invalid)
			got, err := db.Policy(ctx, orig.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, orig) {
				t.Fatalf("a rejected update changed the policy\n got %+v\nwant %+v", *got, orig)
			}
		})
		t.Run("ErrRoutingKeyTaken", func(t *testing.T) {
			bad := orig
			bad.RoutingKey = other.RoutingKey
			wantCode(t, db.UpdatePolicy(ctx, &bad), fault.Conflict)
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			missing := onePolicy("gone", ann.ID)
			missing.ID = other.ID + 100
			wantCode(t, db.UpdatePolicy(ctx, &missing), fault.NotFound)
		})
		t.Run("Replaces", func(t *testing.T) {
			upd := escalation.Policy{ID: orig.ID, Name: "p2", Frequency: 3, EscalationRules: []escalation.Rule{
				{EscalationTimeout: 7, Users: []auth.Ref{{ID: bob.ID}}},
			}}
			if err := db.UpdatePolicy(ctx, &upd); err != nil {
				t.Fatal(err)
			}
			got, err := db.Policy(ctx, orig.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, upd) {
				t.Fatalf("read after update\n got %+v\nwant %+v", *got, upd)
			}
			if got.RoutingKey != "" || len(got.Teams) != 0 || len(got.EscalationRules) != 1 || got.EscalationRules[0].Users[0].FirstName != "Bob" {
				t.Fatalf("update did not replace everything: %+v", got)
			}
			// The freed routing key can be taken by another policy.
			mustPolicy(t, db, escalation.Policy{Name: "third", RoutingKey: "a", EscalationRules: onePolicy("", ann.ID).EscalationRules})
		})
	})
}

func TestSetPolicyLevel(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann, bob, cem := mustAccount(t, db, "Ann"), mustAccount(t, db, "Bob"), mustAccount(t, db, "Cem")
		storetest.NewSchedules(t, db, ann.ID, "2020-01-06T09:00", 3) // level 2 names schedule 3
		p := mustPolicy(t, db, escalation.Policy{Name: "p", EscalationRules: []escalation.Rule{
			{EscalationTimeout: 1, Users: []auth.Ref{{ID: ann.ID}}},
			{EscalationTimeout: 2, Users: []auth.Ref{{ID: bob.ID}}, Schedules: []escalation.ScheduleRef{{ID: 3}}},
			{EscalationTimeout: 3, Users: []auth.Ref{{ID: ann.ID}}},
		}})
		unchanged := func(t *testing.T) {
			t.Helper()
			got, err := db.Policy(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, p) {
				t.Fatalf("policy changed\n got %+v\nwant %+v", *got, p)
			}
		}
		t.Run("ErrLevelMissing", func(t *testing.T) {
			wantCode(t, db.SetPolicyLevel(ctx, p.ID, 3, &escalation.Rule{Users: []auth.Ref{{ID: cem.ID}}}), fault.NotFound)
			unchanged(t)
		})
		t.Run("ErrPolicyMissing", func(t *testing.T) {
			wantCode(t, db.SetPolicyLevel(ctx, p.ID+1, 0, &escalation.Rule{Users: []auth.Ref{{ID: cem.ID}}}), fault.NotFound)
		})
		t.Run("ErrUnknownUser", func(t *testing.T) {
			wantCode(t, db.SetPolicyLevel(ctx, p.ID, 1, &escalation.Rule{EscalationTimeout: 9, Users: []auth.Ref{{ID: cem.ID + 9}}}), fault.Invalid)
			unchanged(t)
		})
		t.Run("ErrEmptyLevel", func(t *testing.T) {
			wantCode(t, db.SetPolicyLevel(ctx, p.ID, 1, &escalation.Rule{EscalationTimeout: 9}), fault.Invalid)
			unchanged(t)
		})
		t.Run("Replaces", func(t *testing.T) {
			r := escalation.Rule{EscalationTimeout: 20, Users: []auth.Ref{{ID: cem.ID}}}
			if err := db.SetPolicyLevel(ctx, p.ID, 1, &r); err != nil {
				t.Fatal(err)
			}
			want := escalation.Rule{EscalationTimeout: 20, Users: []auth.Ref{{ID: cem.ID, FirstName: "Cem", LastName: "Tester"}},
				Schedules: []escalation.ScheduleRef{}, Teams: []auth.TeamRef{}}
			if !reflect.DeepEqual(r, want) {
				t.Fatalf("returned rule %+v, want %+v", r, want)
			}
			p.EscalationRules[1] = want
			unchanged(t) // levels 0 and 2 as before, level 1 as set
		})
	})
}

func TestDeletePolicy(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		p := mustPolicy(t, db, onePolicy("p", ann.ID))
		src := mustSource(t, db, p.ID, "src")

		wantCode(t, db.DeletePolicy(ctx, p.ID), fault.Invalid)
		if _, err := db.Policy(ctx, p.ID); err != nil {
			t.Fatalf("a policy in use was deleted: %v", err)
		}
		// An open alert of another source that was assigned to p keeps p too.
		other := mustPolicy(t, db, onePolicy("other", ann.ID))
		otherSrc := mustSource(t, db, other.ID, "other")
		a, err := db.CreateManualAlert(ctx, store.ManualAlert{Summary: "s", SourceID: otherSrc.ID, PolicyID: p.ID}, ann)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.DeleteSource(ctx, src.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, db.DeletePolicy(ctx, p.ID), fault.Invalid)
		if _, err := db.SetAlertStatus(ctx, a.ID, alert.Resolved, ann); err != nil {
			t.Fatal(err)
		}
		if err := db.DeletePolicy(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.Policy(ctx, p.ID)
		wantCode(t, err, fault.NotFound)
		wantCode(t, db.DeletePolicy(ctx, p.ID), fault.NotFound)
	})
}

func TestPoliciesPage(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		var made []escalation.Policy
		for i := range 4 {
			p := onePolicy(fmt.Sprintf("p%d", i), ann.ID)
			p.EscalationRules[0].EscalationTimeout = i
			made = append(made, mustPolicy(t, db, p))
		}
		got, err := db.Policies(ctx, store.Page{Start: 1, Max: 2})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, made[1:3]) {
			t.Fatalf("page 1..2\n got %+v\nwant %+v", got, made[1:3])
		}
		got, err = db.Policies(ctx, store.Page{Start: 10, Max: 2})
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("page past the end = %#v, %v; want an empty list", got, err)
		}
	})
}

// A user deleted while a policy naming them is saved: either the policy is refused or the
// deletion is, never both succeed (which would leave a level paging nobody).
func TestPolicyAndUserDeletionRace(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i := range 20 {
			u := auth.Account{FirstName: "R", LastName: "Ace", Email: fmt.Sprintf("race%d@example.com", i), Role: auth.User}
			if err := db.CreateAccount(ctx, &u, ""); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var policyErr, deleteErr error
			p := &escalation.Policy{Name: fmt.Sprintf("race %d", i), EscalationRules: []escalation.Rule{{EscalationTimeout: 1, Users: []auth.Ref{{ID: u.ID}}}}}
			wg.Add(2)
			go func() { defer wg.Done(); policyErr = db.CreatePolicy(ctx, p) }()
			go func() { defer wg.Done(); deleteErr = db.DeleteAccount(ctx, u.ID) }()
			wg.Wait()
			if policyErr == nil && deleteErr == nil {
				t.Fatalf("round %d: the policy was saved naming user %d and the user was deleted", i, u.ID)
			}
			if policyErr != nil && deleteErr != nil {
				t.Fatalf("round %d: both failed: %v; %v", i, policyErr, deleteErr)
			}
		}
	})
}

func TestPolicyNamesMissingSchedule(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ann := mustAccount(t, db, "Ann")
		p := escalation.Policy{Name: "p", EscalationRules: []escalation.Rule{{EscalationTimeout: 5,
			Users: []auth.Ref{{ID: ann.ID}}, Schedules: []escalation.ScheduleRef{{ID: 999}}}}}
		if err := db.CreatePolicy(context.Background(), &p); !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "schedule 999") {
			t.Fatalf("a policy naming a missing schedule: %v", err)
		}
	})
}
