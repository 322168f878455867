package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// scheduleJSON is a schedule as the API answers it.
type scheduleJSON struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	Timezone       string `json:"timezone"`
	Type           string `json:"type"`
	ScheduleLayers []struct {
		StartsOn string `json:"startsOn"`
		Rotation string `json:"rotation"`
		Users    []struct {
			ID        int64  `json:"id"`
			FirstName string `json:"firstName"`
		} `json:"users"`
	} `json:"scheduleLayers"`
	Shifts []struct {
		User  struct{ ID int64 } `json:"user"`
		Start string             `json:"start"`
		End   string             `json:"end"`
	} `json:"shifts"`
	CurrentShift *shiftJSON `json:"currentShift"`
	NextShift    *shiftJSON `json:"nextShift"`
	Teams        []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"teams"`
}

type shiftJSON struct {
	ID   int64 `json:"id"` // overrides only
	User struct {
		ID        int64  `json:"id"`
		FirstName string `json:"firstName"`
		Email     string `json:"email"`
	} `json:"user"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// The clock every schedule test runs at: Monday 2024-03-04 12:00 in Berlin.
var scheduleNow = time.Date(2024, 3, 4, 11, 0, 0, 0, time.UTC)

// weeklyBody is a RECURRING Berlin schedule handing over every Monday at 09:00 from
// 2024-02-26, through the given users in order.
func weeklyBody(name string, users ...int64) string {
	refs := make([]string, len(users))
	for i, u := range users {
		refs[i] = fmt.Sprintf(`{"id":%d}`, u)
	}
	return fmt.Sprintf(`{"name":%q,"timezone":"Europe/Berlin","type":"RECURRING","showGaps":true,
		"scheduleLayers":[{"name":"primary","startsOn":"2024-02-26T09:00","users":[%s],"rotation":"P7D"}]}`, name, strings.Join(refs, ","))
}

// shiftNames renders shifts as "who start→end" in UTC, naming users by who.
func shiftNames(shifts []shiftJSON, who map[int64]string) []string {
	out := []string{}
	for _, s := range shifts {
		out = append(out, fmt.Sprintf("%s %s→%s", who[s.User.ID], s.Start.UTC().Format("01-02T15:04"), s.End.UTC().Format("01-02T15:04")))
	}
	return out
}

func TestSchedulesCRUD(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return scheduleNow }
		ann, _ := ts.user(t, auth.User)
		bob, _ := ts.user(t, auth.User)

		body := ts.must(t, http.StatusCreated, "POST", "/api/schedules?", ts.AdminKey, weeklyBody("ops/primary line", ann.ID, bob.ID))
		created := decodeAs[scheduleJSON](t, body)
		if created.ID == 0 || len(created.ScheduleLayers) != 1 || created.ScheduleLayers[0].Users[1].FirstName != bob.FirstName ||
			created.ScheduleLayers[0].StartsOn != "2024-02-26T09:00" {
			t.Fatalf("created: %s", body)
		}
		path := fmt.Sprintf("/api/schedules/%d", created.ID)

		plain := decodeAs[scheduleJSON](t, ts.must(t, http.StatusOK, "GET", path, ts.AdminKey, nil))
		if plain.ScheduleLayers != nil || plain.CurrentShift != nil || plain.Name != "ops/primary line" {
			t.Errorf("GET without include: %+v", plain)
		}
		full := decodeAs[scheduleJSON](t, ts.must(t, http.StatusOK, "GET", path+"?include=scheduleLayers&include=currentShift,nextShift", ts.AdminKey, nil))
		// Week of 02-26 is ann's, the week of 03-04 (from 09:00) bob's.
		if len(full.ScheduleLayers) != 1 || full.CurrentShift == nil || full.CurrentShift.User.ID != bob.ID ||
			!full.CurrentShift.Start.Equal(time.Date(2024, 3, 4, 8, 0, 0, 0, time.UTC)) ||
			full.NextShift == nil || full.NextShift.User.ID != ann.ID || !full.NextShift.Start.Equal(time.Date(2024, 3, 11, 8, 0, 0, 0, time.UTC)) {
			t.Errorf("GET with includes: %+v", full)
		}

		for _, name := range []string{"ops/primary line", "ops/primary%20line"} {
			got := decodeAs[scheduleJSON](t, ts.must(t, http.StatusOK, "GET", "/api/schedules/name/"+name, ts.AdminKey, nil))
			if got.ID != created.ID {
				t.Errorf("by name %q: %+v", name, got)
			}
		}
		ts.must(t, http.StatusNotFound, "GET", "/api/schedules/name/nope", ts.AdminKey, nil)

		list := decodeAs[[]scheduleJSON](t, ts.must(t, http.StatusOK, "GET", "/api/schedules?include=scheduleLayers", ts.AdminKey, nil))
		if len(list) != 1 || len(list[0].ScheduleLayers) != 1 {
			t.Errorf("list: %+v", list)
		}
		ts.must(t, http.StatusBadRequest, "GET", "/api/schedules?max-results=101", ts.AdminKey, nil)

		// PUT replaces everything; a body read with every include can be written back.
		readBack := ts.must(t, http.StatusOK, "GET", path+"?include=scheduleLayers&include=currentShift&include=nextShift&include=shifts", ts.AdminKey, nil)
		edited := bytes.Replace(readBack, []byte(`"rotation":"P7D"`), []byte(`"rotation":"P1D"`), 1)
		updated := decodeAs[scheduleJSON](t, ts.must(t, http.StatusOK, "PUT", path, ts.AdminKey, edited))
		if updated.ScheduleLayers[0].Rotation != "P1D" || updated.ID != created.ID {
			t.Errorf("after PUT: %+v", updated)
		}
		ts.must(t, http.StatusNotFound, "PUT", "/api/schedules/999", ts.AdminKey, weeklyBody("x", ann.ID))

		ts.must(t, http.StatusNoContent, "DELETE", path, ts.AdminKey, nil)
		ts.must(t, http.StatusNotFound, "GET", path, ts.AdminKey, nil)
		ts.must(t, http.StatusNotFound, "DELETE", path, ts.AdminKey, nil)
	})
}

func TestStaticScheduleAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return scheduleNow }
		ann, _ := ts.user(t, auth.User)
		// Terraform's form: wall-clock times without an offset, on the schedule's clock.
		body := fmt.Sprintf(`{"name":"static","timezone":"America/New_York","type":"STATIC","defaultShiftDuration":"PT24H","teams":[{"id":0}],
			"shifts":[{"user":{"id":%d},"start":"2024-03-04T05:00","end":"2024-03-05T05:00"}]}`, ann.ID)
		created := decodeAs[scheduleJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey, body))
		if len(created.Shifts) != 1 || created.Shifts[0].Start != "2024-03-04T05:00" || len(created.Teams) != 0 {
			t.Fatalf("created: %+v", created)
		}
		on := decodeAs[shiftJSON](t, ts.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/schedules/%d/user-on-call", created.ID), ts.AdminKey, nil))
		if on.User.ID != ann.ID || on.User.Email != ann.Email || !on.Start.Equal(time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("user-on-call: %+v", on)
		}
		ts.DB.Now = func() time.Time { return scheduleNow.Add(48 * time.Hour) }
		status, resp := ts.do(t, "GET", fmt.Sprintf("/api/schedules/%d/user-on-call", created.ID), ts.AdminKey, nil)
		if status != http.StatusNoContent || len(resp) != 0 {
			t.Errorf("user-on-call with nobody on call: %d %s", status, resp)
		}
	})
}

func TestSchedulesBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return scheduleNow }
		ann, _ := ts.user(t, auth.User)
		nights := fmt.Sprintf(`{"name":"nights","timezone":"Europe/Berlin","type":"RECURRING","scheduleLayers":[{"startsOn":"2024-02-26T09:00",
			"users":[{"id":%d}],"rotation":"P7D","restrictionType":"TIMES_OF_WEEK",
			"restrictions":[{"from":{"dayOfWeek":"MONDAY","time":"18:00"},"to":{"dayOfWeek":"TUESDAY","time":"08:00"}}]}]}`, ann.ID)
		cases := []struct {
			name, path, body, want string
		}{
			{"STATIC without shifts", "/api/schedules", `{"name":"s","timezone":"UTC","type":"STATIC"}`, "STATIC schedule needs at least one entry in shifts"},
			{"RECURRING without layers", "/api/schedules", `{"name":"r","timezone":"UTC","type":"RECURRING"}`, "RECURRING schedule needs at least one entry in scheduleLayers"},
			{"unknown user", "/api/schedules", weeklyBody("u", 4242), "user 4242 does not exist"},
			{"unknown zone", "/api/schedules", strings.Replace(weeklyBody("z", ann.ID), "Europe/Berlin", "Berlin", 1), `timezone "Berlin"`},
			{"bad rotation", "/api/schedules", strings.Replace(weeklyBody("p", ann.ID), "P7D", "1 week", 1), `is not an ISO-8601 period such as P1D`},
			{"bad startsOn", "/api/schedules", strings.Replace(weeklyBody("d", ann.ID), "2024-02-26T09:00", "next monday", 1), `"next monday" is not a date and time`},
			{"gaps with abort-on-gaps", "/api/schedules?abort-on-gaps=true", nights, "leaves nobody on call from 2024-03-04T12:00 to 2024-03-04T18:00"},
			{"abort-on-gaps not a bool", "/api/schedules?abort-on-gaps=yes%20please", weeklyBody("b", ann.ID), "abort-on-gaps must be true or false"},
			{"malformed JSON", "/api/schedules", `{"name":`, "invalid body"},
		}
		for _, c := range cases {
			status, body := ts.do(t, "POST", c.path, ts.AdminKey, c.body)
			e := decodeAs[struct {
				Status  int
				Message string
				Code    string
			}](t, body)
			if status != http.StatusBadRequest || e.Status != 400 || e.Code != "INVALID_INPUT" || !strings.Contains(e.Message, c.want) {
				t.Errorf("%s: %d %s, want 400 saying %q", c.name, status, body, c.want)
			}
		}
		list := decodeAs[[]scheduleJSON](t, ts.must(t, http.StatusOK, "GET", "/api/schedules", ts.AdminKey, nil))
		if len(list) != 0 {
			t.Fatalf("refused requests stored %d schedules", len(list))
		}
		ts.must(t, http.StatusCreated, "POST", "/api/schedules?abort-on-gaps=false", ts.AdminKey, nights)
		ts.must(t, http.StatusBadRequest, "GET", "/api/schedules/abc", ts.AdminKey, nil)
		ts.must(t, http.StatusNotFound, "GET", "/api/schedules/1/nothing-here", ts.AdminKey, nil)
	})
}

func TestSchedulesRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return scheduleNow }
		ann, _ := ts.user(t, auth.User)
		_, stakeholder := ts.user(t, auth.Stakeholder)
		_, responder := ts.user(t, auth.Responder)
		created := decodeAs[scheduleJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey, weeklyBody("ops", ann.ID)))
		path := fmt.Sprintf("/api/schedules/%d", created.ID)
		override := fmt.Sprintf(`{"user":{"id":%d},"start":"2024-03-04T13:00:00Z","end":"2024-03-04T14:00:00Z"}`, ann.ID)

		ts.must(t, http.StatusOK, "GET", path, stakeholder, nil)
		ts.must(t, http.StatusOK, "GET", path+"/shifts", stakeholder, nil)
		ts.must(t, http.StatusOK, "GET", "/api/schedules/name/ops", stakeholder, nil)
		ts.must(t, http.StatusForbidden, "POST", "/api/schedules", stakeholder, weeklyBody("x", ann.ID))
		ts.must(t, http.StatusForbidden, "PUT", path, responder, weeklyBody("x", ann.ID))
		ts.must(t, http.StatusForbidden, "DELETE", path, responder, nil)
		ts.must(t, http.StatusForbidden, "POST", path+"/overrides", responder, override)
		ts.must(t, http.StatusUnauthorized, "GET", path+"/shifts", "", nil)
		ts.must(t, http.StatusUnauthorized, "GET", "/api/schedules/name/ops", "", nil)
		ts.must(t, http.StatusUnauthorized, "GET", "/api/on-calls", "", nil)
	})
}

func TestShiftsAndOverridesAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return scheduleNow }
		ann, _ := ts.user(t, auth.User)
		bob, _ := ts.user(t, auth.User)
		cat, _ := ts.user(t, auth.User)
		created := decodeAs[scheduleJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey, weeklyBody("ops", ann.ID, bob.ID)))
		path := fmt.Sprintf("/api/schedules/%d", created.ID)
		who := map[int64]string{ann.ID: "ann", bob.ID: "bob", cat.ID: "cat"}
		shiftsIn := func(query string) []string {
			t.Helper()
			return shiftNames(decodeAs[[]shiftJSON](t, ts.must(t, http.StatusOK, "GET", path+"/shifts?"+query, ts.AdminKey, nil)), who)
		}
		week := "from=" + url.QueryEscape("2024-03-04T00:00") + "&until=" + url.QueryEscape("2024-03-12T00:00")
		want := []string{"ann 02-26T08:00→03-04T08:00", "bob 03-04T08:00→03-11T08:00", "ann 03-11T08:00→03-18T08:00"}
		if got := shiftsIn(week); !slices.Equal(got, want) {
			t.Errorf("shifts: %v, want %v", got, want)
		}

		// ilert-go's POST, then the spec's PUT; both 200 with the schedule's reference.
		added := decodeAs[struct {
			ID       int64     `json:"id"`
			Name     string    `json:"name"`
			Type     string    `json:"type"`
			Override shiftJSON `json:"override"`
		}](t, ts.must(t, http.StatusOK, "POST", path+"/overrides", ts.AdminKey,
			fmt.Sprintf(`{"user":{"id":%d},"start":"2024-03-05T12:00:00Z","end":"2024-03-06T12:00:00Z"}`, cat.ID)))
		if added.ID != created.ID || added.Name != "ops" || added.Type != "RECURRING" || added.Override.ID == 0 || added.Override.User.ID != cat.ID {
			t.Errorf("POST override: %+v", added)
		}
		ts.must(t, http.StatusOK, "PUT", path+"/overrides", ts.AdminKey,
			fmt.Sprintf(`{"user":{"id":%d,"firstName":""},"start":"2024-03-11T08:00","end":"2024-03-11T10:00"}`, bob.ID)) // Berlin's clock
		want = []string{"ann 02-26T08:00→03-04T08:00", "bob 03-04T08:00→03-05T12:00", "cat 03-05T12:00→03-06T12:00",
			"bob 03-06T12:00→03-11T09:00", "ann 03-11T09:00→03-18T08:00"}
		if got := shiftsIn(week); !slices.Equal(got, want) {
			t.Errorf("shifts with overrides: %v, want %v", got, want)
		}
		want = []string{"ann 02-26T08:00→03-04T08:00", "bob 03-04T08:00→03-11T08:00", "ann 03-11T08:00→03-18T08:00"}
		if got := shiftsIn(week + "&exclude-overrides=true"); !slices.Equal(got, want) {
			t.Errorf("shifts without overrides: %v, want %v", got, want)
		}
		// ilert-go sends from alone (and, with until, sends from twice): the shift at that instant.
		if got := shiftsIn("from=2024-03-05T13%3A00%3A00Z&until=2024-03-05T13%3A00%3A00Z"); !slices.Equal(got, []string{"cat 03-05T12:00→03-06T12:00"}) {
			t.Errorf("shifts at an instant: %v", got)
		}
		ts.must(t, http.StatusBadRequest, "GET", path+"/shifts?from=2024-03-05T00:00&until=2024-03-04T00:00", ts.AdminKey, nil)
		ts.must(t, http.StatusBadRequest, "GET", path+"/shifts?from=2024-01-01T00:00&until=2025-03-04T00:00", ts.AdminKey, nil)
		ts.must(t, http.StatusBadRequest, "GET", path+"/shifts?from=soon", ts.AdminKey, nil)
		ts.must(t, http.StatusBadRequest, "GET", path+"/shifts?exclude-overrides=maybe", ts.AdminKey, nil)

		overrides := decodeAs[[]shiftJSON](t, ts.must(t, http.StatusOK, "GET", path+"/overrides", ts.AdminKey, nil))
		if got := shiftNames(overrides, who); !slices.Equal(got, []string{"cat 03-05T12:00→03-06T12:00", "bob 03-11T07:00→03-11T09:00"}) {
			t.Errorf("overrides: %v", got)
		}
		ts.must(t, http.StatusBadRequest, "POST", path+"/overrides", ts.AdminKey, fmt.Sprintf(`{"user":{"id":%d},"start":"2024-03-05T12:00:00Z"}`, cat.ID))
		ts.must(t, http.StatusBadRequest, "POST", path+"/overrides", ts.AdminKey, `{"user":{"id":4242},"start":"2024-03-05T12:00:00Z","end":"2024-03-05T13:00:00Z"}`)
		ts.must(t, http.StatusNotFound, "POST", "/api/schedules/999/overrides", ts.AdminKey, fmt.Sprintf(`{"user":{"id":%d},"start":"2024-03-05T12:00:00Z","end":"2024-03-05T13:00:00Z"}`, cat.ID))

		ts.must(t, http.StatusNoContent, "DELETE", fmt.Sprintf("%s/overrides/%d", path, overrides[0].ID), ts.AdminKey, nil)
		ts.must(t, http.StatusNotFound, "DELETE", fmt.Sprintf("%s/overrides/%d", path, overrides[0].ID), ts.AdminKey, nil)
		if got := shiftNames(decodeAs[[]shiftJSON](t, ts.must(t, http.StatusOK, "GET", path+"/overrides", ts.AdminKey, nil)), who); len(got) != 1 {
			t.Errorf("after DELETE: %v", got)
		}

		on := decodeAs[shiftJSON](t, ts.must(t, http.StatusOK, "GET", path+"/user-on-call", ts.AdminKey, nil))
		if on.User.ID != bob.ID {
			t.Errorf("user-on-call: %+v", on)
		}
	})
}

