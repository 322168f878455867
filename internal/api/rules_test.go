package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/api"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/engine"
	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// rulesServer is a test server whose dry runs plan notifications (everyone by email).
func rulesServer(t *testing.T, dsn string) (*testServer, int64) {
	t.Helper()
	ts := newTestServerWith(t, dsn, func(o *api.Options) {
		o.Planner = engine.New(engine.Options{Store: o.Store, Directory: emailEveryone{}})
	})
	policy := decodeAs[struct{ ID int64 }](t, ts.must(t, 201, "POST", "/api/escalation-policies", ts.AdminKey,
		fmt.Sprintf(`{"name":"ops","escalationRules":[{"escalationTimeout":5,"users":[{"id":%d}]},{"escalationTimeout":10,"users":[{"id":%d}]}]}`,
			ts.Admin.ID, ts.Admin.ID)))
	return ts, policy.ID
}

// createRuledSource creates an alert source with extra fields and returns its id and key.
func createRuledSource(t *testing.T, ts *testServer, policy int64, extra string) (int64, string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":"rules","integrationType":"API","escalationPolicy":{"id":%d}%s}`, policy, extra)
	src := decodeAs[struct {
		ID             int64
		IntegrationKey string
	}](t, ts.must(t, 201, "POST", "/api/alert-sources", ts.AdminKey, body))
	return src.ID, src.IntegrationKey
}

// A source whose template, condition or support hours is wrong is refused when saved, with
// where it is wrong, and nothing is stored.
func TestSourceRulesCheckedOnSave(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts, policy := rulesServer(t, dsn)
		for name, c := range map[string]struct{ extra, want string }{
			"Template":     {`,"summaryTemplate":{"textTemplate":"Disk {{ customDetails.host"}}`, "summaryTemplate: line 1, column"},
			"Function":     {`,"alertKeyTemplate":{"textTemplate":"{{ alertKey.shout() }}"}}`, "alertKeyTemplate"},
			"Condition":    {`,"eventFilter":"event.summary contains"}`, "eventFilter: line 1, column"},
			"SupportHours": {`,"alertPriorityRule":"HIGH_DURING_SUPPORT_HOURS","supportHours":{"id":999}}`, "supportHours"},
			"NoHours":      {`,"alertPriorityRule":"LOW_DURING_SUPPORT_HOURS"}`, "needs supportHours"},
			"Inline":       {`,"alertPriorityRule":"HIGH_DURING_SUPPORT_HOURS","supportHours":{"timezone":"Europe/Berlin","supportDays":{"MONDAY":{"start":"8am","end":"17:00"}}}}`, "supportHours"},
		} {
			t.Run(name, func(t *testing.T) {
				body := fmt.Sprintf(`{"name":"bad","integrationType":"API","escalationPolicy":{"id":%d}%s}`, policy, c.extra)
				resp := ts.must(t, 400, "POST", "/api/alert-sources", ts.AdminKey, body)
				if !strings.Contains(string(resp), c.want) {
					t.Errorf("answer %s does not say %q", resp, c.want)
				}
			})
		}
		if list := decodeAs[[]json.RawMessage](t, ts.must(t, 200, "GET", "/api/alert-sources", ts.AdminKey, nil)); len(list) != 0 {
			t.Fatalf("%d sources stored after refused creates", len(list))
		}
		// An update with a bad rule changes nothing either.
		id, _ := createRuledSource(t, ts, policy, `,"eventFilter":"event.summary contains 'disk'"`)
		ts.must(t, 400, "PUT", fmt.Sprintf("/api/alert-sources/%d", id), ts.AdminKey,
			fmt.Sprintf(`{"name":"rules","integrationType":"API","escalationPolicy":{"id":%d},"eventFilter":"("}`, policy))
		got := decodeAs[struct{ EventFilter string }](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/alert-sources/%d?include=eventFilter", id), ts.AdminKey, nil))
		if got.EventFilter != "event.summary contains 'disk'" {
			t.Fatalf("eventFilter after a refused update: %q", got.EventFilter)
		}
	})
}

