package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// Bodies ilert-go v3.19 sent (see /compat/ilert-go-wire.txt). The policy names user 2 and
// schedule 4; the source names policy 5 and support hours 7.
const (
	wirePolicy = `{"name":"p","escalationRules":[{"users":[{"id":2}],"schedules":[{"id":4,"name":"","timezone":"","type":""}],"escalationTimeout":15}],"repeating":true,"frequency":2,"routingKey":"rk"}`
	wireSource = `{"name":"src","integrationType":"API","alertCreation":"ONE_ALERT_GROUPED_PER_WINDOW","active":true,"autoResolutionTimeout":"PT4H","alertPriorityRule":"HIGH_DURING_SUPPORT_HOURS","supportHours":{"id":7,"name":"","supportDays":null},"escalationPolicy":{"id":5,"name":"","escalationRules":null},"alertGroupingWindow":"PT5M"}`
)

// cfgWantError checks that an answer is ilert's error envelope with status and code.
func cfgWantError(t *testing.T, ts *testServer, status int, code, method, path, key string, body any) {
	t.Helper()
	resp := ts.must(t, status, method, path, key, body)
	var e struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Code    string `json:"code"`
	}
	if err := json.Unmarshal(resp, &e); err != nil || e.Status != status || e.Code != code || e.Message == "" {
		t.Fatalf("%s %s: error body %s, want status %d, code %s and a message", method, path, resp, status, code)
	}
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("decode %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// userWithID creates users until one has the id the wire bodies name.
func userWithID(t *testing.T, ts *testServer, id int64) auth.Account {
	t.Helper()
	for {
		a, _ := ts.user(t, auth.User)
		if a.ID == id {
			return a
		}
		if a.ID > id {
			t.Fatalf("user ids passed %d without reaching it", id)
		}
	}
}

// policiesUpTo creates one-level policies paging user until one has the given id.
// supportHoursUpTo creates support hours until those with the given id exist (the captured
// requests refer to support hours 7).
func supportHoursUpTo(t *testing.T, ts *testServer, id int64) {
	t.Helper()
	for {
		h := decodeAs[struct{ ID int64 }](t, ts.must(t, 201, "POST", "/api/support-hours", ts.AdminKey,
			`{"name":"office","timezone":"Europe/Berlin","supportDays":{"MONDAY":{"start":"08:00","end":"17:00"}}}`))
		if h.ID >= id {
			if h.ID > id {
				t.Fatalf("support hours ids passed %d without reaching it", id)
			}
			return
		}
	}
}

func policiesUpTo(t *testing.T, ts *testServer, id, user int64) {
	t.Helper()
	for {
		p := escalation.Policy{Name: "filler", EscalationRules: []escalation.Rule{{EscalationTimeout: 1, Users: []auth.Ref{{ID: user}}}}}
		if err := ts.DB.CreatePolicy(context.Background(), &p); err != nil {
			t.Fatal(err)
		}
		if p.ID == id {
			return
		}
		if p.ID > id {
			t.Fatalf("policy ids passed %d without reaching it", id)
		}
	}
}

func TestEscalationPoliciesAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		key := ts.AdminKey
		u2 := userWithID(t, ts, 2)
		storetest.NewSchedules(t, ts.DB, u2.ID, "2020-01-06T09:00", 4) // the wire body names schedule 4
		count := func() int {
			t.Helper()
			return len(decodeAs[[]escalation.Policy](t, ts.must(t, 200, "GET", "/api/escalation-policies?max-results=100", key, nil)))
		}

		created := decodeAs[escalation.Policy](t, ts.must(t, 201, "POST", "/api/escalation-policies", key, wirePolicy))
		want := escalation.Policy{ID: created.ID, Name: "p", Repeating: true, Frequency: 2, RoutingKey: "rk", Teams: []auth.TeamRef{},
			EscalationRules: []escalation.Rule{{EscalationTimeout: 15,
				Users:     []auth.Ref{{ID: 2, FirstName: u2.FirstName, LastName: u2.LastName}},
				Schedules: []escalation.ScheduleRef{{ID: 4, Name: "schedule 4", Type: "RECURRING"}}, Teams: []auth.TeamRef{},
				// The deprecated singular fields are read back as the first of each list.
				User: &auth.Ref{ID: 2, FirstName: u2.FirstName, LastName: u2.LastName}, Schedule: &escalation.ScheduleRef{ID: 4, Name: "schedule 4", Type: "RECURRING"}}}}
		if created.ID <= 0 || !reflect.DeepEqual(created, want) {
			t.Fatalf("created\n got %+v\nwant %+v", created, want)
		}

		t.Run("Read", func(t *testing.T) {
			list := decodeAs[[]escalation.Policy](t, ts.must(t, 200, "GET", "/api/escalation-policies?max-results=50&start-index=0", key, nil))
			if len(list) != 1 || !reflect.DeepEqual(list[0], want) {
				t.Fatalf("list = %+v", list)
			}
			if got := decodeAs[escalation.Policy](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/escalation-policies/%d", created.ID), key, nil)); !reflect.DeepEqual(got, want) {
				t.Fatalf("get = %+v", got)
			}
			if got := decodeAs[escalation.Policy](t, ts.must(t, 200, "GET", "/api/escalation-policies/name/p", key, nil)); got.ID != created.ID {
				t.Fatalf("by name = %+v", got)
			}
			cfgWantError(t, ts, 404, "NOT_FOUND", "GET", "/api/escalation-policies/name/nope", key, nil)
			cfgWantError(t, ts, 404, "NOT_FOUND", "GET", fmt.Sprintf("/api/escalation-policies/%d", created.ID+100), key, nil)
			cfgWantError(t, ts, 400, "INVALID_INPUT", "GET", "/api/escalation-policies/abc", key, nil)
			cfgWantError(t, ts, 400, "INVALID_INPUT", "GET", "/api/escalation-policies?max-results=101", key, nil)
		})

		t.Run("NameWithSpaceAndSlash", func(t *testing.T) {
			body := `{"name":"night shift/ops","escalationRules":[{"escalationTimeout":1,"users":[{"id":2}]}]}`
			p := decodeAs[escalation.Policy](t, ts.must(t, 201, "POST", "/api/escalation-policies", key, body))
			got := decodeAs[escalation.Policy](t, ts.must(t, 200, "GET", "/api/escalation-policies/name/night%20shift/ops", key, nil))
			if got.ID != p.ID {
				t.Fatalf("by name = %+v, want policy %d", got, p.ID)
			}
			ts.must(t, 204, "DELETE", fmt.Sprintf("/api/escalation-policies/%d", p.ID), key, nil)
		})

		t.Run("Rejected", func(t *testing.T) {
			cases := map[string]string{
				"ErrNameRequired":  `{"escalationRules":[{"escalationTimeout":1,"users":[{"id":2}]}]}`,
				"ErrNoLevels":      `{"name":"x","escalationRules":[]}`,
				"ErrFrequency":     `{"name":"x","frequency":10,"escalationRules":[{"escalationTimeout":1,"users":[{"id":2}]}]}`,
				"ErrEmptyLevel":    `{"name":"x","escalationRules":[{"escalationTimeout":1}]}`,
				"ErrUnknownUser":   `{"name":"x","escalationRules":[{"escalationTimeout":1,"users":[{"id":2}]},{"escalationTimeout":1,"users":[{"id":999}]}]}`,
				"ErrUnknownTeam":   `{"name":"x","escalationRules":[{"escalationTimeout":1,"teams":[{"id":999}]}]}`,
				"ErrWrongType":     `{"name":"x","frequency":"often","escalationRules":[{"escalationTimeout":1,"users":[{"id":2}]}]}`,
				"ErrMalformedJSON": `{"name":"x",`,
			}
			for name, body := range cases {
				t.Run(name, func(t *testing.T) {
					cfgWantError(t, ts, 400, "INVALID_INPUT", "POST", "/api/escalation-policies", key, body)
					if n := count(); n != 1 {
						t.Fatalf("%d policies after a rejected create, want 1", n)
					}
				})
			}
			t.Run("ErrRoutingKeyTaken", func(t *testing.T) {
				cfgWantError(t, ts, 400, "CONFLICT", "POST", "/api/escalation-policies", key,
					`{"name":"x","routingKey":"rk","escalationRules":[{"escalationTimeout":1,"users":[{"id":2}]}]}`)
				if n := count(); n != 1 {
					t.Fatalf("%d policies after a rejected create, want 1", n)
				}
			})
		})

		t.Run("Update", func(t *testing.T) {
			path := fmt.Sprintf("/api/escalation-policies/%d", created.ID)
			cfgWantError(t, ts, 400, "INVALID_INPUT", "PUT", path, key, `{"name":"p","escalationRules":[{"escalationTimeout":1,"users":[{"id":999}]}]}`)
			if got := decodeAs[escalation.Policy](t, ts.must(t, 200, "GET", path, key, nil)); !reflect.DeepEqual(got, want) {
				t.Fatalf("a rejected update changed the policy: %+v", got)
			}
			cfgWantError(t, ts, 404, "NOT_FOUND", "PUT", fmt.Sprintf("/api/escalation-policies/%d", created.ID+100), key, wirePolicy)

			body := `{"id":0,"name":"p2","escalationRules":[{"escalationTimeout":3,"users":[{"id":1}]},{"escalationTimeout":4,"users":[{"id":2}]}]}`
			upd := decodeAs[escalation.Policy](t, ts.must(t, 200, "PUT", path, key, body))
			got := decodeAs[escalation.Policy](t, ts.must(t, 200, "GET", path, key, nil))
			if !reflect.DeepEqual(got, upd) || got.ID != created.ID || got.Name != "p2" || got.RoutingKey != "" ||
				got.Frequency != 1 || got.Repeating || len(got.EscalationRules) != 2 || got.EscalationRules[0].Users[0].ID != ts.Admin.ID {
				t.Fatalf("after a full replacement: put %+v, get %+v", upd, got)
			}
		})

		t.Run("Delete", func(t *testing.T) {
			path := fmt.Sprintf("/api/escalation-policies/%d", created.ID)
			src := fmt.Sprintf(`{"name":"s","integrationType":"API","escalationPolicy":{"id":%d}}`, created.ID)
			s := decodeAs[struct{ ID int64 }](t, ts.must(t, 201, "POST", "/api/alert-sources", key, src))
			cfgWantError(t, ts, 400, "INVALID_INPUT", "DELETE", path, key, nil)
			ts.must(t, 200, "GET", path, key, nil)
			ts.must(t, 204, "DELETE", fmt.Sprintf("/api/alert-sources/%d", s.ID), key, nil)
			ts.must(t, 204, "DELETE", path, key, nil)
			cfgWantError(t, ts, 404, "NOT_FOUND", "GET", path, key, nil)
			cfgWantError(t, ts, 404, "NOT_FOUND", "DELETE", path, key, nil)
		})
	})
}