func TestDeleteScheduleNamedByPolicy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ann, _ := ts.user(t, auth.User)
		created := decodeAs[scheduleJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey, weeklyBody("ops", ann.ID)))
		policy := decodeAs[struct{ ID int64 }](t, ts.must(t, http.StatusCreated, "POST", "/api/escalation-policies", ts.AdminKey,
			fmt.Sprintf(`{"name":"p","escalationRules":[{"escalationTimeout":5,"schedules":[{"id":%d,"name":"","type":""}]}]}`, created.ID)))
		status, body := ts.do(t, "DELETE", fmt.Sprintf("/api/schedules/%d", created.ID), ts.AdminKey, nil)
		if status != http.StatusBadRequest || !strings.Contains(string(body), `policy \"p\"`) {
			t.Fatalf("DELETE of a schedule a policy names: %d %s", status, body)
		}
		ts.must(t, http.StatusNoContent, "DELETE", fmt.Sprintf("/api/escalation-policies/%d", policy.ID), ts.AdminKey, nil)
		ts.must(t, http.StatusNoContent, "DELETE", fmt.Sprintf("/api/schedules/%d", created.ID), ts.AdminKey, nil)
	})
}

func TestOnCallsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return scheduleNow }
		ann, _ := ts.user(t, auth.User)
		bob, _ := ts.user(t, auth.User)
		ops := decodeAs[scheduleJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey, weeklyBody("ops", ann.ID, bob.ID)))
		db := decodeAs[scheduleJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey, weeklyBody("db", bob.ID)))
		type onCall struct {
			User     struct{ ID int64 } `json:"user"`
			Schedule struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			} `json:"schedule"`
			Start string `json:"start"`
			End   string `json:"end"`
		}
		get := func(query string) []string {
			t.Helper()
			list := decodeAs[[]onCall](t, ts.must(t, http.StatusOK, "GET", "/api/on-calls?"+query, ts.AdminKey, nil))
			out := []string{}
			for _, o := range list {
				out = append(out, fmt.Sprintf("%s:%d %s→%s", o.Schedule.Name, o.User.ID, o.Start, o.End))
			}
			return out
		}
		// Now: bob in both. db has bob alone, so his shift there runs to the horizon.
		if got := get(fmt.Sprintf("schedules=%d", ops.ID)); !slices.Equal(got, []string{fmt.Sprintf("ops:%d 2024-03-04T08:00:00Z→2024-03-11T08:00:00Z", bob.ID)}) {
			t.Errorf("now in ops: %v", got)
		}
		got := get(fmt.Sprintf("schedules=%d,%d&timezone=Europe/Berlin", ops.ID, db.ID))
		if len(got) != 2 || !strings.HasPrefix(got[0], "db:") || !strings.HasSuffix(got[1], "2024-03-04T09:00:00+01:00→2024-03-11T09:00:00+01:00") {
			t.Errorf("now in both, on Berlin's clock: %v", got)
		}
		got = get(fmt.Sprintf("users=%d&from=2024-03-01T00:00:00Z&until=2024-03-12T00:00:00Z", ann.ID))
		want := []string{fmt.Sprintf("ops:%d 2024-02-26T08:00:00Z→2024-03-04T08:00:00Z", ann.ID), fmt.Sprintf("ops:%d 2024-03-11T08:00:00Z→2024-03-18T08:00:00Z", ann.ID)}
		if !slices.Equal(got, want) {
			t.Errorf("ann's on-calls: %v, want %v", got, want)
		}
		if got := get(fmt.Sprintf("users=%d&from=2024-03-01T00:00:00Z&until=2024-03-12T00:00:00Z&start-index=1&max-results=1", ann.ID)); !slices.Equal(got, want[1:]) {
			t.Errorf("second page: %v", got)
		}
		ts.must(t, http.StatusBadRequest, "GET", "/api/on-calls?policies=1", ts.AdminKey, nil)
		ts.must(t, http.StatusBadRequest, "GET", "/api/on-calls?schedules=x", ts.AdminKey, nil)
		ts.must(t, http.StatusBadRequest, "GET", "/api/on-calls?timezone=Mars", ts.AdminKey, nil)
		ts.must(t, http.StatusBadRequest, "GET", "/api/on-calls?from=2024-01-01T00:00:00Z&until=2024-03-01T00:00:00Z", ts.AdminKey, nil)
	})
}

