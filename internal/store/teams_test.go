package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func member(id int64, role auth.Role) auth.TeamMember {
	return auth.TeamMember{User: auth.Account{ID: id}, Role: role}
}

// memberRoles returns "email:ROLE" for each member, in order.
func memberRoles(ms []auth.TeamMember) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, strings.Join([]string{m.User.Email, string(m.Role)}, ":"))
	}
	return out
}

func sameStrings(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestCreateTeam(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2025, 2, 2, 2, 2, 2, 0, time.UTC)
		db.Now = func() time.Time { return now }
		ann := newAccount(t, db, "ann@x.io", auth.User)
		bob := newAccount(t, db, "bob@x.io", auth.Responder)

		team := auth.Team{Name: " Ops ", Visibility: "private", Members: []auth.TeamMember{member(bob.ID, "responder"), member(ann.ID, "")}}
		if err := db.CreateTeam(ctx, nil, &team); err != nil {
			t.Fatal(err)
		}
		if team.ID <= 0 || team.Name != "Ops" || team.Visibility != "PRIVATE" || !team.CreatedAt.Equal(now) {
			t.Fatalf("created team = %+v", team)
		}
		// Members come back with full profiles, ordered by user id.
		if want := []string{"ann@x.io:USER", "bob@x.io:RESPONDER"}; !sameStrings(memberRoles(team.Members), want) {
			t.Fatalf("members = %v, want %v", memberRoles(team.Members), want)
		}
		if team.Members[1].User.FirstName != "First" {
			t.Fatalf("member profile not filled: %+v", team.Members[1].User)
		}

		t.Run("Get", func(t *testing.T) {
			got, err := db.Team(ctx, nil, team.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "Ops" || !sameStrings(memberRoles(got.Members), memberRoles(team.Members)) {
				t.Fatalf("Team = %+v", got)
			}
			byName, err := db.TeamByName(ctx, nil, "Ops")
			if err != nil || byName.ID != team.ID || len(byName.Members) != 2 {
				t.Fatalf("TeamByName = %+v, %v", byName, err)
			}
			_, err = db.TeamByName(ctx, nil, "ops")
			requireCode(t, err, fault.NotFound)
			_, err = db.Team(ctx, nil, 999)
			requireCode(t, err, fault.NotFound)
		})

		t.Run("NoMembersIsEmptyList", func(t *testing.T) {
			empty := auth.Team{Name: "empty"}
			if err := db.CreateTeam(ctx, nil, &empty); err != nil {
				t.Fatal(err)
			}
			if empty.Members == nil || len(empty.Members) != 0 || empty.Visibility != "PUBLIC" {
				t.Fatalf("team = %#v", empty)
			}
			if err := db.DeleteTeam(ctx, nil, empty.ID); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("Rejected", func(t *testing.T) {
			for name, c := range map[string]struct {
				team auth.Team
				code fault.Code
			}{
				"ErrNameTaken":       {auth.Team{Name: "Ops"}, fault.Conflict},
				"ErrNoName":          {auth.Team{Name: "  "}, fault.Invalid},
				"ErrVisibility":      {auth.Team{Name: "x", Visibility: "SECRET"}, fault.Invalid},
				"ErrUnknownUser":     {auth.Team{Name: "x", Members: []auth.TeamMember{member(ann.ID, ""), member(999, "")}}, fault.Invalid},
				"ErrTeamRole":        {auth.Team{Name: "x", Members: []auth.TeamMember{member(ann.ID, "GUEST")}}, fault.Invalid},
				"ErrMemberTwice":     {auth.Team{Name: "x", Members: []auth.TeamMember{member(ann.ID, ""), member(ann.ID, "ADMIN")}}, fault.Invalid},
				"ErrMemberWithoutID": {auth.Team{Name: "x", Members: []auth.TeamMember{member(0, "")}}, fault.Invalid},
			} {
				t.Run(name, func(t *testing.T) {
					requireCode(t, db.CreateTeam(ctx, nil, &c.team), c.code)
				})
			}
			teams, err := db.ListTeams(ctx, nil, store.Page{Max: 50}, nil)
			if err != nil || len(teams) != 1 {
				t.Fatalf("teams after refused creates = %+v, %v; want only Ops", teams, err)
			}
		})
	})
}

func TestListTeams(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := newAccount(t, db, "ann@x.io", auth.User)
		bob := newAccount(t, db, "bob@x.io", auth.User)
		cy := newAccount(t, db, "cy@x.io", auth.User)
		var ids []int64
		for _, tm := range []auth.Team{
			{Name: "a", Members: []auth.TeamMember{member(ann.ID, "")}},
			{Name: "b", Members: []auth.TeamMember{member(bob.ID, ""), member(ann.ID, "ADMIN")}},
			{Name: "c", Members: []auth.TeamMember{member(cy.ID, "")}},
			{Name: "d"},
		} {
			if err := db.CreateTeam(ctx, nil, &tm); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, tm.ID)
		}
		names := func(ts []auth.Team) string {
			var out []string
			for _, t := range ts {
				out = append(out, t.Name)
			}
			return strings.Join(out, ",")
		}
		for _, c := range []struct {
			name    string
			page    store.Page
			members []int64
			want    string
		}{
			{"All", store.Page{Max: 50}, nil, "a,b,c,d"},
			{"Paged", store.Page{Start: 1, Max: 2}, nil, "b,c"},
			{"OneMember", store.Page{Max: 50}, []int64{ann.ID}, "a,b"},
			{"AnyOfMembers", store.Page{Max: 50}, []int64{bob.ID, cy.ID}, "b,c"},
			{"UnknownMember", store.Page{Max: 50}, []int64{999}, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := db.ListTeams(ctx, nil, c.page, c.members)
				if err != nil {
					t.Fatal(err)
				}
				if got == nil || names(got) != c.want {
					t.Fatalf("teams = %q, want %q", names(got), c.want)
				}
			})
		}
		got, err := db.ListTeams(ctx, nil, store.Page{Max: 50}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"ann@x.io:ADMIN", "bob@x.io:USER"}; !sameStrings(memberRoles(got[1].Members), want) {
			t.Fatalf("members of b = %v, want %v", memberRoles(got[1].Members), want)
		}
		if got[3].Members == nil {
			t.Fatal("a team without members lists null members")
		}
	})
}

