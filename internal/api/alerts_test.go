package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func TestAlertsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		f := storetest.NewFixture(t, ts.DB)
		ikey := f.Source.IntegrationKey
		send := func(typ, key string) eventResp {
			return decodeAs[eventResp](t, ts.must(t, 202, "POST", "/api/events", "",
				`{"integrationKey":"`+ikey+`","eventType":"`+typ+`","summary":"summary of `+key+`","alertKey":"`+key+`"}`))
		}
		idOf := func(r eventResp) int64 {
			var id int64
			fmt.Sscanf(r.AlertURL[strings.LastIndex(r.AlertURL, "/")+1:], "%d", &id)
			return id
		}
		for i := range 5 {
			send("ALERT", fmt.Sprintf("a%d", i))
		}
		send("ACCEPT", "a1")
		send("RESOLVE", "a2")
		responder, responderKey := ts.user(t, auth.Responder)
		_, stakeholderKey := ts.user(t, auth.Stakeholder)

		t.Run("ListFiltersBothSpellings", func(t *testing.T) {
			src := fmt.Sprint(f.Source.ID)
			for _, q := range []string{
				"alert-source=" + src + "&max-results=50&start-index=0&state=PENDING", // ilert-go
				"sources=" + src + "&states=PENDING",                                  // the spec
			} {
				list := decodeAs[[]alert.Alert](t, ts.must(t, 200, "GET", "/api/alerts?"+q, ts.AdminKey, nil))
				if len(list) != 3 {
					t.Fatalf("%s: %d alerts, want 3 pending", q, len(list))
				}
				for _, a := range list {
					if a.Status != alert.Pending || a.AlertSource.ID != f.Source.ID || a.CustomDetails != nil {
						t.Fatalf("%s: %+v", q, a)
					}
				}
			}
			two := decodeAs[[]alert.Alert](t, ts.must(t, 200, "GET", "/api/alerts?states=PENDING&states=ACCEPTED", ts.AdminKey, nil))
			if len(two) != 4 {
				t.Fatalf("repeated states: %d alerts, want 4", len(two))
			}
			page := decodeAs[[]alert.Alert](t, ts.must(t, 200, "GET", "/api/alerts?start-index=1&max-results=2", ts.AdminKey, nil))
			all := decodeAs[[]alert.Alert](t, ts.must(t, 200, "GET", "/api/alerts", ts.AdminKey, nil))
			if len(all) != 5 || len(page) != 2 || page[0].ID != all[1].ID || page[1].ID != all[2].ID {
				t.Fatalf("paging: all %d, page %+v", len(all), page)
			}
			empty := ts.must(t, 200, "GET", "/api/alerts?policies=999999", ts.AdminKey, nil)
			if strings.TrimSpace(string(empty)) != "[]" {
				t.Fatalf("no match must be an empty array, got %s", empty)
			}
			c := decodeAs[struct{ Count int }](t, ts.must(t, 200, "GET", "/api/alerts/count?states=RESOLVED", ts.AdminKey, nil))
			if c.Count != 1 {
				t.Fatalf("count resolved: %d", c.Count)
			}
			// A filter names each value once, at most 100 of them: every responder costs a lookup.
			var many, same []string
			for i := range 101 {
				many = append(many, fmt.Sprint(i+1))
				same = append(same, src)
			}
			for _, q := range []string{"states=OPEN", "sources=x", "from=yesterday", "max-results=101", "start-index=-1",
				"responders=" + strings.Join(many, ","), "sources=" + strings.Join(many[:60], ",") + "&alert-source=" + strings.Join(many[60:], ",")} {
				if status, _ := ts.do(t, "GET", "/api/alerts?"+q, ts.AdminKey, nil); status != 400 {
					t.Errorf("%s: status %d, want 400", q, status)
				}
			}
			if list := decodeAs[[]alert.Alert](t, ts.must(t, 200, "GET", "/api/alerts?sources="+strings.Join(same, ",")+"&states=PENDING", ts.AdminKey, nil)); len(list) != 3 {
				t.Errorf("one source named 101 times: %d alerts, want 3", len(list))
			}
		})

		t.Run("AcceptAssignResolveByHand", func(t *testing.T) {
			id := idOf(send("ALERT", "manual-flow"))
			// ilert-go: PUT /api/alerts/{id}/assign?user-id=…; the spec spells it user=.
			a := decodeAs[alert.Alert](t, ts.must(t, 200, "PUT", fmt.Sprintf("/api/alerts/%d/assign?user-id=%d", id, responder.ID), ts.AdminKey, nil))
			if a.AssignedTo == nil || a.AssignedTo.ID != responder.ID || len(a.Responders) != 1 || a.Responders[0].Status != alert.Pending {
				t.Fatalf("after assign: %+v", a)
			}
			a = decodeAs[alert.Alert](t, ts.must(t, 200, "PUT", fmt.Sprintf("/api/alerts/%d/accept", id), responderKey, nil))
			if a.Status != alert.Accepted || a.Responders[0].Status != alert.Accepted || a.Responders[0].AcceptedAt == nil {
				t.Fatalf("after accept: %+v", a)
			}
			ts.must(t, 200, "PUT", fmt.Sprintf("/api/alerts/%d/accept", id), responderKey, nil) // idempotent
			ts.must(t, 403, "PUT", fmt.Sprintf("/api/alerts/%d/resolve", id), stakeholderKey, nil)
			c := decodeAs[alert.LogEntry](t, ts.must(t, 201, "POST", fmt.Sprintf("/api/alerts/%d/comments", id), responderKey, `{"content":"looking into it"}`))
			if c.LogEntryType != "AlertCommentAddedLogEntry" || c.Text != "looking into it" || c.Vars != nil {
				t.Fatalf("comment: %+v", c)
			}
			a = decodeAs[alert.Alert](t, ts.must(t, 200, "PUT", fmt.Sprintf("/api/alerts/%d/resolve", id), responderKey, nil))
			if a.Status != alert.Resolved || a.ResolvedOn == nil {
				t.Fatalf("after resolve: %+v", a)
			}
			status, body := ts.do(t, "PUT", fmt.Sprintf("/api/alerts/%d/accept", id), responderKey, nil)
			if status != 400 || !strings.Contains(string(body), "resolved") {
				t.Fatalf("accepting a resolved alert: %d %s", status, body)
			}
			entries := decodeAs[[]alert.LogEntry](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/alerts/%d/log-entries?include=vars", id), ts.AdminKey, nil))
			var types []string
			for _, e := range entries {
				types = append(types, e.LogEntryType)
			}
			want := "[AlertReceivedLogEntry AlertAssignedByUserLogEntry UserResponseLogEntry AlertCommentAddedLogEntry UserResponseLogEntry]"
			if fmt.Sprint(types) != want {
				t.Fatalf("timeline %v, want %s", types, want)
			}
			if entries[2].Vars["userId"] != fmt.Sprint(responder.ID) {
				t.Fatalf("include=vars: %+v", entries[2])
			}
			updates := decodeAs[[]alert.LogEntry](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/alerts/%d/log-entries?filter-types=ALERT_SOURCE_EVENTS", id), ts.AdminKey, nil))
			if len(updates) != 1 || updates[0].Vars != nil {
				t.Fatalf("filter-types=ALERT_SOURCE_EVENTS: %+v", updates)
			}
			mine := decodeAs[[]alert.Alert](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/alerts?assigned-to=%d", responder.ID), ts.AdminKey, nil))
			if len(mine) != 1 || mine[0].ID != id {
				t.Fatalf("assigned-to filter: %+v", mine)
			}
		})

		t.Run("ManualAlertAndResponders", func(t *testing.T) {
			body := fmt.Sprintf(`{"summary":"Coffee machine on fire","details":"kitchen","alertSource":{"id":%d},"priority":"LOW","responders":[{"id":%d}]}`, f.Source.ID, responder.ID)
			a := decodeAs[alert.Alert](t, ts.must(t, 201, "POST", "/api/alerts", responderKey, body))
			if a.ID == 0 || a.Priority != alert.Low || a.Status != alert.Pending || len(a.Responders) != 1 || a.EscalationPolicy.ID != f.Policy.ID {
				t.Fatalf("manual alert: %+v", a)
			}
			ts.must(t, 403, "POST", "/api/alerts", stakeholderKey, body)
			for _, b := range []string{`{"alertSource":{"id":1}}`, `{"summary":"x"}`, `{"summary":"x","alertSource":{"id":999999}}`, `{"summary":"x","alertSource":{"id":1},"priority":"MEH"}`} {
				if status, _ := ts.do(t, "POST", "/api/alerts", ts.AdminKey, b); status != 400 {
					t.Errorf("%s: status %d, want 400", b, status)
				}
			}
			ts.must(t, 400, "POST", fmt.Sprintf("/api/alerts/%d/responders", a.ID), ts.AdminKey, fmt.Sprintf(`{"user":{"id":%d}}`, responder.ID))
			r := decodeAs[alert.Responder](t, ts.must(t, 201, "POST", fmt.Sprintf("/api/alerts/%d/responders", a.ID), ts.AdminKey, fmt.Sprintf(`{"user":{"id":%d}}`, ts.Admin.ID)))
			if r.User.ID != ts.Admin.ID || r.Status != alert.Pending {
				t.Fatalf("added responder: %+v", r)
			}
			ts.must(t, 204, "DELETE", fmt.Sprintf("/api/alerts/%d/responders/%d", a.ID, ts.Admin.ID), ts.AdminKey, nil)
			ts.must(t, 404, "DELETE", fmt.Sprintf("/api/alerts/%d/responders/%d", a.ID, ts.Admin.ID), ts.AdminKey, nil)
			ts.must(t, 404, "DELETE", fmt.Sprintf("/api/alerts/%d/responders/999999", a.ID), ts.AdminKey, nil)
			got := decodeAs[alert.Alert](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/alerts/%d", a.ID), stakeholderKey, nil))
			if len(got.Responders) != 1 {
				t.Fatalf("responders after removal: %+v", got.Responders)
			}
		})

		t.Run("Errors", func(t *testing.T) {
			ts.must(t, 404, "GET", "/api/alerts/999999", ts.AdminKey, nil)
			ts.must(t, 400, "GET", "/api/alerts/abc", ts.AdminKey, nil)
			ts.must(t, 401, "GET", "/api/alerts", "", nil)
			ts.must(t, 401, "GET", "/api/alerts", "tcn_not-a-key", nil)
			e := decodeAs[errorResp](t, ts.must(t, 404, "GET", "/api/nothing-here", ts.AdminKey, nil))
			if e.Status != 404 || e.Code != "NOT_FOUND" {
				t.Fatalf("unknown route: %+v", e)
			}
		})
	})
}

// POST /api/alerts checks a manual alert as the Events API checks an event.
func TestManualAlertValidation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		f := storetest.NewFixture(t, ts.DB)
		responder, _ := ts.user(t, auth.Responder)
		body := func(extra string) string {
			return fmt.Sprintf(`{"summary":"s","alertSource":{"id":%d}%s}`, f.Source.ID, extra)
		}
		summary := func(s string) string {
			return fmt.Sprintf(`{"summary":%q,"alertSource":{"id":%d}}`, s, f.Source.ID)
		}

		t.Run("SummaryCountsCharacters", func(t *testing.T) {
			long := strings.Repeat("é", alert.MaxSummaryLen) // twice as many bytes
			a := decodeAs[alert.Alert](t, ts.must(t, 201, "POST", "/api/alerts", ts.AdminKey, summary(long)))
			if a.Summary != long {
				t.Fatalf("summary of %d characters stored as %d", alert.MaxSummaryLen, len([]rune(a.Summary)))
			}
			e := decodeAs[errorResp](t, ts.must(t, 400, "POST", "/api/alerts", ts.AdminKey, summary(long+"é")))
			if !strings.Contains(e.Message, "summary") {
				t.Fatalf("error %+v does not name the summary", e)
			}
		})
		t.Run("RespondersDeduplicated", func(t *testing.T) {
			b := body(fmt.Sprintf(`,"responders":[{"id":%d},{"user":{"id":%d}}]`, responder.ID, responder.ID))
			a := decodeAs[alert.Alert](t, ts.must(t, 201, "POST", "/api/alerts", ts.AdminKey, b))
			if len(a.Responders) != 1 || a.Responders[0].User.ID != responder.ID {
				t.Fatalf("responders %+v, want user %d once", a.Responders, responder.ID)
			}
		})
		t.Run("ValidAttachments", func(t *testing.T) {
			b := body(`,"images":[{"src":"https://example.com/i.png","alt":"graph"}],"links":[{"href":"https://example.com","text":"runbook"}]`)
			a := decodeAs[alert.Alert](t, ts.must(t, 201, "POST", "/api/alerts", ts.AdminKey, b))
			if len(a.Images) != 1 || a.Images[0].Alt != "graph" || len(a.Links) != 1 || a.Links[0].Text != "runbook" {
				t.Fatalf("attachments: %+v %+v", a.Images, a.Links)
			}
		})
		long := strings.Repeat("x", alert.MaxTextLen+1)
		bad := []struct{ name, body, want string }{
			{"ErrImageWithoutSrc", body(`,"images":[{"href":"https://example.com"}]`), "images[0]"},
			{"ErrImageSrcTooLong", body(`,"images":[{"src":"` + long + `"}]`), "images[0]"},
			{"ErrLinkWithoutHref", body(`,"links":[{"href":"https://example.com"},{"text":"t"}]`), "links[1]"},
			{"ErrLinkTextTooLong", body(`,"links":[{"href":"h","text":"` + long + `"}]`), "links[0]"},
			{"ErrDetailsTooLong", body(`,"details":"` + strings.Repeat("x", alert.MaxDetailsLen+1) + `"`), "details"},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				e := decodeAs[errorResp](t, ts.must(t, 400, "POST", "/api/alerts", ts.AdminKey, tc.body))
				if !strings.Contains(e.Message, tc.want) {
					t.Fatalf("error %+v, want one mentioning %q", e, tc.want)
				}
			})
		}
		n, err := ts.DB.CountAlerts(t.Context(), store.AlertFilter{})
		if err != nil || n != 3 {
			t.Fatalf("%d alerts (%v), want the 3 valid ones", n, err)
		}
	})
}