// feed fetches and parses a calendar feed.
func fetchFeed(t *testing.T, ts *testServer, feedURL string) *ics.Calendar {
	t.Helper()
	resp, err := http.Get(feedURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/calendar") {
		t.Fatalf("GET %s: %d %s", feedURL, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	cal, err := ics.ParseCalendar(resp.Body)
	if err != nil {
		t.Fatalf("the feed does not parse: %v", err)
	}
	return cal
}

// events renders a calendar's events as "SUMMARY START→END" in UTC, checking each has a UID.
func feedEvents(t *testing.T, cal *ics.Calendar) []string {
	t.Helper()
	out := []string{}
	uids := map[string]bool{}
	for _, ev := range cal.Events() {
		start, err1 := ev.GetStartAt()
		end, err2 := ev.GetEndAt()
		if err1 != nil || err2 != nil {
			t.Fatalf("event %s: %v %v", ev.Id(), err1, err2)
		}
		if ev.Id() == "" || uids[ev.Id()] {
			t.Fatalf("event UID %q missing or repeated", ev.Id())
		}
		uids[ev.Id()] = true
		out = append(out, fmt.Sprintf("%s %s→%s", ev.GetProperty(ics.ComponentPropertySummary).Value,
			start.UTC().Format("01-02T15:04"), end.UTC().Format("01-02T15:04")))
	}
	return out
}

func TestICalFeeds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return scheduleNow }
		ann, annKey := ts.user(t, auth.Responder)
		bob, _ := ts.user(t, auth.User)
		// ops rotates every 4 weeks, so the feed's window (7 days back, 60 ahead) holds few shifts.
		ops := decodeAs[scheduleJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey,
			strings.Replace(weeklyBody("ops", ann.ID, bob.ID), "P7D", "P28D", 1)))
		static := decodeAs[scheduleJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey,
			fmt.Sprintf(`{"name":"launch","timezone":"UTC","type":"STATIC","shifts":[{"user":{"id":%d},"start":"2024-03-20T00:00","end":"2024-03-21T00:00"}]}`, ann.ID)))

		u := decodeAs[struct{ URL, WebcalURL string }](t, ts.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/schedules/%d/ical-url", ops.ID), annKey, nil))
		if !strings.HasPrefix(u.URL, ts.URL+fmt.Sprintf("/api/schedules/%d/ical?token=", ops.ID)) || !strings.HasPrefix(u.WebcalURL, "webcal://") {
			t.Fatalf("ical-url: %+v", u)
		}
		cal := fetchFeed(t, ts, u.URL)
		// The handoff stays at 09:00 in Berlin: 08:00 UTC before 03-31, 07:00 after.
		want := []string{
			"On call: ops (RESPONDER 2) 02-26T08:00→03-25T08:00",
			"On call: ops (USER 3) 03-25T08:00→04-22T07:00",
			"On call: ops (RESPONDER 2) 04-22T07:00→05-20T07:00",
		}
		if got := feedEvents(t, cal); !slices.Equal(got, want) {
			t.Errorf("schedule feed:\n got  %v\n want %v", got, want)
		}
		if !strings.Contains(cal.Serialize(), "DTSTART:20240226T080000Z") {
			t.Errorf("DTSTART is not in UTC form:\n%s", cal.Serialize())
		}
		// RFC 5545: every line ends in CRLF, and a control character in a name (a carriage
		// return could start a property of its own) is not passed on.
		odd := bob
		odd.FirstName = "Bob\rATTENDEE:mailto:x@example.com"
		if err := ts.DB.UpdateAccount(t.Context(), &odd); err != nil {
			t.Fatal(err)
		}
		_, raw := ts.do(t, "GET", strings.TrimPrefix(u.URL, ts.URL), "", nil)
		if strings.Count(string(raw), "\n") != strings.Count(string(raw), "\r\n") || strings.Contains(string(raw), "\rATTENDEE") {
			t.Errorf("the feed has bare line ends or a raw carriage return:\n%q", raw)
		}
		again := fetchFeed(t, ts, u.URL)
		if cal.Events()[1].Id() != again.Events()[1].Id() {
			t.Error("a shift's UID changed between two fetches")
		}

		for _, bad := range []string{"", "?token=", "?token=nope", strings.TrimSuffix(u.URL[strings.Index(u.URL, "?"):], "A") + "B"} {
			status, _ := ts.do(t, "GET", fmt.Sprintf("/api/schedules/%d/ical%s", ops.ID, bad), "", nil)
			if status != http.StatusNotFound {
				t.Errorf("feed with token %q: %d, want 404", bad, status)
			}
		}
		status, _ := ts.do(t, "GET", fmt.Sprintf("/api/schedules/%d/ical%s", static.ID, u.URL[strings.Index(u.URL, "?"):]), "", nil)
		if status != http.StatusNotFound {
			t.Errorf("one schedule's token opened another's feed: %d", status)
		}
		rotated := decodeAs[struct{ URL string }](t, ts.must(t, http.StatusOK, "POST", fmt.Sprintf("/api/schedules/%d/ical-url", ops.ID), ts.AdminKey, nil))
		if status, _ := ts.do(t, "GET", strings.TrimPrefix(u.URL, ts.URL), "", nil); status != http.StatusNotFound {
			t.Errorf("the old URL still works after rotation: %d", status)
		}
		fetchFeed(t, ts, rotated.URL)

		// Ann's own feed: her shifts in both schedules, and nobody else's.
		mine := decodeAs[struct{ URL string }](t, ts.must(t, http.StatusOK, "GET", "/api/users/current/ical-url", annKey, nil))
		if !strings.HasPrefix(mine.URL, ts.URL+fmt.Sprintf("/api/users/%d/ical?token=", ann.ID)) {
			t.Fatalf("current user's ical-url: %s", mine.URL)
		}
		want = []string{ // in time order, across schedules
			"On call: ops 02-26T08:00→03-25T08:00",
			"On call: launch 03-20T00:00→03-21T00:00",
			"On call: ops 04-22T07:00→05-20T07:00",
		}
		if got := feedEvents(t, fetchFeed(t, ts, mine.URL)); !slices.Equal(got, want) {
			t.Errorf("user feed:\n got  %v\n want %v", got, want)
		}
		if status, _ := ts.do(t, "GET", fmt.Sprintf("/api/users/%d/ical?token=x", ann.ID), "", nil); status != http.StatusNotFound {
			t.Errorf("user feed with a wrong token: %d", status)
		}
		if status, _ := ts.do(t, "GET", fmt.Sprintf("/api/users/%d/ical%s", bob.ID, mine.URL[strings.Index(mine.URL, "?"):]), "", nil); status != http.StatusNotFound {
			t.Errorf("ann's token opened bob's feed: %d", status)
		}
		ts.must(t, http.StatusOK, "POST", "/api/users/current/ical-url", annKey, nil)
		if status, _ := ts.do(t, "GET", strings.TrimPrefix(mine.URL, ts.URL), "", nil); status != http.StatusNotFound {
			t.Errorf("ann's old feed URL still works after rotation: %d", status)
		}
	})
}