func TestUpdateTeam(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := newAccount(t, db, "ann@x.io", auth.User)
		bob := newAccount(t, db, "bob@x.io", auth.User)
		team := auth.Team{Name: "ops", Members: []auth.TeamMember{member(ann.ID, "ADMIN")}}
		if err := db.CreateTeam(ctx, nil, &team); err != nil {
			t.Fatal(err)
		}
		other := auth.Team{Name: "dev"}
		if err := db.CreateTeam(ctx, nil, &other); err != nil {
			t.Fatal(err)
		}

		t.Run("ReplacesMembers", func(t *testing.T) {
			u := auth.Team{ID: team.ID, Name: "ops2", Visibility: "PRIVATE", Members: []auth.TeamMember{member(bob.ID, "STAKEHOLDER")}}
			if err := db.UpdateTeam(ctx, nil, &u); err != nil {
				t.Fatal(err)
			}
			got, err := db.Team(ctx, nil, team.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "ops2" || got.Visibility != "PRIVATE" || !sameStrings(memberRoles(got.Members), []string{"bob@x.io:STAKEHOLDER"}) {
				t.Fatalf("after update = %+v", got)
			}
		})

		t.Run("ErrUnknownUserChangesNothing", func(t *testing.T) {
			u := auth.Team{ID: team.ID, Name: "renamed", Members: []auth.TeamMember{member(ann.ID, ""), member(999, "")}}
			requireCode(t, db.UpdateTeam(ctx, nil, &u), fault.Invalid)
			got, err := db.Team(ctx, nil, team.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "ops2" || !sameStrings(memberRoles(got.Members), []string{"bob@x.io:STAKEHOLDER"}) {
				t.Fatalf("a refused update changed the team: %+v", got)
			}
		})

		t.Run("ErrNameTaken", func(t *testing.T) {
			u := auth.Team{ID: team.ID, Name: "dev"}
			requireCode(t, db.UpdateTeam(ctx, nil, &u), fault.Conflict)
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			u := auth.Team{ID: 999, Name: "x"}
			requireCode(t, db.UpdateTeam(ctx, nil, &u), fault.NotFound)
		})
	})
}