// Events go through the source's filter and templates.
func TestEventsThroughRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts, policy := rulesServer(t, dsn)
		_, key := createRuledSource(t, ts, policy, `,"eventFilter":"event.customDetails.env == 'prod'",
			"summaryTemplate":{"textTemplate":"{{ customDetails.host }}: {{ summary }}"},
			"alertKeyTemplate":{"textTemplate":"{{ customDetails.host }}/{{ customDetails.check.lowerCase() }}"}`)
		send := func(custom string) map[string]string {
			return decodeAs[map[string]string](t, ts.must(t, 202, "POST", "/api/events", "",
				fmt.Sprintf(`{"integrationKey":%q,"eventType":"ALERT","summary":"disk 91%% full","customDetails":%s}`, key, custom)))
		}
		if ans := send(`{"env":"dev","host":"db-1","check":"Disk"}`); ans["responseCode"] != "EVENT_FILTERED" {
			t.Fatalf("a dev event: %v, want EVENT_FILTERED", ans)
		}
		ans := send(`{"env":"prod","host":"db-1","check":"Disk"}`)
		if ans["responseCode"] != "NEW_ALERT_CREATED" || ans["alertKey"] != "db-1/disk" {
			t.Fatalf("a prod event: %v", ans)
		}
		a := decodeAs[struct{ Summary string }](t, ts.must(t, 200, "GET", strings.TrimPrefix(ans["alertUrl"], ts.URL), ts.AdminKey, nil))
		if a.Summary != "db-1: disk 91% full" {
			t.Fatalf("summary %q, want the template's", a.Summary)
		}
		if n := decodeAs[struct{ Count int }](t, ts.must(t, 200, "GET", "/api/alerts/count", ts.AdminKey, nil)).Count; n != 1 {
			t.Fatalf("%d alerts, want only the prod one", n)
		}
	})
}

type simulationJSON struct {
	Outcome      string
	ResponseCode string
	Reason       string
	Alert        *struct {
		ID       int64
		Summary  string
		Priority string
	}
	Notifications []struct {
		User            struct{ ID int64 }
		Method          string
		At              time.Time
		EscalationLevel int
	}
}

// A dry run answers what an event would do and whom it would page, through the same rules,
// and writes nothing.
func TestSimulate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts, policy := rulesServer(t, dsn)
		hours := decodeAs[struct{ ID int64 }](t, ts.must(t, 201, "POST", "/api/support-hours", ts.AdminKey,
			`{"name":"office","timezone":"Europe/Berlin","supportDays":{"MONDAY":{"start":"08:00","end":"17:00"},"TUESDAY":{"start":"08:00","end":"17:00"}}}`))
		id, key := createRuledSource(t, ts, policy, fmt.Sprintf(`,"alertPriorityRule":"HIGH_DURING_SUPPORT_HOURS",
			"supportHours":{"id":%d},"eventFilter":"event.summary not_contains 'test'"`, hours.ID))
		path := fmt.Sprintf("/api/alert-sources/%d/simulate", id)
		simulate := func(body string) simulationJSON {
			return decodeAs[simulationJSON](t, ts.must(t, 200, "POST", path, ts.AdminKey, body))
		}
		monday10 := "2026-11-23T09:00:00Z" // 10:00 in Berlin
		s := simulate(`{"event":{"eventType":"ALERT","summary":"disk full","alertKey":"disk"},"time":"` + monday10 + `"}`)
		if s.Outcome != "NEW_ALERT" || s.ResponseCode != "NEW_ALERT_CREATED" || s.Alert == nil || s.Alert.Priority != "HIGH" || s.Alert.ID != 0 {
			t.Fatalf("inside support hours: %+v", s)
		}
		if len(s.Notifications) != 2 || s.Notifications[0].EscalationLevel != 1 || s.Notifications[1].EscalationLevel != 2 ||
			s.Notifications[0].Method != "EMAIL" || !s.Notifications[1].At.Equal(s.Notifications[0].At.Add(5*time.Minute)) {
			t.Fatalf("plan: %+v, want level 1 at once and level 2 five minutes later", s.Notifications)
		}
		s = simulate(`{"event":{"eventType":"ALERT","summary":"disk full"},"time":"2026-11-21T03:00:00Z"}`) // a Saturday
		if s.Alert == nil || s.Alert.Priority != "LOW" || len(s.Notifications) != 1 {
			t.Fatalf("outside support hours: %+v, want a LOW alert paging level 1 only", s)
		}
		if s := simulate(`{"event":{"eventType":"ALERT","summary":"a test"}}`); s.Outcome != "DROPPED" || s.Reason == "" {
			t.Fatalf("filtered: %+v", s)
		}
		// Nothing was written.
		if n := decodeAs[struct{ Count int }](t, ts.must(t, 200, "GET", "/api/alerts/count", ts.AdminKey, nil)).Count; n != 0 {
			t.Fatalf("%d alerts after dry runs", n)
		}
		// An event for an open alert would be added to it.
		open := decodeAs[map[string]string](t, ts.must(t, 202, "POST", "/api/events", "",
			fmt.Sprintf(`{"integrationKey":%q,"eventType":"ALERT","summary":"disk full","alertKey":"disk"}`, key)))
		s = simulate(`{"event":{"eventType":"ALERT","summary":"disk still full","alertKey":"disk"}}`)
		if s.Outcome != "ADDED_TO_ALERT" || s.Alert == nil || fmt.Sprint(s.Alert.ID) != open["alertUrl"][strings.LastIndex(open["alertUrl"], "/")+1:] {
			t.Fatalf("for an open alert: %+v (opened %v)", s, open)
		}
		a := decodeAs[struct{ EventCount int }](t, ts.must(t, 200, "GET", strings.TrimPrefix(open["alertUrl"], ts.URL), ts.AdminKey, nil))
		if a.EventCount != 1 {
			t.Fatalf("the dry run added an event: %d events", a.EventCount)
		}
		ts.must(t, 400, "POST", path, ts.AdminKey, `{"time":"2026-11-23T09:00:00Z"}`)
		for _, bad := range []string{`{"event":null}`, `{"event":[]}`, `{"event":"x"}`, `{"event":{"eventType":"ALERT"}}`} {
			ts.wantError(t, 400, "INVALID_INPUT", "POST", path, ts.AdminKey, bad)
		}
		// The source's key is used, whatever the event says.
		if s := simulate(`{"event":{"integrationKey":"someone-elses-key-0123456789","eventType":"ALERT","summary":"disk full"},"time":"` + monday10 + `"}`); s.Outcome != "NEW_ALERT" {
			t.Fatalf("with another key in the event: %+v", s)
		}
		ts.must(t, 404, "POST", "/api/alert-sources/999/simulate", ts.AdminKey, `{"event":{"eventType":"ALERT","summary":"x"}}`)
		_, readerKey := ts.user(t, auth.Responder) // below USER: may not configure sources
		ts.must(t, 403, "POST", path, readerKey, `{"event":{"eventType":"ALERT","summary":"x"}}`)
	})
}

