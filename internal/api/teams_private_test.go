package api_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// teamCast is the people of the team visibility and team role tests, with their API keys.
type teamCast struct {
	ts *testServer
	// owner is a USER account with team role ADMIN in the teams it sets up; member a USER
	// account with team role USER; watcher a STAKEHOLDER account with team role STAKEHOLDER.
	owner, member, watcher auth.Account
	// outsider (USER) and onlooker (STAKEHOLDER) are in no team.
	outsider, onlooker auth.Account
	keys               map[int64]string
}

func newTeamCast(t *testing.T, ts *testServer) *teamCast {
	c := &teamCast{ts: ts, keys: map[int64]string{}}
	for _, p := range []struct {
		a    *auth.Account
		role auth.Role
	}{{&c.owner, auth.User}, {&c.member, auth.User}, {&c.watcher, auth.Stakeholder}, {&c.outsider, auth.User}, {&c.onlooker, auth.Stakeholder}} {
		a, key := ts.user(t, p.role)
		*p.a = a
		c.keys[a.ID] = key
	}
	return c
}

func (c *teamCast) key(a auth.Account) string { return c.keys[a.ID] }

// team stores a team with owner as team ADMIN, member as USER and watcher as STAKEHOLDER,
// straight in the database.
func (c *teamCast) team(t *testing.T, name, visibility string) auth.Team {
	t.Helper()
	tm := auth.Team{Name: name, Visibility: visibility, Members: []auth.TeamMember{
		{User: auth.Account{ID: c.owner.ID}, Role: auth.Admin},
		{User: auth.Account{ID: c.member.ID}, Role: auth.User},
		{User: auth.Account{ID: c.watcher.ID}, Role: auth.Stakeholder},
	}}
	if err := c.ts.DB.CreateTeam(context.Background(), nil, &tm); err != nil {
		t.Fatalf("create team %s: %v", name, err)
	}
	return tm
}

// stored reads a team straight from the database.
func (c *teamCast) stored(t *testing.T, id int64) auth.Team {
	t.Helper()
	tm, err := c.ts.DB.Team(context.Background(), nil, id)
	if err != nil {
		t.Fatalf("team %d: %v", id, err)
	}
	return tm
}

// teamShape is a team's name, visibility and "userID:ROLE" members, to compare before and after.
func teamShape(tm auth.Team) string {
	var ms []string
	for _, m := range tm.Members {
		ms = append(ms, fmt.Sprintf("%d:%s", m.User.ID, m.Role))
	}
	return fmt.Sprintf("%s/%s/[%s]", tm.Name, tm.Visibility, strings.Join(ms, " "))
}

// listed returns the ids of the teams an answer lists.
func listed(t *testing.T, body []byte) []int64 {
	t.Helper()
	var ids []int64
	for _, tm := range decodeAs[[]auth.Team](t, body) {
		ids = append(ids, tm.ID)
	}
	return ids
}

func memberBodyOf(id int64, role auth.Role) string {
	return fmt.Sprintf(`{"user":{"id":%d},"role":%q}`, id, role)
}

