package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// envelope is ilert's error body.
type envelope struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

// wantError checks the status and the error envelope of an answer.
func (ts *testServer) wantError(t *testing.T, status int, code, method, path, key string, body any) envelope {
	t.Helper()
	resp := ts.must(t, status, method, path, key, body)
	e := decodeAs[envelope](t, resp)
	if e.Status != status || e.Code != code || e.Message == "" {
		t.Fatalf("%s %s: error body = %s, want status %d and code %s with a message", method, path, resp, status, code)
	}
	return e
}

func (ts *testServer) countUsers(t *testing.T) int {
	t.Helper()
	return len(decodeAs[[]map[string]any](t, ts.must(t, 200, "GET", "/api/users", ts.AdminKey, nil)))
}

// policyNaming stores an escalation policy whose one level names the given user or team.
func (ts *testServer) policyNaming(t *testing.T, name string, userID, teamID int64) {
	t.Helper()
	r := escalation.Rule{EscalationTimeout: 5}
	if userID != 0 {
		r.Users = []auth.Ref{{ID: userID}}
	}
	if teamID != 0 {
		r.Teams = []auth.TeamRef{{ID: teamID}}
	}
	p := escalation.Policy{Name: name, EscalationRules: []escalation.Rule{r}}
	if err := ts.DB.CreatePolicy(context.Background(), &p); err != nil {
		t.Fatalf("create policy: %v", err)
	}
}

func TestUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		key := ts.AdminKey

		resp := ts.must(t, 201, "POST", "/api/users?send-no-invitation=true", key, `{"firstName":"Ada","lastName":"Lovelace",
			"email":"Ada@Example.com","username":"ada","role":"responder","language":"en","password":"correct horse battery"}`)
		created := decodeAs[map[string]any](t, resp)
		id, ok := created["id"].(float64)
		if !ok || id <= 0 {
			t.Fatalf("id = %#v, want a positive JSON number; body %s", created["id"], resp)
		}
		for field, want := range map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": "Ada@Example.com",
			"username": "ada", "role": "RESPONDER", "language": "en"} {
			if created[field] != want {
				t.Errorf("%s = %#v, want %#v", field, created[field], want)
			}
		}
		if _, ok := created["createdAt"].(string); !ok {
			t.Errorf("createdAt = %#v, want a timestamp string", created["createdAt"])
		}
		if strings.Contains(strings.ToLower(string(resp)), "password") {
			t.Errorf("the response mentions the password: %s", resp)
		}
		userPath := fmt.Sprintf("/api/users/%d", int64(id))

		t.Run("PasswordSignsIn", func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/api/users/current", nil)
			req.SetBasicAuth("ada@example.com", "correct horse battery")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("Basic auth with the new password: status %d", res.StatusCode)
			}
		})

		t.Run("List", func(t *testing.T) {
			body := ts.must(t, 200, "GET", "/api/users", key, nil)
			if !strings.HasPrefix(string(body), "[") {
				t.Fatalf("list is not a bare array: %s", body)
			}
			list := decodeAs[[]auth.Account](t, body)
			if len(list) != 2 || list[0].ID != ts.Admin.ID || list[1].Email != "Ada@Example.com" {
				t.Fatalf("users = %+v", list)
			}
			list = decodeAs[[]auth.Account](t, ts.must(t, 200, "GET", "/api/users?start-index=1&max-results=1", key, nil))
			if len(list) != 1 || list[0].Username != "ada" {
				t.Fatalf("second page = %+v", list)
			}
			if body := ts.must(t, 200, "GET", "/api/users?start-index=5", key, nil); strings.TrimSpace(string(body)) != "[]" {
				t.Fatalf("empty page = %s, want []", body)
			}
			ts.wantError(t, 400, "INVALID_INPUT", "GET", "/api/users?max-results=101", key, nil)
		})

		t.Run("GetByIDOrUsername", func(t *testing.T) {
			for _, path := range []string{userPath, "/api/users/ada"} {
				got := decodeAs[auth.Account](t, ts.must(t, 200, "GET", path, key, nil))
				if got.ID != int64(id) || got.Role != auth.Responder {
					t.Fatalf("GET %s = %+v", path, got)
				}
			}
			ts.wantError(t, 404, "NOT_FOUND", "GET", "/api/users/999", key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "GET", "/api/users/nobody", key, nil)
		})

		t.Run("SearchEmail", func(t *testing.T) {
			got := decodeAs[auth.Account](t, ts.must(t, 200, "POST", "/api/users/search-email", key, `{"email":"ADA@example.COM"}`))
			if got.ID != int64(id) {
				t.Fatalf("search-email found %+v", got)
			}
			ts.wantError(t, 404, "NOT_FOUND", "POST", "/api/users/search-email", key, `{"email":"nobody@example.com"}`)
			ts.wantError(t, 400, "INVALID_INPUT", "POST", "/api/users/search-email", key, `{}`)
		})

		t.Run("Rejected", func(t *testing.T) {
			before := ts.countUsers(t)
			ts.wantError(t, 400, "CONFLICT", "POST", "/api/users", key, `{"firstName":"A","lastName":"B","email":"ada@EXAMPLE.com"}`)
			for name, body := range map[string]string{
				"NoFirstName":   `{"lastName":"B","email":"new@example.com"}`,
				"BadEmail":      `{"firstName":"A","lastName":"B","email":"not-an-email"}`,
				"BadRole":       `{"firstName":"A","lastName":"B","email":"new@example.com","role":"OWNER"}`,
				"ShortPassword": `{"firstName":"A","lastName":"B","email":"new@example.com","password":"short"}`,
				"Malformed":     `{"firstName":"A",`,
				"WrongType":     `{"firstName":1,"lastName":"B","email":"new@example.com"}`,
			} {
				t.Run(name, func(t *testing.T) {
					ts.wantError(t, 400, "INVALID_INPUT", "POST", "/api/users", key, body)
				})
			}
			if after := ts.countUsers(t); after != before {
				t.Fatalf("%d users after refused creates, want %d", after, before)
			}
		})

		t.Run("Update", func(t *testing.T) {
			// ilert-go leaves out empty fields: no role keeps the role.
			got := decodeAs[auth.Account](t, ts.must(t, 200, "PUT", "/api/users/ada", key,
				`{"firstName":"Augusta","lastName":"King","email":"ada@example.com","username":"ada","position":"Analyst"}`))
			if got.FirstName != "Augusta" || got.Position != "Analyst" || got.Role != auth.Responder || got.ID != int64(id) {
				t.Fatalf("after PUT = %+v", got)
			}
			got = decodeAs[auth.Account](t, ts.must(t, 200, "PUT", userPath, key,
				`{"firstName":"Augusta","lastName":"King","email":"ada@example.com","username":"ada","role":"USER"}`))
			if got.Role != auth.User {
				t.Fatalf("role after PUT = %s, want USER", got.Role)
			}
			ts.wantError(t, 400, "INVALID_INPUT", "PUT", userPath, key, `{"firstName":"","lastName":"King","email":"ada@example.com"}`)
			ts.wantError(t, 400, "CONFLICT", "PUT", userPath, key, fmt.Sprintf(`{"firstName":"A","lastName":"B","email":%q}`, ts.Admin.Email))
			ts.wantError(t, 404, "NOT_FOUND", "PUT", "/api/users/999", key, `{"firstName":"A","lastName":"B","email":"z@example.com"}`)
			if got := decodeAs[auth.Account](t, ts.must(t, 200, "GET", userPath, key, nil)); got.FirstName != "Augusta" {
				t.Fatalf("a refused PUT changed the user: %+v", got)
			}
		})

		t.Run("LastAdminKeepsRole", func(t *testing.T) {
			adminPath := fmt.Sprintf("/api/users/%d", ts.Admin.ID)
			e := ts.wantError(t, 400, "INVALID_INPUT", "PUT", adminPath, key,
				fmt.Sprintf(`{"firstName":"A","lastName":"B","email":%q,"role":"USER"}`, ts.Admin.Email))
			if !strings.Contains(e.Message, "last ADMIN") {
				t.Errorf("message %q does not say why", e.Message)
			}
		})

		t.Run("Delete", func(t *testing.T) {
			e := ts.wantError(t, 400, "INVALID_INPUT", "DELETE", fmt.Sprintf("/api/users/%d", ts.Admin.ID), key, nil)
			if !strings.Contains(e.Message, "own") {
				t.Errorf("self-delete message %q does not say why", e.Message)
			}

			onCall, onCallKey := ts.user(t, auth.Responder)
			ts.policyNaming(t, "Night shift", onCall.ID, 0)
			e = ts.wantError(t, 400, "INVALID_INPUT", "DELETE", fmt.Sprintf("/api/users/%d", onCall.ID), key, nil)
			if !strings.Contains(e.Message, "Night shift") {
				t.Errorf("message %q does not name the policy", e.Message)
			}
			ts.must(t, 200, "GET", "/api/users/current", onCallKey, nil)

			// Deleting by username; the user's keys stop working with them.
			_, adaKey, err := ts.DB.CreateAPIKey(context.Background(), int64(id), "ada's key")
			if err != nil {
				t.Fatal(err)
			}
			ts.must(t, 200, "GET", "/api/users/current", adaKey, nil)
			ts.must(t, 204, "DELETE", "/api/users/ada", key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "GET", userPath, key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "DELETE", userPath, key, nil)
			ts.wantError(t, 401, "UNAUTHORIZED", "GET", "/api/users/current", adaKey, nil)
		})
	})
}

func TestCurrentUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		guest, key := ts.user(t, auth.Guest)

		got := decodeAs[auth.Account](t, ts.must(t, 200, "GET", "/api/users/current", key, nil))
		if got.ID != guest.ID || got.Role != auth.Guest {
			t.Fatalf("current = %+v, want the guest", got)
		}

		body := fmt.Sprintf(`{"firstName":"Gus","lastName":"Guest","email":%q,"timezone":"Europe/Berlin"}`, guest.Email)
		got = decodeAs[auth.Account](t, ts.must(t, 200, "PUT", "/api/users/current", key, body))
		if got.FirstName != "Gus" || got.Timezone != "Europe/Berlin" || got.Role != auth.Guest {
			t.Fatalf("after PUT current = %+v", got)
		}
		// Sending one's own role unchanged is fine; a different one is not.
		body = fmt.Sprintf(`{"firstName":"Gus","lastName":"Guest","email":%q,"role":"guest"}`, guest.Email)
		ts.must(t, 200, "PUT", "/api/users/current", key, body)
		body = fmt.Sprintf(`{"firstName":"Hacker","lastName":"Guest","email":%q,"role":"ADMIN"}`, guest.Email)
		ts.wantError(t, 403, "FORBIDDEN", "PUT", "/api/users/current", key, body)
		body = fmt.Sprintf(`{"firstName":"Gus","lastName":"Guest","email":%q,"password":"a new long password"}`, guest.Email)
		ts.wantError(t, 400, "INVALID_INPUT", "PUT", "/api/users/current", key, body)

		got = decodeAs[auth.Account](t, ts.must(t, 200, "GET", "/api/users/current", key, nil))
		if got.Role != auth.Guest || got.FirstName != "Gus" {
			t.Fatalf("refused PUTs changed the user: %+v", got)
		}
	})
}