// A user raises a LOW alert to HIGH; it is logged.
func TestRaiseAlert(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts, policy := rulesServer(t, dsn)
		_, key := createRuledSource(t, ts, policy, `,"alertPriorityRule":"LOW"`)
		ans := decodeAs[map[string]string](t, ts.must(t, 202, "POST", "/api/events", "",
			fmt.Sprintf(`{"integrationKey":%q,"eventType":"ALERT","summary":"queue slow"}`, key)))
		path := strings.TrimPrefix(ans["alertUrl"], ts.URL)
		if p := decodeAs[struct{ Priority string }](t, ts.must(t, 200, "GET", path, ts.AdminKey, nil)).Priority; p != "LOW" {
			t.Fatalf("priority %s, want LOW", p)
		}
		if p := decodeAs[struct{ Priority string }](t, ts.must(t, 200, "PUT", path+"/raise", ts.AdminKey, nil)).Priority; p != "HIGH" {
			t.Fatalf("after the raise: %s, want HIGH", p)
		}
		logs := string(ts.must(t, 200, "GET", path+"/log-entries", ts.AdminKey, nil))
		if !strings.Contains(logs, "AlertRaisedByUserLogEntry") {
			t.Fatalf("log entries lack the raise: %s", logs)
		}
		ts.must(t, 404, "PUT", "/api/alerts/999/raise", ts.AdminKey, nil)
	})
}