// TestPrivateTeamReads checks that a PRIVATE team is seen by its members and account ADMINs
// only, and does not exist for anyone else; PUBLIC teams are seen by every reader.
func TestPrivateTeamReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		c := newTeamCast(t, ts)
		private := c.team(t, "Secret Ops", "PRIVATE") // created first: the lowest id
		public := c.team(t, "Open Ops", "PUBLIC")
		byID := fmt.Sprintf("/api/teams/%d", private.ID)
		byName := "/api/teams/name/" + url.PathEscape(private.Name)
		withOwner := fmt.Sprintf("/api/teams?members=%d", c.owner.ID)

		t.Run("HiddenFromNonMembers", func(t *testing.T) {
			for _, a := range []auth.Account{c.outsider, c.onlooker} {
				key := c.key(a)
				e := ts.wantError(t, 404, "NOT_FOUND", "GET", byID, key, nil)
				// The same answer as for a team that does not exist.
				if want := fmt.Sprintf("team %d does not exist", private.ID); e.Message != want {
					t.Errorf("%s: message %q, want %q", a.Role, e.Message, want)
				}
				e = ts.wantError(t, 404, "NOT_FOUND", "GET", byName, key, nil)
				if want := fmt.Sprintf("no team is named %q", private.Name); e.Message != want {
					t.Errorf("%s: message %q, want %q", a.Role, e.Message, want)
				}
				if got := listed(t, ts.must(t, 200, "GET", "/api/teams", key, nil)); !slices.Equal(got, []int64{public.ID}) {
					t.Errorf("%s lists teams %v, want only the public %d", a.Role, got, public.ID)
				}
				if got := listed(t, ts.must(t, 200, "GET", withOwner, key, nil)); !slices.Equal(got, []int64{public.ID}) {
					t.Errorf("%s lists teams with the owner %v, want only the public %d", a.Role, got, public.ID)
				}
				// Hidden teams are left out before paging: the first page of one is the public team.
				if got := listed(t, ts.must(t, 200, "GET", "/api/teams?max-results=1", key, nil)); !slices.Equal(got, []int64{public.ID}) {
					t.Errorf("%s: first page of one = %v, want [%d]", a.Role, got, public.ID)
				}
				// The public team is as before.
				ts.must(t, 200, "GET", fmt.Sprintf("/api/teams/%d", public.ID), key, nil)
				ts.must(t, 200, "GET", "/api/teams/name/"+url.PathEscape(public.Name), key, nil)
			}
		})

		t.Run("SeenByMembersAndAdmins", func(t *testing.T) {
			for _, key := range []string{c.key(c.owner), c.key(c.member), c.key(c.watcher), ts.AdminKey} {
				got := decodeAs[auth.Team](t, ts.must(t, 200, "GET", byID, key, nil))
				if teamShape(got) != teamShape(private) {
					t.Errorf("GET = %s, want %s", teamShape(got), teamShape(private))
				}
				if got := decodeAs[auth.Team](t, ts.must(t, 200, "GET", byName, key, nil)); got.ID != private.ID {
					t.Errorf("by name = %+v", got)
				}
				want := []int64{private.ID, public.ID}
				if got := listed(t, ts.must(t, 200, "GET", "/api/teams", key, nil)); !slices.Equal(got, want) {
					t.Errorf("list = %v, want %v", got, want)
				}
				if got := listed(t, ts.must(t, 200, "GET", withOwner, key, nil)); !slices.Equal(got, want) {
					t.Errorf("list with the owner = %v, want %v", got, want)
				}
			}
		})

		t.Run("FollowsMembership", func(t *testing.T) {
			// Made a member, the outsider sees the team; made PUBLIC, everyone does.
			ts.must(t, 201, "POST", byID+"/members", c.key(c.owner), memberBodyOf(c.outsider.ID, auth.Responder))
			ts.must(t, 200, "GET", byID, c.key(c.outsider), nil)
			ts.must(t, 204, "DELETE", fmt.Sprintf("%s/members/%d", byID, c.outsider.ID), c.key(c.owner), nil)
			ts.wantError(t, 404, "NOT_FOUND", "GET", byID, c.key(c.outsider), nil)

			body := fmt.Sprintf(`{"name":%q,"visibility":"PUBLIC","members":[%s]}`, private.Name, memberBodyOf(c.owner.ID, auth.Admin))
			ts.must(t, 200, "PUT", byID, c.key(c.owner), body)
			ts.must(t, 200, "GET", byID, c.key(c.onlooker), nil)
			if got := listed(t, ts.must(t, 200, "GET", "/api/teams", c.key(c.onlooker), nil)); len(got) != 2 {
				t.Errorf("list after making the team public = %v", got)
			}
		})
	})
}

