package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// maintenanceJSON is a maintenance window as the API answers it.
type maintenanceJSON struct {
	ID           int64     `json:"id"`
	Timezone     string    `json:"timezone"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Summary      string    `json:"summary"`
	Description  string    `json:"description"`
	AlertSources []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"alertSources"`
	Services      []struct{ ID int64 } `json:"services"`
	CreatedBy     *string              `json:"createdBy"`
	Notifications map[string]bool      `json:"notifications"`
}

// The clock of the maintenance tests: 2024-05-01 12:00 UTC.
var maintenanceNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// maintenanceBody is a window over the sources from start to end (RFC 3339 text).
func maintenanceBody(summary, start, end string, sources ...int64) string {
	refs := make([]string, len(sources))
	for i, id := range sources {
		refs[i] = fmt.Sprintf(`{"id":%d}`, id)
	}
	return fmt.Sprintf(`{"summary":%q,"timezone":"Europe/Berlin","start":%q,"end":%q,"alertSources":[%s],"services":[]}`,
		summary, start, end, strings.Join(refs, ","))
}

func maintenanceIDs(list []maintenanceJSON) []int64 {
	ids := []int64{}
	for _, w := range list {
		ids = append(ids, w.ID)
	}
	return ids
}

func TestMaintenanceWindowsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return maintenanceNow }
		f := storetest.NewFixture(t, ts.DB)
		a := f.Source.ID
		b := decodeAs[struct{ ID int64 }](t, ts.must(t, http.StatusCreated, "POST", "/api/alert-sources", ts.AdminKey,
			fmt.Sprintf(`{"name":"edge","integrationType":"API","escalationPolicy":{"id":%d}}`, f.Policy.ID))).ID
		ann, annKey := ts.user(t, auth.User)

		// Created ahead of time, in Berlin's time: 20:00 to 23:00 UTC.
		body := fmt.Sprintf(`{"summary":" DB upgrade ","description":"primary moves","timezone":"Europe/Berlin",
			"start":"2024-05-01T22:00:00+02:00","end":"2024-05-02T01:00:00.000+02:00","alertSources":[{"id":%d,"name":""},{"id":%d}],
			"services":[],"createdBy":"someone else","notifications":{"atCreation":true,"atStart":false,"atEnd":true}}`, b, a)
		created := decodeAs[maintenanceJSON](t, ts.must(t, http.StatusOK, "POST", "/api/maintenance-windows", annKey, body))
		if created.ID == 0 || created.Summary != "DB upgrade" || created.Description != "primary moves" || created.Timezone != "Europe/Berlin" ||
			!created.Start.Equal(time.Date(2024, 5, 1, 20, 0, 0, 0, time.UTC)) || !created.End.Equal(time.Date(2024, 5, 1, 23, 0, 0, 0, time.UTC)) ||
			len(created.AlertSources) != 2 || created.AlertSources[0].ID != a || created.AlertSources[1].Name != "edge" ||
			created.Services == nil || len(created.Services) != 0 ||
			created.CreatedBy == nil || *created.CreatedBy != ann.Email ||
			!created.Notifications["atCreation"] || created.Notifications["atStart"] || !created.Notifications["atEnd"] {
			t.Fatalf("created: %+v", created)
		}
		path := fmt.Sprintf("/api/maintenance-windows/%d", created.ID)
		if got := decodeAs[maintenanceJSON](t, ts.must(t, http.StatusOK, "GET", path, ts.AdminKey, nil)); got.ID != created.ID ||
			got.Summary != created.Summary || got.CreatedBy == nil || *got.CreatedBy != ann.Email || len(got.AlertSources) != 2 {
			t.Errorf("GET: %+v", got)
		}

		now := decodeAs[maintenanceJSON](t, ts.must(t, http.StatusOK, "POST", "/api/maintenance-windows", ts.AdminKey,
			maintenanceBody("now", "2024-05-01T11:00:00Z", "2024-05-01T13:00:00Z", a))).ID
		past := decodeAs[maintenanceJSON](t, ts.must(t, http.StatusOK, "POST", "/api/maintenance-windows", ts.AdminKey,
			maintenanceBody("past", "2024-04-30T08:00:00Z", "2024-04-30T09:00:00Z", b))).ID
		next := created.ID

		for _, c := range []struct {
			query string
			want  []int64
		}{
			{"", []int64{next, now, past}},
			{"?state=OPEN", []int64{next, now}},
			{"?state=CLOSED", []int64{past}},
			{fmt.Sprintf("?sources=%d", a), []int64{next, now}},
			{fmt.Sprintf("?sources=%d&state=CLOSED", b), []int64{past}},
			{fmt.Sprintf("?sources=%d,%d&max-results=2", a, b), []int64{next, now}},
			{fmt.Sprintf("?sources=%d&sources=%d&start-index=2", a, b), []int64{past}},
			{"?from=2024-05-01T12:30:00Z&until=2024-05-01T20:00:00Z", []int64{next, now}},
			{"?from=2024-04-30&until=2024-04-30T23:59:59Z", []int64{past}},
			{"?from=2024-05-01T13:00:00Z", []int64{next}},
			{"?until=2024-05-01T10:00:00Z", []int64{past}},
		} {
			list := decodeAs[[]maintenanceJSON](t, ts.must(t, http.StatusOK, "GET", "/api/maintenance-windows"+c.query, ts.AdminKey, nil))
			if got := maintenanceIDs(list); !slices.Equal(got, c.want) {
				t.Errorf("GET /api/maintenance-windows%s: %v, want %v", c.query, got, c.want)
			}
		}

		// A window read back can be written back; ending it now closes it at once.
		ctx := context.Background()
		nowPath := fmt.Sprintf("/api/maintenance-windows/%d", now)
		if on, _ := ts.DB.InMaintenance(ctx, a, maintenanceNow); !on {
			t.Fatal("the source is not in maintenance during its window")
		}
		readBack := ts.must(t, http.StatusOK, "GET", nowPath, ts.AdminKey, nil)
		ended := bytes.Replace(readBack, []byte(`"end":"2024-05-01T13:00:00Z"`), []byte(`"end":"2024-05-01T12:00:00Z"`), 1)
		updated := decodeAs[maintenanceJSON](t, ts.must(t, http.StatusOK, "PUT", nowPath, annKey, ended))
		if !updated.End.Equal(maintenanceNow) || updated.CreatedBy == nil || *updated.CreatedBy != ts.Admin.Email || updated.Summary != "now" {
			t.Errorf("ended early: %+v", updated)
		}
		if on, _ := ts.DB.InMaintenance(ctx, a, maintenanceNow); on {
			t.Error("the source is still in maintenance after its window was ended")
		}
		closed := decodeAs[[]maintenanceJSON](t, ts.must(t, http.StatusOK, "GET", "/api/maintenance-windows?state=closed", ts.AdminKey, nil))
		if got := maintenanceIDs(closed); !slices.Equal(got, []int64{now, past}) {
			t.Errorf("closed after ending early: %v", got)
		}

		ts.must(t, http.StatusNoContent, "DELETE", path, annKey, nil)
		ts.must(t, http.StatusNotFound, "GET", path, ts.AdminKey, nil)
		ts.must(t, http.StatusNotFound, "DELETE", path, ts.AdminKey, nil)
		cfgWantError(t, ts, http.StatusNotFound, "NOT_FOUND", "PUT", path, ts.AdminKey,
			maintenanceBody("x", "2024-05-01T11:00:00Z", "2024-05-01T13:00:00Z"))
	})
}

func TestMaintenanceWindowsBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return maintenanceNow }
		src := storetest.NewFixture(t, ts.DB).Source.ID
		good := maintenanceBody("deploy", "2024-05-01T13:00:00Z", "2024-05-01T14:00:00Z", src)
		kept := decodeAs[maintenanceJSON](t, ts.must(t, http.StatusOK, "POST", "/api/maintenance-windows", ts.AdminKey, good))
		cases := []struct {
			name, body, want string
		}{
			{"end before start", maintenanceBody("deploy", "2024-05-01T13:00:00Z", "2024-05-01T12:00:00Z", src), "end (2024-05-01T12:00:00Z) must be after start"},
			{"end equal to start", maintenanceBody("deploy", "2024-05-01T13:00:00Z", "2024-05-01T15:00:00+02:00", src), "must be after start"},
			{"bad zone", strings.Replace(good, "Europe/Berlin", "Berlin", 1), `timezone "Berlin" is not an IANA time zone`},
			{"unknown source", maintenanceBody("deploy", "2024-05-01T13:00:00Z", "2024-05-01T14:00:00Z", src, 4242), "alert source 4242 does not exist"},
			{"services", strings.Replace(good, `"services":[]`, `"services":[{"id":1}]`, 1), "services are not supported yet"},
			{"missing summary", strings.Replace(good, `"summary":"deploy",`, "", 1), "summary is required"},
			{"blank summary", maintenanceBody("  ", "2024-05-01T13:00:00Z", "2024-05-01T14:00:00Z"), "summary is required"},
			{"long summary", maintenanceBody(strings.Repeat("x", 1025), "2024-05-01T13:00:00Z", "2024-05-01T14:00:00Z"), "summary must be at most 1024 characters"},
			{"missing start", strings.Replace(good, `"start":"2024-05-01T13:00:00Z",`, "", 1), "start is required"},
			{"start without offset", maintenanceBody("deploy", "2024-05-01T13:00:00", "2024-05-01T14:00:00Z"), `start "2024-05-01T13:00:00" is not an ISO-8601 date-time with an offset or Z`},
			{"end not a date", maintenanceBody("deploy", "2024-05-01T13:00:00Z", "tomorrow"), `end "tomorrow" is not an ISO-8601 date-time`},
			{"source without id", strings.Replace(good, fmt.Sprintf(`{"id":%d}`, src), `{"name":"x"}`, 1), "alertSources[0].id is required"},
			{"notifications not booleans", strings.Replace(good, `"services":[]`, `"notifications":{"atStart":"yes"}`, 1), "invalid body"},
			{"malformed JSON", `{"summary":`, "invalid body"},
		}
		for _, c := range cases {
			for _, path := range []string{"POST /api/maintenance-windows", fmt.Sprintf("PUT /api/maintenance-windows/%d", kept.ID)} {
				method, path, _ := strings.Cut(path, " ")
				status, body := ts.do(t, method, path, ts.AdminKey, c.body)
				e := decodeAs[struct {
					Status  int
					Message string
					Code    string
				}](t, body)
				if status != http.StatusBadRequest || e.Status != 400 || e.Code != "INVALID_INPUT" || !strings.Contains(e.Message, c.want) {
					t.Errorf("%s %s: %d %s, want 400 saying %q", method, c.name, status, body, c.want)
				}
			}
		}
		list := decodeAs[[]maintenanceJSON](t, ts.must(t, http.StatusOK, "GET", "/api/maintenance-windows", ts.AdminKey, nil))
		if len(list) != 1 || list[0].Summary != "deploy" || !list[0].End.Equal(time.Date(2024, 5, 1, 14, 0, 0, 0, time.UTC)) ||
			len(list[0].AlertSources) != 1 {
			t.Fatalf("refused requests changed the windows: %+v", list)
		}

		for _, query := range []string{"?state=SOON", "?services=1", "?sources=abc", "?from=yesterday",
			"?from=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z", "?max-results=101", "?start-index=-1"} {
			cfgWantError(t, ts, http.StatusBadRequest, "INVALID_INPUT", "GET", "/api/maintenance-windows"+query, ts.AdminKey, nil)
		}
		cfgWantError(t, ts, http.StatusBadRequest, "INVALID_INPUT", "GET", "/api/maintenance-windows/abc", ts.AdminKey, nil)
		cfgWantError(t, ts, http.StatusNotFound, "NOT_FOUND", "GET", "/api/maintenance-windows/999", ts.AdminKey, nil)
		cfgWantError(t, ts, http.StatusNotFound, "NOT_FOUND", "DELETE", "/api/maintenance-windows/999", ts.AdminKey, nil)
	})
}

func TestMaintenanceWindowsRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.DB.Now = func() time.Time { return maintenanceNow }
		src := storetest.NewFixture(t, ts.DB).Source.ID
		_, guest := ts.user(t, auth.Guest)
		_, stakeholder := ts.user(t, auth.Stakeholder)
		_, responder := ts.user(t, auth.Responder)
		body := maintenanceBody("deploy", "2024-05-01T13:00:00Z", "2024-05-01T14:00:00Z", src)
		created := decodeAs[maintenanceJSON](t, ts.must(t, http.StatusOK, "POST", "/api/maintenance-windows", ts.AdminKey, body))
		path := fmt.Sprintf("/api/maintenance-windows/%d", created.ID)

		ts.must(t, http.StatusOK, "GET", "/api/maintenance-windows", stakeholder, nil)
		ts.must(t, http.StatusOK, "GET", path, stakeholder, nil)
		for _, key := range []string{stakeholder, responder} {
			cfgWantError(t, ts, http.StatusForbidden, "FORBIDDEN", "POST", "/api/maintenance-windows", key, body)
			cfgWantError(t, ts, http.StatusForbidden, "FORBIDDEN", "PUT", path, key, body)
			cfgWantError(t, ts, http.StatusForbidden, "FORBIDDEN", "DELETE", path, key, nil)
		}
		cfgWantError(t, ts, http.StatusForbidden, "FORBIDDEN", "GET", "/api/maintenance-windows", guest, nil)
		cfgWantError(t, ts, http.StatusUnauthorized, "UNAUTHORIZED", "GET", path, "", nil)
		cfgWantError(t, ts, http.StatusUnauthorized, "UNAUTHORIZED", "POST", "/api/maintenance-windows", "", body)

		list := decodeAs[[]maintenanceJSON](t, ts.must(t, http.StatusOK, "GET", "/api/maintenance-windows", ts.AdminKey, nil))
		if len(list) != 1 || list[0].Summary != "deploy" || !list[0].End.Equal(created.End) {
			t.Errorf("refused writes changed the windows: %+v", list)
		}
	})
}