// Support hours an alert source uses cannot be deleted; changing them moves the source's
// next auto-raise.
func TestSupportHoursInUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts, policy := rulesServer(t, dsn)
		body := func(start string) string {
			days := map[string]any{}
			for _, d := range []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"} {
				days[d] = map[string]string{"start": start, "end": "23:59"}
			}
			b, _ := json.Marshal(map[string]any{"name": "office", "timezone": "UTC", "supportDays": days})
			return string(b)
		}
		hours := decodeAs[struct{ ID int64 }](t, ts.must(t, 201, "POST", "/api/support-hours", ts.AdminKey, body("23:58")))
		src, _ := createRuledSource(t, ts, policy, fmt.Sprintf(`,"alertPriorityRule":"HIGH_DURING_SUPPORT_HOURS",
			"supportHours":{"id":%d},"autoRaiseAlerts":true`, hours.ID))
		hoursPath := fmt.Sprintf("/api/support-hours/%d", hours.ID)
		cfgWantError(t, ts, 400, "CONFLICT", "DELETE", hoursPath, ts.AdminKey, nil)

		nextRaise := func() time.Time {
			t.Helper()
			far := time.Now().Add(48 * time.Hour)
			due, err := ts.DB.ClaimRaises(t.Context(), far, far, 10)
			if err != nil || len(due) != 1 || due[0].SourceID != src {
				t.Fatalf("raises: %+v %v", due, err)
			}
			// Give the claim back for the next look.
			if err := ts.DB.SetRaise(t.Context(), src, &due[0].DueAt); err != nil {
				t.Fatal(err)
			}
			return due[0].DueAt
		}
		if got := nextRaise().UTC().Format("15:04"); got != "23:58" {
			t.Fatalf("next raise at %s, want 23:58", got)
		}
		ts.must(t, 200, "PUT", hoursPath, ts.AdminKey, body("23:30"))
		if got := nextRaise().UTC().Format("15:04"); got != "23:30" {
			t.Fatalf("after the change the next raise is at %s, want 23:30", got)
		}
		ts.must(t, 204, "DELETE", fmt.Sprintf("/api/alert-sources/%d", src), ts.AdminKey, nil)
		ts.must(t, 204, "DELETE", hoursPath, ts.AdminKey, nil)
	})
}

// While a maintenance window is on, events open no alert and the source says IN_MAINTENANCE;
// ended early, the source alerts again.
func TestEventsInMaintenance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts, policy := rulesServer(t, dsn)
		id, key := createRuledSource(t, ts, policy, "")
		now := time.Now().UTC()
		window := decodeAs[struct{ ID int64 }](t, ts.must(t, 200, "POST", "/api/maintenance-windows", ts.AdminKey,
			fmt.Sprintf(`{"summary":"upgrade","timezone":"UTC","start":%q,"end":%q,"alertSources":[{"id":%d}]}`,
				now.Add(-time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339), id)))
		send := func(alertKey string) map[string]string {
			return decodeAs[map[string]string](t, ts.must(t, 202, "POST", "/api/events", "",
				fmt.Sprintf(`{"integrationKey":%q,"eventType":"ALERT","summary":"disk full","alertKey":%q}`, key, alertKey)))
		}
		if ans := send("a"); ans["responseCode"] != "ALERT_SOURCE_IN_MAINTENANCE" || ans["alertUrl"] != "" {
			t.Fatalf("in maintenance: %v", ans)
		}
		src := decodeAs[struct{ Status string }](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/alert-sources/%d", id), ts.AdminKey, nil))
		if src.Status != "IN_MAINTENANCE" {
			t.Fatalf("source status %s, want IN_MAINTENANCE", src.Status)
		}
		ts.must(t, 200, "PUT", fmt.Sprintf("/api/maintenance-windows/%d", window.ID), ts.AdminKey,
			fmt.Sprintf(`{"summary":"upgrade","timezone":"UTC","start":%q,"end":%q,"alertSources":[{"id":%d}]}`,
				now.Add(-time.Minute).Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339Nano), id))
		time.Sleep(1100 * time.Millisecond) // the source's cached state lasts a second
		if ans := send("b"); ans["responseCode"] != "NEW_ALERT_CREATED" {
			t.Fatalf("after the window ended early: %v", ans)
		}
	})
}