func TestTeams(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ann, key := ts.user(t, auth.User) // USER may configure teams
		bob, _ := ts.user(t, auth.Responder)

		if body := ts.must(t, 200, "GET", "/api/teams", key, nil); strings.TrimSpace(string(body)) != "[]" {
			t.Fatalf("no teams = %s, want []", body)
		}

		// The body ilert-go sends: zero id, nested users carrying only an id.
		resp := ts.must(t, 201, "POST", "/api/teams", key, fmt.Sprintf(`{"id":0,"name":"Night Shift","visibility":"PRIVATE",
			"members":[{"user":{"id":%d,"firstName":"","email":""},"role":"RESPONDER"},{"user":{"id":%d},"role":"ADMIN"}]}`, bob.ID, ann.ID))
		team := decodeAs[map[string]any](t, resp)
		teamID, ok := team["id"].(float64)
		if !ok || teamID <= 0 || team["name"] != "Night Shift" || team["visibility"] != "PRIVATE" {
			t.Fatalf("created team = %s", resp)
		}
		members := team["members"].([]any)
		first := members[0].(map[string]any)
		if len(members) != 2 || first["role"] != "ADMIN" || first["user"].(map[string]any)["email"] != ann.Email ||
			first["user"].(map[string]any)["id"] != float64(ann.ID) {
			t.Fatalf("members are not full users in id order: %s", resp)
		}
		teamPath := fmt.Sprintf("/api/teams/%d", int64(teamID))

		t.Run("Get", func(t *testing.T) {
			got := decodeAs[auth.Team](t, ts.must(t, 200, "GET", teamPath, key, nil))
			if got.Name != "Night Shift" || len(got.Members) != 2 || got.Members[1].User.Email != bob.Email {
				t.Fatalf("GET team = %+v", got)
			}
			got = decodeAs[auth.Team](t, ts.must(t, 200, "GET", "/api/teams/name/Night%20Shift", key, nil))
			if got.ID != int64(teamID) {
				t.Fatalf("by name = %+v", got)
			}
			ts.wantError(t, 404, "NOT_FOUND", "GET", "/api/teams/name/Day%20Shift", key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "GET", "/api/teams/999", key, nil)
			ts.wantError(t, 400, "INVALID_INPUT", "GET", "/api/teams/abc", key, nil)
		})

		t.Run("List", func(t *testing.T) {
			ts.must(t, 201, "POST", "/api/teams", key, `{"name":"Empty","members":null}`)
			list := decodeAs[[]auth.Team](t, ts.must(t, 200, "GET", "/api/teams", key, nil))
			if len(list) != 2 || list[1].Name != "Empty" || list[1].Members == nil {
				t.Fatalf("teams = %+v", list)
			}
			list = decodeAs[[]auth.Team](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/teams?members=%d&members=999", bob.ID), key, nil))
			if len(list) != 1 || list[0].ID != int64(teamID) {
				t.Fatalf("teams with bob = %+v", list)
			}
			ts.wantError(t, 400, "INVALID_INPUT", "GET", "/api/teams?members=bob", key, nil)
			many := make([]string, 101)
			for i := range many {
				many[i] = fmt.Sprint(i + 1)
			}
			ts.wantError(t, 400, "INVALID_INPUT", "GET", "/api/teams?members="+strings.Join(many, ","), key, nil)
		})

		t.Run("Rejected", func(t *testing.T) {
			for name, c := range map[string]struct {
				status int
				code   string
				body   string
			}{
				"UnknownUser": {400, "INVALID_INPUT", fmt.Sprintf(`{"name":"X","members":[{"user":{"id":%d}},{"user":{"id":999}}]}`, ann.ID)},
				"NoName":      {400, "INVALID_INPUT", `{"name":""}`},
				"BadRole":     {400, "INVALID_INPUT", fmt.Sprintf(`{"name":"X","members":[{"user":{"id":%d},"role":"GUEST"}]}`, ann.ID)},
				"NameTaken":   {400, "CONFLICT", `{"name":"Night Shift"}`},
			} {
				t.Run(name, func(t *testing.T) {
					ts.wantError(t, c.status, c.code, "POST", "/api/teams", key, c.body)
				})
			}
			if _, err := ts.DB.TeamByName(context.Background(), nil, "X"); err == nil {
				t.Fatal("a refused create stored team X")
			}
		})

		t.Run("Update", func(t *testing.T) {
			ts.wantError(t, 400, "INVALID_INPUT", "PUT", teamPath, key, `{"name":"Renamed","members":[{"user":{"id":999}}]}`)
			got := decodeAs[auth.Team](t, ts.must(t, 200, "GET", teamPath, key, nil))
			if got.Name != "Night Shift" || len(got.Members) != 2 {
				t.Fatalf("a refused PUT changed the team: %+v", got)
			}
			// ann, the team's ADMIN, keeps that role: a USER may not leave a team without one.
			got = decodeAs[auth.Team](t, ts.must(t, 200, "PUT", teamPath, key,
				fmt.Sprintf(`{"name":"Night Shift","visibility":"PUBLIC","members":[{"user":{"id":%d},"role":"ADMIN"},{"user":{"id":%d},"role":"STAKEHOLDER"}]}`, ann.ID, bob.ID)))
			if got.Visibility != "PUBLIC" || len(got.Members) != 2 || got.Members[1].User.ID != bob.ID || got.Members[1].Role != auth.Stakeholder {
				t.Fatalf("after PUT = %+v", got)
			}
			ts.wantError(t, 404, "NOT_FOUND", "PUT", "/api/teams/999", key, `{"name":"Y"}`)
		})

		t.Run("Members", func(t *testing.T) {
			resp := ts.must(t, 201, "POST", teamPath+"/members", key, fmt.Sprintf(`{"user":{"id":%d,"firstName":""},"role":"ADMIN"}`, ann.ID))
			m := decodeAs[auth.TeamMember](t, resp)
			if m.User.ID != ann.ID || m.User.Email != ann.Email || m.Role != auth.Admin {
				t.Fatalf("added member = %s", resp)
			}
			ts.wantError(t, 400, "INVALID_INPUT", "POST", teamPath+"/members", key, `{"user":{"id":999}}`)
			ts.wantError(t, 404, "NOT_FOUND", "POST", "/api/teams/999/members", key, fmt.Sprintf(`{"user":{"id":%d}}`, ann.ID))

			ts.must(t, 204, "DELETE", fmt.Sprintf("%s/members/%d", teamPath, bob.ID), key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "DELETE", fmt.Sprintf("%s/members/%d", teamPath, bob.ID), key, nil)
			got := decodeAs[auth.Team](t, ts.must(t, 200, "GET", teamPath, key, nil))
			if len(got.Members) != 1 || got.Members[0].User.ID != ann.ID {
				t.Fatalf("members = %+v", got.Members)
			}
		})

		t.Run("Delete", func(t *testing.T) {
			ts.policyNaming(t, "Escalate to night shift", 0, int64(teamID))
			e := ts.wantError(t, 400, "INVALID_INPUT", "DELETE", teamPath, key, nil)
			if !strings.Contains(e.Message, "Escalate to night shift") {
				t.Errorf("message %q does not name the policy", e.Message)
			}
			ts.must(t, 200, "GET", teamPath, key, nil)

			empty := decodeAs[auth.Team](t, ts.must(t, 200, "GET", "/api/teams/name/Empty", key, nil))
			ts.must(t, 204, "DELETE", fmt.Sprintf("/api/teams/%d", empty.ID), key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "GET", fmt.Sprintf("/api/teams/%d", empty.ID), key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "DELETE", fmt.Sprintf("/api/teams/%d", empty.ID), key, nil)
		})
	})
}

func TestAPIKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		user, key := ts.user(t, auth.Responder)
		other, otherKey := ts.user(t, auth.User)

		resp := ts.must(t, 201, "POST", "/api/api-keys", key, `{"name":"laptop"}`)
		created := decodeAs[map[string]any](t, resp)
		secret, _ := created["apiKey"].(string)
		if created["userId"] != float64(user.ID) || created["name"] != "laptop" || secret == "" ||
			!strings.HasPrefix(secret, created["prefix"].(string)) {
			t.Fatalf("created key = %s", resp)
		}
		if _, ok := created["id"].(float64); !ok {
			t.Fatalf("id is not a number: %s", resp)
		}
		if _, ok := created["createdAt"].(string); !ok {
			t.Fatalf("createdAt missing: %s", resp)
		}
		keyID := int64(created["id"].(float64))
		if got := decodeAs[auth.Account](t, ts.must(t, 200, "GET", "/api/users/current", secret, nil)); got.ID != user.ID {
			t.Fatalf("the new key signs in as %+v", got)
		}

		t.Run("List", func(t *testing.T) {
			body := ts.must(t, 200, "GET", "/api/api-keys", key, nil)
			if strings.Contains(string(body), secret) || strings.Contains(string(body), "apiKey") {
				t.Fatalf("the list shows a secret: %s", body)
			}
			keys := decodeAs[[]auth.APIKey](t, body)
			if len(keys) != 2 || keys[1].ID != keyID || keys[0].UserID != user.ID {
				t.Fatalf("own keys = %+v", keys)
			}
			ts.wantError(t, 403, "FORBIDDEN", "GET", fmt.Sprintf("/api/api-keys?user=%d", other.ID), key, nil)
			keys = decodeAs[[]auth.APIKey](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/api-keys?user=%d", user.ID), ts.AdminKey, nil))
			if len(keys) != 2 {
				t.Fatalf("admin's view of the user's keys = %+v", keys)
			}
		})

		t.Run("ForAnotherUser", func(t *testing.T) {
			ts.wantError(t, 403, "FORBIDDEN", "POST", "/api/api-keys", key, fmt.Sprintf(`{"name":"x","userId":%d}`, other.ID))
			resp := ts.must(t, 201, "POST", "/api/api-keys", ts.AdminKey, fmt.Sprintf(`{"name":"ops","userId":%d}`, other.ID))
			if k := decodeAs[auth.APIKey](t, resp); k.UserID != other.ID {
				t.Fatalf("admin created key = %s", resp)
			}
			ts.wantError(t, 400, "INVALID_INPUT", "POST", "/api/api-keys", ts.AdminKey, `{"name":"x","userId":999}`)
			if keys := decodeAs[[]auth.APIKey](t, ts.must(t, 200, "GET", "/api/api-keys", otherKey, nil)); len(keys) != 2 {
				t.Fatalf("other's keys = %+v, want the test key and the admin's", keys)
			}
		})

		t.Run("Revoke", func(t *testing.T) {
			path := fmt.Sprintf("/api/api-keys/%d", keyID)
			ts.wantError(t, 403, "FORBIDDEN", "DELETE", path, otherKey, nil)
			ts.must(t, 200, "GET", "/api/users/current", secret, nil)
			ts.must(t, 204, "DELETE", path, key, nil)
			ts.wantError(t, 401, "UNAUTHORIZED", "GET", "/api/users/current", secret, nil)
			ts.wantError(t, 404, "NOT_FOUND", "DELETE", path, key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "DELETE", "/api/api-keys/999", key, nil)
			if keys := decodeAs[[]auth.APIKey](t, ts.must(t, 200, "GET", "/api/api-keys", key, nil)); len(keys) != 1 {
				t.Fatalf("keys after revoking = %+v", keys)
			}
			// An ADMIN revokes anyone's key.
			otherKeys := decodeAs[[]auth.APIKey](t, ts.must(t, 200, "GET", "/api/api-keys", otherKey, nil))
			ts.must(t, 204, "DELETE", fmt.Sprintf("/api/api-keys/%d", otherKeys[0].ID), ts.AdminKey, nil)
			ts.wantError(t, 401, "UNAUTHORIZED", "GET", "/api/users/current", otherKey, nil)
			ts.must(t, 204, "DELETE", fmt.Sprintf("/api/api-keys/%d", otherKeys[1].ID), ts.AdminKey, nil)
			body := ts.must(t, 200, "GET", fmt.Sprintf("/api/api-keys?user=%d", other.ID), ts.AdminKey, nil)
			if strings.TrimSpace(string(body)) != "[]" {
				t.Fatalf("no keys = %s, want []", body)
			}
		})
	})
}