// TestTeamChangesNeedTeamAdmin checks that only account ADMINs and the team's ADMIN members
// change a team: others get 403 on a team they see and 404 on a PRIVATE one they do not, and
// their requests change nothing.
func TestTeamChangesNeedTeamAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		c := newTeamCast(t, ts)

		// refused sends every kind of change to team tm as a, expecting status and code, and
		// checks the team is as before.
		refused := func(t *testing.T, tm auth.Team, a auth.Account, status int, code string) {
			t.Helper()
			path := fmt.Sprintf("/api/teams/%d", tm.ID)
			key := c.key(a)
			before := teamShape(c.stored(t, tm.ID))
			takeover := fmt.Sprintf(`{"name":"taken over","visibility":"PUBLIC","members":[%s]}`, memberBodyOf(a.ID, auth.Admin))
			ts.wantError(t, status, code, "PUT", path, key, takeover)
			ts.wantError(t, status, code, "PUT", path, key, `{"name":"emptied","visibility":"PUBLIC","members":[]}`)
			ts.wantError(t, status, code, "POST", path+"/members", key, memberBodyOf(a.ID, auth.Admin))
			ts.wantError(t, status, code, "POST", path+"/members", key, memberBodyOf(c.owner.ID, auth.Stakeholder))
			ts.wantError(t, status, code, "DELETE", fmt.Sprintf("%s/members/%d", path, c.member.ID), key, nil)
			ts.wantError(t, status, code, "DELETE", fmt.Sprintf("%s/members/%d", path, c.owner.ID), key, nil)
			ts.wantError(t, status, code, "DELETE", path, key, nil)
			if after := teamShape(c.stored(t, tm.ID)); after != before {
				t.Fatalf("refused changes changed the team: %s, was %s", after, before)
			}
		}

		private := c.team(t, "Secret Ops", "PRIVATE")
		public := c.team(t, "Open Ops", "PUBLIC")

		t.Run("OutsiderPrivate404", func(t *testing.T) { refused(t, private, c.outsider, 404, "NOT_FOUND") })
		t.Run("OutsiderPublic403", func(t *testing.T) { refused(t, public, c.outsider, 403, "FORBIDDEN") })
		// A member who is not a team ADMIN sees the team, so is told 403.
		t.Run("MemberPrivate403", func(t *testing.T) { refused(t, private, c.member, 403, "FORBIDDEN") })
		t.Run("MemberPublic403", func(t *testing.T) { refused(t, public, c.member, 403, "FORBIDDEN") })

		t.Run("TeamAdminWhoseRoleMayNotConfigure", func(t *testing.T) {
			// The account role still bounds what a team ADMIN may do.
			a, key := ts.user(t, auth.Responder)
			c.keys[a.ID] = key
			ts.must(t, 201, "POST", fmt.Sprintf("/api/teams/%d/members", public.ID), ts.AdminKey, memberBodyOf(a.ID, auth.Admin))
			refused(t, public, a, 403, "FORBIDDEN")
		})

		t.Run("TeamAdmin", func(t *testing.T) {
			for _, vis := range []string{"PRIVATE", "PUBLIC"} {
				tm := c.team(t, "owned "+vis, vis)
				path := fmt.Sprintf("/api/teams/%d", tm.ID)
				key := c.key(c.owner)
				body := fmt.Sprintf(`{"name":"renamed %s","visibility":%q,"members":[%s,%s]}`, vis, vis,
					memberBodyOf(c.owner.ID, auth.Admin), memberBodyOf(c.member.ID, auth.Responder))
				got := decodeAs[auth.Team](t, ts.must(t, 200, "PUT", path, key, body))
				want := fmt.Sprintf("renamed %s/%s/[%d:ADMIN %d:RESPONDER]", vis, vis, c.owner.ID, c.member.ID)
				if teamShape(got) != want {
					t.Fatalf("after PUT = %s, want %s", teamShape(got), want)
				}
				ts.must(t, 201, "POST", path+"/members", key, memberBodyOf(c.outsider.ID, auth.User))
				ts.must(t, 204, "DELETE", fmt.Sprintf("%s/members/%d", path, c.outsider.ID), key, nil)
				ts.must(t, 204, "DELETE", path, key, nil)
				ts.wantError(t, 404, "NOT_FOUND", "GET", path, ts.AdminKey, nil)
			}
		})

		t.Run("AccountAdminNotAMember", func(t *testing.T) {
			tm := c.team(t, "admin's playground", "PRIVATE")
			path := fmt.Sprintf("/api/teams/%d", tm.ID)
			ts.must(t, 201, "POST", path+"/members", ts.AdminKey, memberBodyOf(c.outsider.ID, auth.Admin))
			ts.must(t, 201, "POST", path+"/members", ts.AdminKey, memberBodyOf(c.owner.ID, auth.User)) // takes ADMIN from one
			ts.must(t, 204, "DELETE", fmt.Sprintf("%s/members/%d", path, c.outsider.ID), ts.AdminKey, nil)
			// An account ADMIN may leave a team without a team ADMIN, or without members.
			got := decodeAs[auth.Team](t, ts.must(t, 200, "PUT", path, ts.AdminKey, `{"name":"nobody's","visibility":"PRIVATE","members":[]}`))
			if teamShape(got) != "nobody's/PRIVATE/[]" {
				t.Fatalf("after PUT = %s", teamShape(got))
			}
			ts.must(t, 200, "GET", path, ts.AdminKey, nil)
			ts.wantError(t, 404, "NOT_FOUND", "GET", path, c.key(c.owner), nil)
			ts.must(t, 204, "DELETE", path, ts.AdminKey, nil)
		})

		t.Run("UnknownTeam", func(t *testing.T) {
			key := c.key(c.owner)
			ts.wantError(t, 404, "NOT_FOUND", "PUT", "/api/teams/999", key, `{"name":"x"}`)
			ts.wantError(t, 404, "NOT_FOUND", "DELETE", "/api/teams/999", key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "POST", "/api/teams/999/members", key, memberBodyOf(c.owner.ID, auth.Admin))
			ts.wantError(t, 404, "NOT_FOUND", "DELETE", fmt.Sprintf("/api/teams/999/members/%d", c.owner.ID), key, nil)
		})
	})
}