// TestIlertGoScheduleWire replays the schedule requests ilert-go v3.19 sent (the wire capture)
// against schedule 4.
func TestIlertGoScheduleWire(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn) // user 1 is the admin
		u2, _ := ts.user(t, auth.Responder)
		if u2.ID != 2 {
			t.Fatalf("user 2 has id %d", u2.ID)
		}
		for i := 1; i <= 4; i++ {
			ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey, weeklyBody(fmt.Sprint("s", i), u2.ID))
		}
		n := 0
		for _, req := range readWire(t) {
			if !strings.HasPrefix(req.path, "/api/schedules/") {
				continue
			}
			n++
			var body any
			if req.body != "" {
				body = req.body
			}
			status, resp := ts.do(t, req.method, req.path, ts.AdminKey, body)
			if status != http.StatusOK && status != http.StatusNoContent {
				t.Errorf("%s %s: %d %s", req.method, req.path, status, resp)
			}
			if status == http.StatusOK && !json.Valid(resp) {
				t.Errorf("%s %s: not JSON: %s", req.method, req.path, resp)
			}
		}
		if n != 3 {
			t.Fatalf("replayed %d schedule requests, want 3", n)
		}
	})
}

// A shift longer than the feed's window keeps its UID from one fetch to the next, though the
// window (and so the shift's start in the feed) moves.
func TestICalLongShiftKeepsItsUID(t *testing.T) {
	ts := newTestServer(t, storetest.SQLiteDSN(t))
	ts.DB.Now = func() time.Time { return scheduleNow }
	ann, annKey := ts.user(t, auth.Responder)
	// One person, on call since long before the feed's window.
	body := strings.Replace(weeklyBody("alone", ann.ID), "2024-02-26T09:00", "2023-01-02T09:00", 1)
	alone := decodeAs[scheduleJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey, body))
	u := decodeAs[struct{ URL string }](t, ts.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/schedules/%d/ical-url", alone.ID), annKey, nil))
	first := fetchFeed(t, ts, u.URL)
	ts.DB.Now = func() time.Time { return scheduleNow.Add(time.Hour) }
	second := fetchFeed(t, ts, u.URL)
	if len(first.Events()) == 0 || len(first.Events()) != len(second.Events()) {
		t.Fatalf("%d events, then %d", len(first.Events()), len(second.Events()))
	}
	for i := range first.Events() {
		if a, b := first.Events()[i].Id(), second.Events()[i].Id(); a != b {
			t.Errorf("event %d: UID %s, an hour later %s", i, a, b)
		}
	}
}