// An alert opened by hand without a priority gets the one an event would: the source's rule,
// with its support hours.
func TestManualAlertPriorityFollowsSupportHours(t *testing.T) {
	ts, policy := rulesServer(t, storetest.SQLiteDSN(t))
	// Support hours every day, but closed for years around now: outside them.
	closed := decodeAs[struct{ ID int64 }](t, ts.must(t, 201, "POST", "/api/support-hours", ts.AdminKey,
		`{"name":"closed","timezone":"UTC","supportDays":{"MONDAY":{"start":"00:00","end":"00:00"},"TUESDAY":{"start":"00:00","end":"00:00"},
		"WEDNESDAY":{"start":"00:00","end":"00:00"},"THURSDAY":{"start":"00:00","end":"00:00"},"FRIDAY":{"start":"00:00","end":"00:00"},
		"SATURDAY":{"start":"00:00","end":"00:00"},"SUNDAY":{"start":"00:00","end":"00:00"}},
		"exceptions":[{"name":"closed","start":"2020-01-01","end":"2040-12-31","supportStatus":"OUTSIDE"}]}`))
	src, _ := createRuledSource(t, ts, policy, fmt.Sprintf(`,"alertPriorityRule":"HIGH_DURING_SUPPORT_HOURS","supportHours":{"id":%d}`, closed.ID))
	a := decodeAs[struct{ Priority string }](t, ts.must(t, 201, "POST", "/api/alerts", ts.AdminKey,
		fmt.Sprintf(`{"summary":"by hand","alertSource":{"id":%d}}`, src)))
	if a.Priority != "LOW" {
		t.Fatalf("a manual alert outside support hours is %s, want LOW as an event's would be", a.Priority)
	}
	b := decodeAs[struct{ Priority string }](t, ts.must(t, 201, "POST", "/api/alerts", ts.AdminKey,
		fmt.Sprintf(`{"summary":"by hand","alertSource":{"id":%d},"priority":"HIGH"}`, src)))
	if b.Priority != "HIGH" {
		t.Fatalf("a manual alert asked to be HIGH is %s", b.Priority)
	}
}

// webhookEveryone pages everyone by a webhook whose URL holds its token.
type webhookEveryone struct{ emailEveryone }

const secretHook = "https://hooks.example.com/services/T0001/B0001/XsecretTOKEN"

func (webhookEveryone) Deliveries(_ context.Context, users []int64, _ alert.Priority) (map[int64][]engine.Delivery, error) {
	out := map[int64][]engine.Delivery{}
	for _, u := range users {
		out[u] = []engine.Delivery{{Method: notify.Webhook, Target: secretHook}}
	}
	return out, nil
}

// A dry run shows a webhook as the notifications list does, by scheme and host: its path is
// often the credential, and the one who runs the dry run need not own it.
func TestSimulateHidesWebhookURLs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServerWith(t, dsn, func(o *api.Options) {
			o.Planner = engine.New(engine.Options{Store: o.Store, Directory: webhookEveryone{}})
		})
		policy := decodeAs[struct{ ID int64 }](t, ts.must(t, 201, "POST", "/api/escalation-policies", ts.AdminKey,
			fmt.Sprintf(`{"name":"ops","escalationRules":[{"escalationTimeout":5,"users":[{"id":%d}]}]}`, ts.Admin.ID)))
		id, _ := createRuledSource(t, ts, policy.ID, "")
		resp := ts.must(t, 200, "POST", fmt.Sprintf("/api/alert-sources/%d/simulate", id), ts.AdminKey,
			`{"event":{"eventType":"ALERT","summary":"disk full"}}`)
		if strings.Contains(string(resp), "secret") || !strings.Contains(string(resp), `"target":"https://hooks.example.com/[redacted]"`) {
			t.Fatalf("dry run answered %s", resp)
		}
	})
}

// ilert's deprecated HEARTBEAT sources are refused when created; one stored before can still
// be changed (switched off, say).
func TestHeartbeatSourceType(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts, policy := rulesServer(t, dsn)
		body := fmt.Sprintf(`{"name":"nightly","integrationType":"HEARTBEAT","escalationPolicy":{"id":%d}`, policy)
		e := ts.wantError(t, 400, "INVALID_INPUT", "POST", "/api/alert-sources", ts.AdminKey, body+`}`)
		if !strings.Contains(e.Message, "/api/heartbeat-monitors") {
			t.Errorf("refusal %q does not point to heartbeat monitors", e.Message)
		}
		old := alert.Source{Name: "nightly", IntegrationType: "HEARTBEAT", PolicyID: policy}
		if err := ts.DB.CreateSource(context.Background(), &old, nil); err != nil {
			t.Fatal(err)
		}
		ts.must(t, 200, "PUT", fmt.Sprintf("/api/alert-sources/%d", old.ID), ts.AdminKey, body+`,"active":false}`)
	})
}