// TestTeamCreatorManagesTeam checks that a USER who creates a team can manage it afterwards.
func TestTeamCreatorManagesTeam(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		c := newTeamCast(t, ts)
		key := c.key(c.owner)

		t.Run("WithoutMembersBecomesTeamAdmin", func(t *testing.T) {
			for _, body := range []string{`{"name":"mine","visibility":"PRIVATE"}`, `{"name":"mine too","members":[]}`} {
				got := decodeAs[auth.Team](t, ts.must(t, 201, "POST", "/api/teams", key, body))
				if len(got.Members) != 1 || got.Members[0].User.ID != c.owner.ID || got.Members[0].Role != auth.Admin {
					t.Fatalf("created %s with members %s, want the creator as ADMIN", body, teamShape(got))
				}
				path := fmt.Sprintf("/api/teams/%d", got.ID)
				ts.must(t, 200, "GET", path, key, nil)
				ts.must(t, 201, "POST", path+"/members", key, memberBodyOf(c.member.ID, auth.User))
				ts.must(t, 200, "PUT", path, key, fmt.Sprintf(`{"name":%q,"visibility":%q,"members":[%s]}`,
					got.Name+"!", got.Visibility, memberBodyOf(c.owner.ID, auth.Admin)))
			}
			// Others neither see the private one nor change the public one.
			ts.wantError(t, 404, "NOT_FOUND", "GET", "/api/teams/name/mine%21", c.key(c.outsider), nil)
			pub := decodeAs[auth.Team](t, ts.must(t, 200, "GET", "/api/teams/name/mine%20too%21", c.key(c.outsider), nil))
			ts.wantError(t, 403, "FORBIDDEN", "DELETE", fmt.Sprintf("/api/teams/%d", pub.ID), c.key(c.outsider), nil)
		})

		t.Run("MembersWithoutTeamAdminRefused", func(t *testing.T) {
			e := ts.wantError(t, 400, "INVALID_INPUT", "POST", "/api/teams", key,
				fmt.Sprintf(`{"name":"headless","members":[%s,{"user":{"id":%d}}]}`, memberBodyOf(c.member.ID, auth.Responder), c.owner.ID))
			if !strings.Contains(e.Message, "ADMIN") {
				t.Errorf("message %q does not say a team ADMIN is needed", e.Message)
			}
			if _, err := ts.DB.TeamByName(context.Background(), nil, "headless"); err == nil {
				t.Fatal("a refused create stored the team")
			}
		})

		t.Run("HandedToAnotherTeamAdmin", func(t *testing.T) {
			// The creator may name someone else as the team's ADMIN; then only they manage it.
			got := decodeAs[auth.Team](t, ts.must(t, 201, "POST", "/api/teams", key,
				fmt.Sprintf(`{"name":"handed over","members":[%s]}`, memberBodyOf(c.member.ID, auth.Admin))))
			if teamShape(got) != fmt.Sprintf("handed over/PUBLIC/[%d:ADMIN]", c.member.ID) {
				t.Fatalf("created = %s", teamShape(got))
			}
			path := fmt.Sprintf("/api/teams/%d", got.ID)
			ts.wantError(t, 403, "FORBIDDEN", "DELETE", path, key, nil)
			ts.must(t, 204, "DELETE", path, c.key(c.member), nil)
		})

		t.Run("AccountAdminGetsMembersAsSent", func(t *testing.T) {
			got := decodeAs[auth.Team](t, ts.must(t, 201, "POST", "/api/teams", ts.AdminKey, `{"name":"provisioned"}`))
			if len(got.Members) != 0 {
				t.Fatalf("an account ADMIN's team without members has members %s", teamShape(got))
			}
			got = decodeAs[auth.Team](t, ts.must(t, 201, "POST", "/api/teams", ts.AdminKey,
				fmt.Sprintf(`{"name":"provisioned 2","members":[%s]}`, memberBodyOf(c.member.ID, auth.User))))
			if teamShape(got) != fmt.Sprintf("provisioned 2/PUBLIC/[%d:USER]", c.member.ID) {
				t.Fatalf("created = %s", teamShape(got))
			}
		})
	})
}