// A schedule of many short restrictions holds about 20,000 shifts a year. One answer holds at
// most 10,000: a longer range is refused with a clear message, a shorter one is answered.
func TestDenseScheduleAnswersAreBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return scheduleNow }
		ann, _ := ts.user(t, auth.User)
		bob, _ := ts.user(t, auth.User)
		cat, _ := ts.user(t, auth.User)
		restricted := func(user int64, fromMin, toMin int) string {
			var rs []string
			for _, day := range []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"} {
				for h := range 14 {
					rs = append(rs, fmt.Sprintf(`{"from":{"dayOfWeek":%q,"time":"%02d:%02d"},"to":{"dayOfWeek":%q,"time":"%02d:%02d"}}`, day, h, fromMin, day, h, toMin))
				}
			}
			return fmt.Sprintf(`{"name":"short","startsOn":"2024-01-01T00:00","users":[{"id":%d}],"rotation":"P7D","restrictionType":"TIMES_OF_WEEK","restrictions":[%s]}`,
				user, strings.Join(rs, ","))
		}
		body := fmt.Sprintf(`{"name":"dense","timezone":"UTC","type":"RECURRING","scheduleLayers":[
			{"name":"all","startsOn":"2024-01-01T00:00","users":[{"id":%d}],"rotation":"P7D"},%s,%s]}`,
			ann.ID, restricted(bob.ID, 0, 20), restricted(cat.ID, 30, 50))
		created := decodeAs[scheduleJSON](t, ts.must(t, http.StatusCreated, "POST", "/api/schedules", ts.AdminKey, body))
		path := fmt.Sprintf("/api/schedules/%d/shifts", created.ID)

		ts.wantError(t, http.StatusBadRequest, "INVALID_INPUT", "GET", path+"?from=2024-01-01T00:00&until=2024-12-31T00:00", ts.AdminKey, nil)
		if n := len(decodeAs[[]shiftJSON](t, ts.must(t, http.StatusOK, "GET", path+"?from=2024-03-01T00:00&until=2024-04-01T00:00", ts.AdminKey, nil))); n < 1000 {
			t.Errorf("a month: %d shifts, want the ~1,700 of them", n)
		}
		if n := len(decodeAs[[]shiftJSON](t, ts.must(t, http.StatusOK, "GET", "/api/on-calls?max-results=1000&from=2024-03-01T00:00:00Z&until=2024-03-31T00:00:00Z", ts.AdminKey, nil))); n != 1000 {
			t.Errorf("on-calls for a month: %d, want a full page", n)
		}
	})
}