// TestRoleMatrix checks, for each account role, which identity requests are allowed and
// which are refused with 403 without changing anything.
func TestRoleMatrix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		team := decodeAs[auth.Team](t, ts.must(t, 201, "POST", "/api/teams", ts.AdminKey, `{"name":"matrix"}`))

		type request struct {
			name, method, path string
			body               string
			ok                 int // the status when allowed
			allowed            []auth.Role
		}
		all := []auth.Role{auth.Admin, auth.User, auth.Responder, auth.Stakeholder, auth.Guest}
		for _, role := range all {
			t.Run(string(role), func(t *testing.T) {
				caller, key := ts.user(t, role)
				victim, _ := ts.user(t, auth.Guest)
				n := caller.ID
				requests := []request{
					{"ListUsers", "GET", "/api/users", "", 200, all[:4]},
					{"CreateUser", "POST", "/api/users", fmt.Sprintf(`{"firstName":"N","lastName":"U","email":"new%d@example.com"}`, n), 201, all[:1]},
					{"DeleteUser", "DELETE", fmt.Sprintf("/api/users/%d", victim.ID), "", 204, all[:1]},
					{"CreateTeam", "POST", "/api/teams", fmt.Sprintf(`{"name":"team %d"}`, n), 201, all[:2]},
					// Only account ADMINs and the team's ADMIN members change a team (teams_private_test.go).
					{"UpdateTeam", "PUT", fmt.Sprintf("/api/teams/%d", team.ID), fmt.Sprintf(`{"name":"matrix %d"}`, n), 200, all[:1]},
					{"ReadCurrentUser", "GET", "/api/users/current", "", 200, all},
					{"CreateOwnAPIKey", "POST", "/api/api-keys", `{"name":"mine"}`, 201, all},
				}
				for _, rq := range requests {
					allowed := false
					for _, r := range rq.allowed {
						allowed = allowed || r == role
					}
					var body any
					if rq.body != "" {
						body = rq.body
					}
					if allowed {
						ts.must(t, rq.ok, rq.method, rq.path, key, body)
					} else {
						ts.wantError(t, 403, "FORBIDDEN", rq.method, rq.path, key, body)
					}
				}
				// Refused requests changed nothing.
				ctx := context.Background()
				_, err := ts.DB.Account(ctx, victim.ID)
				if deleted := err != nil; deleted != (role == auth.Admin) {
					t.Errorf("victim deleted = %v (err %v), want %v", deleted, err, role == auth.Admin)
				}
				_, err = ts.DB.TeamByName(ctx, nil, fmt.Sprintf("team %d", n))
				if created := err == nil; created != (role == auth.Admin || role == auth.User) {
					t.Errorf("team created = %v, want %v", created, role == auth.Admin || role == auth.User)
				}
				_, _, err = ts.DB.AccountByEmail(ctx, fmt.Sprintf("new%d@example.com", n))
				if created := err == nil; created != (role == auth.Admin) {
					t.Errorf("user created = %v, want %v", created, role == auth.Admin)
				}
			})
		}

		t.Run("NoKey", func(t *testing.T) {
			ts.wantError(t, 401, "UNAUTHORIZED", "GET", "/api/users/current", "", nil)
			ts.wantError(t, 401, "UNAUTHORIZED", "GET", "/api/users", "", nil)
		})
		t.Run("UnknownKey", func(t *testing.T) {
			ts.wantError(t, 401, "UNAUTHORIZED", "GET", "/api/users/current", "tcn_not-a-key", nil)
		})
		t.Run("RevokedKey", func(t *testing.T) {
			a, key := ts.user(t, auth.Admin)
			keys, err := ts.DB.ListAPIKeys(context.Background(), a.ID)
			if err != nil || len(keys) != 1 {
				t.Fatalf("keys = %+v, %v", keys, err)
			}
			if err := ts.DB.RevokeAPIKey(context.Background(), keys[0].ID); err != nil {
				t.Fatal(err)
			}
			ts.wantError(t, 401, "UNAUTHORIZED", "GET", "/api/users/current", key, nil)
			ts.wantError(t, 401, "UNAUTHORIZED", "POST", "/api/users", key, `{"firstName":"A","lastName":"B","email":"r@example.com"}`)
		})
	})
}