// TestPolicySync replays what ilagent's escalation-policy sync sends.
func TestPolicySync(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		key := ts.AdminKey
		ann, _ := ts.user(t, auth.User)
		bob, _ := ts.user(t, auth.User)
		cem, _ := ts.user(t, auth.User)
		storetest.NewSchedules(t, ts.DB, ann.ID, "2020-01-06T09:00", 4) // schedule 4 is on level 2
		body := fmt.Sprintf(`{"name":"team-a","routingKey":"team-a","escalationRules":[
			{"escalationTimeout":10,"users":[{"id":%d}]},
			{"escalationTimeout":20,"users":[{"id":%d}],"schedules":[{"id":4}]},
			{"escalationTimeout":30,"users":[{"id":%d}]}]}`, ann.ID, bob.ID, ann.ID)
		orig := decodeAs[escalation.Policy](t, ts.must(t, 201, "POST", "/api/escalation-policies", key, body))
		path := fmt.Sprintf("/api/escalation-policies/%d", orig.ID)
		level := func(n any) string { return fmt.Sprintf("%s/levels/%v", path, n) }
		unchanged := func(t *testing.T) {
			t.Helper()
			if got := decodeAs[escalation.Policy](t, ts.must(t, 200, "GET", path, key, nil)); !reflect.DeepEqual(got, orig) {
				t.Fatalf("policy changed\n got %+v\nwant %+v", got, orig)
			}
		}

		resolved := decodeAs[escalation.Policy](t, ts.must(t, 200, "GET", "/api/escalation-policies/resolve?routing-key=team-a", key, nil))
		if !reflect.DeepEqual(resolved, orig) {
			t.Fatalf("resolve = %+v, want %+v", resolved, orig)
		}
		cfgWantError(t, ts, 404, "NOT_FOUND", "GET", "/api/escalation-policies/resolve?routing-key=team-b", key, nil)
		cfgWantError(t, ts, 400, "INVALID_INPUT", "GET", "/api/escalation-policies/resolve", key, nil)

		t.Run("ErrLevelOutOfRange", func(t *testing.T) {
			cfgWantError(t, ts, 404, "NOT_FOUND", "PUT", level(3), key, fmt.Sprintf(`{"escalationTimeout":1,"users":[{"id":%d}]}`, cem.ID))
			unchanged(t)
		})
		t.Run("ErrBadLevel", func(t *testing.T) {
			for _, l := range []string{"-1", "x"} {
				cfgWantError(t, ts, 400, "INVALID_INPUT", "PUT", level(l), key, fmt.Sprintf(`{"escalationTimeout":1,"users":[{"id":%d}]}`, cem.ID))
			}
			unchanged(t)
		})
		t.Run("ErrUnknownPolicy", func(t *testing.T) {
			cfgWantError(t, ts, 404, "NOT_FOUND", "PUT", fmt.Sprintf("/api/escalation-policies/%d/levels/0", orig.ID+1), key,
				fmt.Sprintf(`{"escalationTimeout":1,"users":[{"id":%d}]}`, cem.ID))
		})
		t.Run("ErrUnknownUser", func(t *testing.T) {
			cfgWantError(t, ts, 400, "INVALID_INPUT", "PUT", level(1), key, `{"escalationTimeout":20,"users":[{"id":9999}]}`)
			unchanged(t)
		})
		t.Run("SetsLevel", func(t *testing.T) {
			rule := decodeAs[escalation.Rule](t, ts.must(t, 200, "PUT", level(1), key,
				fmt.Sprintf(`{"escalationTimeout": %d, "users": [{"id": %d}]}`, resolved.EscalationRules[1].EscalationTimeout, cem.ID)))
			want := escalation.Rule{EscalationTimeout: 20, Users: []auth.Ref{{ID: cem.ID, FirstName: cem.FirstName, LastName: cem.LastName}},
				Schedules: []escalation.ScheduleRef{}, Teams: []auth.TeamRef{}, User: &auth.Ref{ID: cem.ID, FirstName: cem.FirstName, LastName: cem.LastName}}
			if !reflect.DeepEqual(rule, want) {
				t.Fatalf("answered %+v, want %+v", rule, want)
			}
			orig.EscalationRules[1] = want
			unchanged(t) // levels 0 and 2 as they were, level 1 as set
		})
	})
}

func TestAlertSourcesAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		key := ts.AdminKey
		u2 := userWithID(t, ts, 2)
		policiesUpTo(t, ts, 5, u2.ID)
		supportHoursUpTo(t, ts, 7)
		count := func() int {
			t.Helper()
			return len(decodeAs[[]json.RawMessage](t, ts.must(t, 200, "GET", "/api/alert-sources", key, nil)))
		}

		resp := ts.must(t, 201, "POST", "/api/alert-sources?", key, wireSource)
		src := decodeAs[map[string]json.RawMessage](t, resp)
		var id int64
		if err := json.Unmarshal(src["id"], &id); err != nil || id <= 0 {
			t.Fatalf("id = %s, want a positive number", src["id"])
		}
		if !sameJSON(t, src["supportHours"], []byte(`{"id":7,"name":"","supportDays":null}`)) {
			t.Errorf("supportHours = %s, want it as sent", src["supportHours"])
		}
		for field, want := range map[string]string{"name": `"src"`, "integrationType": `"API"`, "alertCreation": `"ONE_ALERT_GROUPED_PER_WINDOW"`,
			"active": "true", "autoResolutionTimeout": `"PT4H"`, "alertPriorityRule": `"HIGH_DURING_SUPPORT_HOURS"`,
			"alertGroupingWindow": `"PT5M"`, "status": `"ALL_RESOLVED"`, "integrationUrl": `"` + ts.URL + `/api/events"`} {
			if !sameJSON(t, src[field], []byte(want)) {
				t.Errorf("%s = %s, want %s", field, src[field], want)
			}
		}
		policy := decodeAs[escalation.Policy](t, src["escalationPolicy"])
		if policy.ID != 5 || policy.Name != "filler" || len(policy.EscalationRules) != 1 || policy.EscalationRules[0].Users[0].FirstName != u2.FirstName {
			t.Errorf("escalationPolicy = %s, want the whole policy 5", src["escalationPolicy"])
		}
		var ikey string
		json.Unmarshal(src["integrationKey"], &ikey)
		if len(ikey) < 32 { // 24 random bytes, base64url: 192 bits
			t.Fatalf("integrationKey %q is shorter than 32 characters", ikey)
		}

		t.Run("Read", func(t *testing.T) {
			list := decodeAs[[]map[string]json.RawMessage](t, ts.must(t, 200, "GET", "/api/alert-sources?max-results=50&start-index=0", key, nil))
			if len(list) != 1 || !sameJSON(t, list[0]["id"], src["id"]) {
				t.Fatalf("list = %v", list)
			}
			for _, path := range []string{"/api/alert-sources/name/src", fmt.Sprintf("/api/alert-sources/%d", id), "/api/alert-sources/" + ikey} {
				if got := ts.must(t, 200, "GET", path, key, nil); !sameJSON(t, got, resp) {
					t.Fatalf("GET %s = %s\nwant %s", path, got, resp)
				}
			}
			cfgWantError(t, ts, 404, "NOT_FOUND", "GET", "/api/alert-sources/name/nope", key, nil)
			cfgWantError(t, ts, 404, "NOT_FOUND", "GET", "/api/alert-sources/nope", key, nil)
			cfgWantError(t, ts, 400, "INVALID_INPUT", "GET", "/api/alert-sources?max-results=51", key, nil)
		})

		t.Run("KeysUnique", func(t *testing.T) {
			other := decodeAs[struct {
				ID             int64
				IntegrationKey string
			}](t, ts.must(t, 201, "POST", "/api/alert-sources", key, `{"name":"other","integrationType":"API","escalationPolicy":{"id":5}}`))
			if other.IntegrationKey == ikey || len(other.IntegrationKey) < 32 {
				t.Fatalf("second key %q (first %q)", other.IntegrationKey, ikey)
			}
			cfgWantError(t, ts, 400, "CONFLICT", "POST", "/api/alert-sources", key,
				`{"name":"thief","integrationType":"API","escalationPolicy":{"id":5},"integrationKey":"`+ikey+`"}`)
			ts.must(t, 204, "DELETE", fmt.Sprintf("/api/alert-sources/%d", other.ID), key, nil)
		})

		t.Run("Rejected", func(t *testing.T) {
			cases := map[string]string{
				"ErrNameRequired":     `{"integrationType":"API","escalationPolicy":{"id":5}}`,
				"ErrUnknownType":      `{"name":"x","integrationType":"CARRIER_PIGEON","escalationPolicy":{"id":5}}`,
				"ErrPolicyRequired":   `{"name":"x","integrationType":"API"}`,
				"ErrUnknownPolicy":    `{"name":"x","integrationType":"API","escalationPolicy":{"id":999,"name":"","escalationRules":null}}`,
				"ErrGroupingWindow":   `{"name":"x","integrationType":"API","escalationPolicy":{"id":5},"alertCreation":"ONE_ALERT_GROUPED_PER_WINDOW","alertGroupingWindow":"PT3M"}`,
				"ErrNoGroupingWindow": `{"name":"x","integrationType":"API","escalationPolicy":{"id":5},"alertCreation":"ONE_ALERT_GROUPED_PER_WINDOW"}`,
				"ErrResolutionPeriod": `{"name":"x","integrationType":"API","escalationPolicy":{"id":5},"autoResolutionTimeout":"4 hours"}`,
				"ErrUnknownTeam":      `{"name":"x","integrationType":"API","escalationPolicy":{"id":5},"teams":[{"id":999}]}`,
				"ErrWrongType":        `{"name":"x","integrationType":"API","escalationPolicy":{"id":5},"active":"yes"}`,
			}
			for name, body := range cases {
				t.Run(name, func(t *testing.T) {
					cfgWantError(t, ts, 400, "INVALID_INPUT", "POST", "/api/alert-sources", key, body)
					if n := count(); n != 1 {
						t.Fatalf("%d sources after a rejected create, want 1", n)
					}
				})
			}
		})

		t.Run("Include", func(t *testing.T) {
			body := `{"name":"templated","integrationType":"API","escalationPolicy":{"id":5},
				"summaryTemplate":{"textTemplate":"{{ alert.summary }}"},"eventFilter":"(event.priority == \"HIGH\")",
				"linkTemplates":[{"text":"runbook","hrefTemplate":{"textTemplate":"https://x"}}]}`
			created := decodeAs[map[string]json.RawMessage](t, ts.must(t, 201, "POST", "/api/alert-sources", key, body))
			path := "/api/alert-sources/" + string(created["id"])
			defer ts.must(t, 204, "DELETE", path, key, nil)
			for _, c := range []struct {
				query string
				shown []string
			}{
				{"", nil},
				{"?include=summaryTemplate", []string{"summaryTemplate"}},
				{"?include=summaryTemplate&include=eventFilter&include=linkTemplates", []string{"summaryTemplate", "eventFilter", "linkTemplates"}},
				{"?include=summaryTemplate,eventFilter", []string{"summaryTemplate", "eventFilter"}}, // comma-separated, as every include= takes them
			} {
				got := decodeAs[map[string]json.RawMessage](t, ts.must(t, 200, "GET", path+c.query, key, nil))
				for _, f := range []string{"summaryTemplate", "eventFilter", "linkTemplates"} {
					_, present := got[f]
					if want := strings.Contains(strings.Join(c.shown, ","), f); present != want {
						t.Errorf("GET %s: %s present %v, want %v", c.query, f, present, want)
					}
				}
				if c.query != "" && !sameJSON(t, got["summaryTemplate"], []byte(`{"textTemplate":"{{ alert.summary }}"}`)) {
					t.Errorf("summaryTemplate = %s", got["summaryTemplate"])
				}
			}
			if _, present := created["summaryTemplate"]; present {
				t.Errorf("POST without include answered with summaryTemplate")
			}
			list := decodeAs[[]map[string]json.RawMessage](t, ts.must(t, 200, "GET", "/api/alert-sources", key, nil))
			for _, s := range list {
				if _, present := s["eventFilter"]; present {
					t.Errorf("list without include shows eventFilter")
				}
			}
		})

		t.Run("Update", func(t *testing.T) {
			path := fmt.Sprintf("/api/alert-sources/%d", id)
			// A client that sends back what it read, read-only fields and zero values included.
			var echo map[string]any
			json.Unmarshal(resp, &echo)
			echo["name"] = "renamed"
			echo["createdAt"] = ""
			echo["supportHours"] = json.RawMessage(`{"timezone":"Europe/Berlin","autoRaiseAlerts":true,"autoRaiseIncidents":false,"supportDays":{"MONDAY":{"start":"08:00","end":"17:00"},"SUNDAY":null}}`)
			delete(echo, "integrationKey")
			got := decodeAs[map[string]json.RawMessage](t, ts.must(t, 200, "PUT", path, key, echo))
			if !sameJSON(t, got["integrationKey"], src["integrationKey"]) || !sameJSON(t, got["name"], []byte(`"renamed"`)) ||
				!sameJSON(t, got["createdAt"], src["createdAt"]) {
				t.Fatalf("after update: %v", got)
			}
			if !sameJSON(t, got["supportHours"], []byte(echo["supportHours"].(json.RawMessage))) {
				t.Errorf("legacy supportHours = %s, want it as sent", got["supportHours"])
			}
			if again := ts.must(t, 200, "GET", path, key, nil); !sameJSON(t, again, mustJSON(t, got)) {
				t.Errorf("GET after PUT = %s, PUT answered %v", again, got)
			}
			cfgWantError(t, ts, 400, "INVALID_INPUT", "PUT", path, key, `{"name":"","integrationType":"API","escalationPolicy":{"id":5}}`)
			cfgWantError(t, ts, 404, "NOT_FOUND", "PUT", fmt.Sprintf("/api/alert-sources/%d", id+100), key, wireSource)
			if n := decodeAs[map[string]any](t, ts.must(t, 200, "GET", path, key, nil)); n["name"] != "renamed" {
				t.Fatalf("a rejected update changed the source: %v", n)
			}
		})

		t.Run("StatusAndDelete", func(t *testing.T) {
			path := fmt.Sprintf("/api/alert-sources/%d", id)
			ev := decodeAs[struct {
				AlertURL string `json:"alertUrl"`
			}](t, ts.must(t, 202, "POST", "/api/events", "", `{"integrationKey":"`+ikey+`","eventType":"ALERT","summary":"disk full","alertKey":"disk"}`))
			if got := decodeAs[map[string]any](t, ts.must(t, 200, "GET", path, key, nil)); got["status"] != "PENDING" {
				t.Fatalf("status with a pending alert = %v", got["status"])
			}
			alertID := ev.AlertURL[strings.LastIndex(ev.AlertURL, "/")+1:]
			ts.must(t, 200, "GET", "/api/alerts/"+alertID, key, nil)

			ts.must(t, 204, "DELETE", path, key, nil)
			cfgWantError(t, ts, 404, "NOT_FOUND", "GET", path, key, nil)
			cfgWantError(t, ts, 404, "NOT_FOUND", "GET", "/api/alerts/"+alertID, key, nil)
			cfgWantError(t, ts, 404, "NOT_FOUND", "DELETE", path, key, nil)
		})
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func TestConfigPermissions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		f := storetest.NewFixture(t, ts.DB)
		_, stakeholder := ts.user(t, auth.Stakeholder)
		_, responder := ts.user(t, auth.Responder)
		_, configurer := ts.user(t, auth.User)
		policy := fmt.Sprintf("/api/escalation-policies/%d", f.Policy.ID)
		source := fmt.Sprintf("/api/alert-sources/%d", f.Source.ID)
		policyBody := fmt.Sprintf(`{"name":"x","escalationRules":[{"escalationTimeout":1,"users":[{"id":%d}]}]}`, f.User.ID)
		sourceBody := fmt.Sprintf(`{"name":"x","integrationType":"API","escalationPolicy":{"id":%d}}`, f.Policy.ID)
		levelBody := fmt.Sprintf(`{"escalationTimeout":1,"users":[{"id":%d}]}`, f.User.ID)

		for _, k := range []string{stakeholder, responder} {
			ts.must(t, 200, "GET", "/api/escalation-policies", k, nil)
			ts.must(t, 200, "GET", policy, k, nil)
			ts.must(t, 200, "GET", "/api/escalation-policies/name/ops", k, nil)
			ts.must(t, 200, "GET", "/api/alert-sources", k, nil)
			ts.must(t, 200, "GET", source, k, nil)
			cfgWantError(t, ts, 403, "FORBIDDEN", "POST", "/api/escalation-policies", k, policyBody)
			cfgWantError(t, ts, 403, "FORBIDDEN", "PUT", policy, k, policyBody)
			cfgWantError(t, ts, 403, "FORBIDDEN", "PUT", policy+"/levels/0", k, levelBody)
			cfgWantError(t, ts, 403, "FORBIDDEN", "DELETE", policy, k, nil)
			cfgWantError(t, ts, 403, "FORBIDDEN", "POST", "/api/alert-sources", k, sourceBody)
			cfgWantError(t, ts, 403, "FORBIDDEN", "PUT", source, k, sourceBody)
			cfgWantError(t, ts, 403, "FORBIDDEN", "DELETE", source, k, nil)
		}
		cfgWantError(t, ts, 401, "UNAUTHORIZED", "GET", "/api/escalation-policies", "", nil)
		cfgWantError(t, ts, 401, "UNAUTHORIZED", "GET", "/api/alert-sources", "", nil)

		// Nothing the refused calls sent was written.
		if got := decodeAs[[]json.RawMessage](t, ts.must(t, 200, "GET", "/api/escalation-policies", configurer, nil)); len(got) != 1 {
			t.Fatalf("%d policies, want 1", len(got))
		}
		if got := decodeAs[map[string]any](t, ts.must(t, 200, "GET", source, configurer, nil)); got["name"] != "nightly" {
			t.Fatalf("source changed by a refused call: %v", got)
		}

		// The USER role configures.
		ts.must(t, 201, "POST", "/api/escalation-policies", configurer, policyBody)
		ts.must(t, 200, "PUT", policy+"/levels/0", configurer, levelBody)
		ts.must(t, 200, "PUT", source, configurer, sourceBody)
		ts.must(t, 204, "DELETE", source, configurer, nil)
	})
}
