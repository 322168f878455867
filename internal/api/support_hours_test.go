package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// supportHoursJSON is support hours as the API answers them. Days and exceptions stay raw
// where a test needs to see null and absent apart.
type supportHoursJSON struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Teams []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"teams"`
	TimeZone    string                        `json:"timezone"`
	SupportDays map[string]*map[string]string `json:"supportDays"`
	Exceptions  []map[string]string           `json:"exceptions"`
}

// wireSupportHours is the body ilert-go v3.19 sends to create support hours (see
// ilert-go-wire.txt).
const wireSupportHours = `{"id":0,"name":"sh","timezone":"Europe/Berlin","supportDays":{"MONDAY":{"start":"08:00","end":"17:00"},"TUESDAY":null,"WEDNESDAY":null,"THURSDAY":null,"FRIDAY":null,"SATURDAY":null,"SUNDAY":null}}`

func TestSupportHoursCRUD(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		team := auth.Team{Name: "Ops"}
		if err := ts.DB.CreateTeam(context.Background(), nil, &team); err != nil {
			t.Fatal(err)
		}

		wire := decodeAs[supportHoursJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/support-hours", ts.AdminKey, wireSupportHours))
		if wire.ID == 0 || wire.Name != "sh" || len(wire.SupportDays) != 7 || wire.SupportDays["TUESDAY"] != nil ||
			(*wire.SupportDays["MONDAY"])["end"] != "17:00" || wire.Exceptions == nil || wire.Teams == nil {
			t.Fatalf("created from ilert-go's body: %+v", wire)
		}

		body := fmt.Sprintf(`{"name":"ops/office hours","timezone":"America/New_York","teams":[{"id":%d,"name":""}],
			"supportDays":{"MONDAY":{"start":"09:00","end":"17:00"},"FRIDAY":{"start":"22:00","end":"06:00"}},
			"exceptions":[{"name":"Independence Day","start":"2025-07-04","end":"2025-07-04","supportStatus":"OUTSIDE"}]}`, team.ID)
		created := decodeAs[supportHoursJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/support-hours?", ts.AdminKey, body))
		if created.ID == 0 || len(created.Teams) != 1 || created.Teams[0].Name != "Ops" || len(created.Exceptions) != 1 ||
			created.Exceptions[0]["supportStatus"] != "OUTSIDE" || created.SupportDays["SUNDAY"] != nil {
			t.Fatalf("created: %+v", created)
		}
		path := fmt.Sprintf("/api/support-hours/%d", created.ID)

		got := decodeAs[supportHoursJSON](t, ts.must(t, http.StatusOK, "GET", path, ts.AdminKey, nil))
		if got.Name != "ops/office hours" || got.TimeZone != "America/New_York" || len(got.Exceptions) != 1 ||
			(*got.SupportDays["FRIDAY"])["end"] != "06:00" {
			t.Errorf("GET: %+v", got)
		}

		for _, name := range []string{"ops/office hours", "ops/office%20hours"} {
			byName := decodeAs[supportHoursJSON](t, ts.must(t, http.StatusOK, "GET", "/api/support-hours/name/"+name, ts.AdminKey, nil))
			if byName.ID != created.ID || len(byName.Exceptions) != 1 {
				t.Errorf("by name %q: %+v", name, byName)
			}
		}
		ts.wantError(t, http.StatusNotFound, "NOT_FOUND", "GET", "/api/support-hours/name/nope", ts.AdminKey, nil)

		raw := ts.must(t, http.StatusOK, "GET", "/api/support-hours", ts.AdminKey, nil)
		list := decodeAs[[]map[string]any](t, raw)
		if len(list) != 2 || list[1]["name"] != "ops/office hours" {
			t.Fatalf("list: %s", raw)
		}
		if _, ok := list[1]["exceptions"]; ok {
			t.Errorf("list items carry exceptions: %s", raw)
		}
		if _, ok := list[1]["supportDays"]; !ok {
			t.Errorf("list items lack supportDays: %s", raw)
		}
		paged := decodeAs[[]supportHoursJSON](t, ts.must(t, http.StatusOK, "GET", "/api/support-hours?start-index=1&max-results=50", ts.AdminKey, nil))
		if len(paged) != 1 || paged[0].ID != created.ID {
			t.Errorf("page from 1: %+v", paged)
		}
		ts.wantError(t, http.StatusBadRequest, "INVALID_INPUT", "GET", "/api/support-hours?max-results=51", ts.AdminKey, nil)

		update := `{"id":0,"name":"office","timezone":"Europe/Berlin","supportDays":{"SUNDAY":{"start":"00:00","end":"00:00"}}}`
		updated := decodeAs[supportHoursJSON](t, ts.must(t, http.StatusOK, "PUT", path, ts.AdminKey, update))
		if updated.ID != created.ID || updated.Name != "office" || len(updated.Teams) != 0 || len(updated.Exceptions) != 0 ||
			updated.SupportDays["MONDAY"] != nil || updated.SupportDays["SUNDAY"] == nil {
			t.Errorf("PUT: %+v", updated)
		}
		again := decodeAs[supportHoursJSON](t, ts.must(t, http.StatusOK, "GET", path, ts.AdminKey, nil))
		if again.Name != "office" || again.TimeZone != "Europe/Berlin" {
			t.Errorf("GET after PUT: %+v", again)
		}
		ts.wantError(t, http.StatusNotFound, "NOT_FOUND", "PUT", "/api/support-hours/999", ts.AdminKey, update)

		ts.must(t, http.StatusNoContent, "DELETE", path, ts.AdminKey, nil)
		ts.wantError(t, http.StatusNotFound, "NOT_FOUND", "GET", path, ts.AdminKey, nil)
		ts.wantError(t, http.StatusNotFound, "NOT_FOUND", "DELETE", path, ts.AdminKey, nil)
		ts.wantError(t, http.StatusBadRequest, "INVALID_INPUT", "GET", "/api/support-hours/abc", ts.AdminKey, nil)
	})
}

// TestSupportHoursInvalid checks that bad support hours answer 400 with a message naming the
// field, and that neither a create nor an update writes anything.
func TestSupportHoursInvalid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		kept := decodeAs[supportHoursJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/support-hours", ts.AdminKey, wireSupportHours))
		path := fmt.Sprintf("/api/support-hours/%d", kept.ID)

		cases := []struct {
			name, body, want string
		}{
			{"ErrTimeZone", `{"name":"x","timezone":"Europe/Atlantis","supportDays":{}}`, `timezone "Europe/Atlantis"`},
			{"ErrTimeZoneMissing", `{"name":"x","supportDays":{}}`, "timezone is required"},
			{"ErrName", `{"name":"","timezone":"Europe/Berlin"}`, "name is required"},
			{"ErrTime", `{"name":"x","timezone":"Europe/Berlin","supportDays":{"MONDAY":{"start":"8am","end":"17:00"}}}`, `supportDays.MONDAY.start: "8am"`},
			{"ErrWeekday", `{"name":"x","timezone":"Europe/Berlin","supportDays":{"MONTAG":{"start":"08:00","end":"17:00"}}}`, `"MONTAG" is not a day`},
			{"ErrExceptionDate", `{"name":"x","timezone":"Europe/Berlin","exceptions":[{"name":"h","start":"24.12.2024","end":"2024-12-24","supportStatus":"OUTSIDE"}]}`, `exceptions[0].start: "24.12.2024"`},
			{"ErrExceptionOrder", `{"name":"x","timezone":"Europe/Berlin","exceptions":[{"name":"h","start":"2024-12-26","end":"2024-12-24","supportStatus":"OUTSIDE"}]}`, "exceptions[0]: end 2024-12-24 is before start 2024-12-26"},
			{"ErrExceptionStatus", `{"name":"x","timezone":"Europe/Berlin","exceptions":[{"name":"h","start":"2024-12-24","end":"2024-12-24","supportStatus":"CLOSED"}]}`, `exceptions[0].supportStatus "CLOSED"`},
			{"ErrUnknownTeam", `{"name":"x","timezone":"Europe/Berlin","teams":[{"id":77}]}`, "team 77 does not exist"},
			{"ErrShape", `{"name":"x","timezone":"Europe/Berlin","supportDays":{"MONDAY":"08:00-17:00"}}`, "supportDays"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for _, rq := range []struct{ method, path string }{{"POST", "/api/support-hours"}, {"PUT", path}} {
					e := ts.wantError(t, http.StatusBadRequest, "INVALID_INPUT", rq.method, rq.path, ts.AdminKey, c.body)
					if !strings.Contains(e.Message, c.want) {
						t.Errorf("%s: message %q does not say %q", rq.method, e.Message, c.want)
					}
				}
				list := decodeAs[[]supportHoursJSON](t, ts.must(t, http.StatusOK, "GET", "/api/support-hours", ts.AdminKey, nil))
				if len(list) != 1 || list[0].Name != "sh" || list[0].TimeZone != "Europe/Berlin" {
					t.Errorf("after refused writes: %+v", list)
				}
			})
		}
	})
}

// TestSupportHoursRoles checks that support hours are read with the STAKEHOLDER role and
// changed with USER, like the other configuration.
func TestSupportHoursRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		_, reader := ts.user(t, auth.Stakeholder)
		_, responder := ts.user(t, auth.Responder)
		_, writer := ts.user(t, auth.User)

		created := decodeAs[supportHoursJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/support-hours", writer, wireSupportHours))
		path := fmt.Sprintf("/api/support-hours/%d", created.ID)

		ts.must(t, http.StatusOK, "GET", "/api/support-hours", reader, nil)
		ts.must(t, http.StatusOK, "GET", path, reader, nil)
		ts.must(t, http.StatusOK, "GET", "/api/support-hours/name/sh", reader, nil)
		for _, key := range []string{reader, responder} {
			ts.wantError(t, http.StatusForbidden, "FORBIDDEN", "POST", "/api/support-hours", key, wireSupportHours)
			ts.wantError(t, http.StatusForbidden, "FORBIDDEN", "PUT", path, key, wireSupportHours)
			ts.wantError(t, http.StatusForbidden, "FORBIDDEN", "DELETE", path, key, nil)
		}
		ts.wantError(t, http.StatusUnauthorized, "UNAUTHORIZED", "GET", "/api/support-hours", "", nil)

		list := decodeAs[[]supportHoursJSON](t, ts.must(t, http.StatusOK, "GET", "/api/support-hours", reader, nil))
		if len(list) != 1 {
			t.Errorf("refused writes changed the list: %+v", list)
		}
		ts.must(t, http.StatusNoContent, "DELETE", path, writer, nil)
	})
}