func TestTeamMembers(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := newAccount(t, db, "ann@x.io", auth.User)
		bob := newAccount(t, db, "bob@x.io", auth.User)
		team := auth.Team{Name: "ops", Members: []auth.TeamMember{member(ann.ID, "ADMIN")}}
		if err := db.CreateTeam(ctx, nil, &team); err != nil {
			t.Fatal(err)
		}

		m, err := db.AddTeamMember(ctx, nil, team.ID, member(bob.ID, "responder"))
		if err != nil {
			t.Fatal(err)
		}
		if m.Role != auth.Responder || m.User.Email != "bob@x.io" {
			t.Fatalf("added member = %+v", m)
		}
		// Adding a member again changes their role.
		if _, err := db.AddTeamMember(ctx, nil, team.ID, member(bob.ID, "STAKEHOLDER")); err != nil {
			t.Fatal(err)
		}
		got, _ := db.Team(ctx, nil, team.ID)
		if want := []string{"ann@x.io:ADMIN", "bob@x.io:STAKEHOLDER"}; !sameStrings(memberRoles(got.Members), want) {
			t.Fatalf("members = %v, want %v", memberRoles(got.Members), want)
		}

		_, err = db.AddTeamMember(ctx, nil, 999, member(bob.ID, ""))
		requireCode(t, err, fault.NotFound)
		_, err = db.AddTeamMember(ctx, nil, team.ID, member(999, ""))
		requireCode(t, err, fault.Invalid)
		_, err = db.AddTeamMember(ctx, nil, team.ID, member(bob.ID, "GUEST"))
		requireCode(t, err, fault.Invalid)

		if err := db.RemoveTeamMember(ctx, nil, team.ID, ann.ID); err != nil {
			t.Fatal(err)
		}
		got, _ = db.Team(ctx, nil, team.ID)
		if want := []string{"bob@x.io:STAKEHOLDER"}; !sameStrings(memberRoles(got.Members), want) {
			t.Fatalf("members = %v, want %v", memberRoles(got.Members), want)
		}
		requireCode(t, db.RemoveTeamMember(ctx, nil, team.ID, ann.ID), fault.NotFound)
		requireCode(t, db.RemoveTeamMember(ctx, nil, 999, bob.ID), fault.NotFound)
	})
}

func TestDeleteTeam(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := newAccount(t, db, "ann@x.io", auth.User)
		team := auth.Team{Name: "ops", Members: []auth.TeamMember{member(ann.ID, "")}}
		if err := db.CreateTeam(ctx, nil, &team); err != nil {
			t.Fatal(err)
		}

		p := newPolicyNaming(t, db, "Ops escalation", nil, []int64{team.ID})
		err := db.DeleteTeam(ctx, nil, team.ID)
		requireCode(t, err, fault.Invalid)
		if !strings.Contains(fault.MessageOf(err), "Ops escalation") {
			t.Errorf("message %q does not name the policy", fault.MessageOf(err))
		}
		if _, err := db.Team(ctx, nil, team.ID); err != nil {
			t.Fatalf("team deleted despite the policy: %v", err)
		}

		if err := db.DeletePolicy(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteTeam(ctx, nil, team.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.Team(ctx, nil, team.ID)
		requireCode(t, err, fault.NotFound)
		requireCode(t, db.DeleteTeam(ctx, nil, team.ID), fault.NotFound)
		if _, err := db.Account(ctx, ann.ID); err != nil {
			t.Fatalf("deleting a team deleted its member: %v", err)
		}
	})
}