// TestLastTeamAdmin checks that a team ADMIN who is not an account ADMIN cannot leave the
// team without a team ADMIN, by any route, even when two try at once.
func TestLastTeamAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		c := newTeamCast(t, ts)
		key := c.key(c.owner)
		tm := c.team(t, "Secret Ops", "PRIVATE")
		path := fmt.Sprintf("/api/teams/%d", tm.ID)

		t.Run("Refused", func(t *testing.T) {
			before := teamShape(c.stored(t, tm.ID))
			e := ts.wantError(t, 400, "INVALID_INPUT", "DELETE", fmt.Sprintf("%s/members/%d", path, c.owner.ID), key, nil)
			if !strings.Contains(e.Message, "last ADMIN") {
				t.Errorf("message %q does not say why", e.Message)
			}
			ts.wantError(t, 400, "INVALID_INPUT", "POST", path+"/members", key, memberBodyOf(c.owner.ID, auth.User))
			e = ts.wantError(t, 400, "INVALID_INPUT", "PUT", path, key, fmt.Sprintf(`{"name":"Secret Ops","visibility":"PRIVATE","members":[%s,%s]}`,
				memberBodyOf(c.owner.ID, auth.User), memberBodyOf(c.member.ID, auth.User)))
			if !strings.Contains(e.Message, "ADMIN") {
				t.Errorf("message %q does not say why", e.Message)
			}
			ts.wantError(t, 400, "INVALID_INPUT", "PUT", path, key, `{"name":"Secret Ops","visibility":"PRIVATE","members":[]}`)
			if after := teamShape(c.stored(t, tm.ID)); after != before {
				t.Fatalf("refused changes changed the team: %s, was %s", after, before)
			}
		})

		t.Run("AllowedWithAnotherTeamAdmin", func(t *testing.T) {
			ts.must(t, 201, "POST", path+"/members", key, memberBodyOf(c.member.ID, auth.Admin))
			ts.must(t, 201, "POST", path+"/members", key, memberBodyOf(c.owner.ID, auth.User)) // steps down
			ts.wantError(t, 403, "FORBIDDEN", "POST", path+"/members", key, memberBodyOf(c.owner.ID, auth.Admin))
			ts.must(t, 204, "DELETE", fmt.Sprintf("%s/members/%d", path, c.owner.ID), c.key(c.member), nil)
			// No longer a member, the former owner no longer sees the private team.
			ts.wantError(t, 404, "NOT_FOUND", "GET", path, key, nil)
			// The remaining team ADMIN is now the last one.
			ts.wantError(t, 400, "INVALID_INPUT", "DELETE", fmt.Sprintf("%s/members/%d", path, c.member.ID), c.key(c.member), nil)
		})

		t.Run("AccountAdminMayOrphan", func(t *testing.T) {
			ts.must(t, 204, "DELETE", fmt.Sprintf("%s/members/%d", path, c.member.ID), ts.AdminKey, nil)
			if got := c.stored(t, tm.ID); len(got.Members) != 1 || got.Members[0].User.ID != c.watcher.ID {
				t.Fatalf("members = %s", teamShape(got))
			}
		})

		t.Run("AtOnce", func(t *testing.T) {
			// Two team ADMINs step out together: one must stay.
			for i := range 10 {
				a, b := c.owner, c.member
				tm := auth.Team{Name: fmt.Sprintf("pair %d", i), Members: []auth.TeamMember{
					{User: auth.Account{ID: a.ID}, Role: auth.Admin}, {User: auth.Account{ID: b.ID}, Role: auth.Admin}}}
				if err := ts.DB.CreateTeam(context.Background(), nil, &tm); err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				statuses := make([]int, 2)
				for j, x := range []auth.Account{a, b} {
					wg.Go(func() {
						statuses[j], _ = ts.do(t, "DELETE", fmt.Sprintf("/api/teams/%d/members/%d", tm.ID, x.ID), c.key(x), nil)
					})
				}
				wg.Wait()
				slices.Sort(statuses)
				if got := c.stored(t, tm.ID); !slices.Equal(statuses, []int{204, 400}) || len(got.Members) != 1 {
					t.Fatalf("statuses %v, members left %s; want one 204 and one 400, one ADMIN left", statuses, teamShape(got))
				}
			}
		})
	})
}