// A username that strconv.ParseInt would read as a number ("+7", "-3") still names its user.
func TestUsernamesThatLookNumeric(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		f := storetest.NewFixture(t, ts.DB)
		var users []auth.Account
		for i, name := range []string{"+7", "-3"} {
			u := auth.Account{FirstName: "Signed", LastName: name, Email: fmt.Sprintf("signed%d@example.com", i), Username: name, Role: auth.Responder}
			if err := ts.DB.CreateAccount(t.Context(), &u, ""); err != nil {
				t.Fatalf("create user %q: %v", name, err)
			}
			users = append(users, u)
		}
		a := decodeAs[alert.Alert](t, ts.must(t, 201, "POST", "/api/alerts", ts.AdminKey,
			fmt.Sprintf(`{"summary":"s","alertSource":{"id":%d}}`, f.Source.ID)))
		for _, u := range users {
			got := decodeAs[alert.Alert](t, ts.must(t, 200, "PUT",
				fmt.Sprintf("/api/alerts/%d/assign?user=%s", a.ID, url.QueryEscape(u.Username)), ts.AdminKey, nil))
			if got.AssignedTo == nil || got.AssignedTo.ID != u.ID {
				t.Fatalf("assign to %q: assigned to %+v, want user %d", u.Username, got.AssignedTo, u.ID)
			}
		}
		ts.must(t, 204, "DELETE", fmt.Sprintf("/api/alerts/%d/responders/%s", a.ID, users[0].Username), ts.AdminKey, nil)
		got := decodeAs[alert.Alert](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/alerts/%d", a.ID), ts.AdminKey, nil))
		if len(got.Responders) != 1 || got.Responders[0].User.ID != users[1].ID {
			t.Fatalf("responders after removing %q: %+v", users[0].Username, got.Responders)
		}
		// An id still reads as an id, leading zeros and all.
		ts.must(t, 204, "DELETE", fmt.Sprintf("/api/alerts/%d/responders/00%d", a.ID, users[1].ID), ts.AdminKey, nil)
		ts.must(t, 400, "PUT", fmt.Sprintf("/api/alerts/%d/assign?user=%s", a.ID, url.QueryEscape("+8")), ts.AdminKey, nil)
	})
}