// A level may name a PRIVATE team only if the caller sees it, or the policy names it already:
// otherwise the team's members would show in the level's dry run and pages.
func TestPrivateTeamOnLevels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		c := newTeamCast(t, ts)
		hidden := c.team(t, "red team", "PRIVATE")
		level := func(timeout int) string {
			return fmt.Sprintf(`{"name":"p","escalationRules":[{"escalationTimeout":%d,"teams":[{"id":%d}]}]}`, timeout, hidden.ID)
		}
		e := ts.wantError(t, 400, "INVALID_INPUT", "POST", "/api/escalation-policies", c.key(c.outsider), level(5))
		if !strings.Contains(e.Message, "does not exist") {
			t.Errorf("outsider naming the private team: %q", e.Message)
		}
		ts.wantError(t, 400, "INVALID_INPUT", "POST", "/api/escalation-policies", c.key(c.outsider),
			fmt.Sprintf(`{"name":"p","escalationRules":[{"escalationTimeout":5,"team":{"id":%d}}]}`, hidden.ID)) // the singular form too
		p := decodeAs[struct{ ID int64 }](t, ts.must(t, 201, "POST", "/api/escalation-policies", c.key(c.member), level(5)))
		// Named already: the outsider may still change the policy around it.
		path := fmt.Sprintf("/api/escalation-policies/%d", p.ID)
		ts.must(t, 200, "PUT", path, c.key(c.outsider), level(10))
		ts.must(t, 200, "PUT", path+"/levels/0", c.key(c.outsider), fmt.Sprintf(`{"escalationTimeout":15,"teams":[{"id":%d}]}`, hidden.ID))
		other := c.team(t, "blue team", "PRIVATE")
		ts.wantError(t, 400, "INVALID_INPUT", "PUT", path+"/levels/0", c.key(c.outsider), fmt.Sprintf(`{"escalationTimeout":15,"teams":[{"id":%d}]}`, other.ID))
	})
}
