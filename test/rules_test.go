package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// A job's summary arrives outside support hours on a HIGH_DURING_SUPPORT_HOURS source with
// auto-raise: the alert is LOW, so the on-call user gets only their low-priority email and
// nothing escalates. When support hours begin, tocsin raises it to HIGH and logs it; the
// high-priority rule rings the user's phone, the call reads the summary, the user presses 2,
// and the alert is resolved. Support hours here begin at the next minute, so the test waits
// for real time to pass (at most about 80 seconds); the weekly pattern, week ends and
// holidays are covered with a fake clock in internal/supporthours and internal/rules.
func TestSupportHoursAutoRaiseEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel() // both databases wait for the same minute
		p := startPaging(t, dsn)
		smtpSrv, tw, srv, c := p.mail, p.twilio, p.srv, p.client

		const (
			email   = "oncall@example.com"
			phone   = "+14155550199"
			summary = "Nightly export: 3 of 120 jobs failed"
		)
		user := c.createUser(t, "Olga", "On-Call", "olga@example.com")
		mailID := c.createContact(t, user, "emails", map[string]any{"target": email})
		telID := c.createContact(t, user, "phone-numbers", map[string]any{"regionCode": "US", "target": phone})
		c.call(t, "POST", fmt.Sprintf("/api/users/%d/notification-preferences/alerts", user), map[string]any{
			"method": "EMAIL", "contact": map[string]any{"id": mailID}, "delayMin": 0, "type": "LOW_PRIORITY",
		}, http.StatusCreated, nil)
		c.createAlertRule(t, user, "VOICE", telID, 0)

		// Support hours in Berlin that begin at the next whole minute, on today's weekday there.
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		begin := time.Now().In(berlin).Truncate(time.Minute).Add(time.Minute)
		if time.Until(begin) < 15*time.Second {
			begin = begin.Add(time.Minute)
		}
		days := map[string]any{}
		for _, d := range []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"} {
			days[d] = nil
		}
		days[strings.ToUpper(begin.Weekday().String())] = map[string]any{
			"start": begin.Format("15:04"), "end": begin.Add(2 * time.Hour).Format("15:04")}
		var hours struct {
			ID int64 `json:"id"`
		}
		c.call(t, "POST", "/api/support-hours", map[string]any{"name": "office", "timezone": "Europe/Berlin", "supportDays": days},
			http.StatusCreated, &hours)

		var policy struct {
			ID int64 `json:"id"`
		}
		c.call(t, "POST", "/api/escalation-policies", map[string]any{"name": "nightly",
			"escalationRules": []any{map[string]any{"escalationTimeout": 5, "users": []any{map[string]any{"id": user}}}}},
			http.StatusCreated, &policy)
		var source struct {
			IntegrationKey string          `json:"integrationKey"`
			SupportHours   json.RawMessage `json:"supportHours"`
		}
		c.call(t, "POST", "/api/alert-sources", map[string]any{"name": "nightly jobs", "integrationType": "API",
			"escalationPolicy": map[string]any{"id": policy.ID}, "alertPriorityRule": "HIGH_DURING_SUPPORT_HOURS",
			"supportHours": map[string]any{"id": hours.ID}, "autoRaiseAlerts": true}, http.StatusCreated, &source)

		ans := postEvent(t, srv.URL, source.IntegrationKey, "nightly-export", summary)
		id := alertIDOf(ans.AlertURL)
		if ans.ResponseCode != "NEW_ALERT_CREATED" || id == 0 {
			t.Fatalf("POST /api/events answered %+v, want a new alert", ans)
		}
		alertPath := fmt.Sprintf("/api/alerts/%d", id)
		var a alertDetail
		c.call(t, "GET", alertPath, nil, http.StatusOK, &a)
		if a.Priority != "LOW" {
			t.Fatalf("outside support hours the alert is %s, want LOW", a.Priority)
		}
		waitUntil(t, 15*time.Second, "the low-priority email", func() bool { return len(smtpSrv.received()) >= 1 })
		if _, calls, _ := tw.sent(); len(calls) != 0 {
			t.Fatalf("a LOW alert rang the phone before support hours: %v", calls)
		}

		t.Logf("waiting for support hours to begin at %s", begin.Format(time.RFC3339))
		waitUntil(t, time.Until(begin)+30*time.Second, "the call once support hours begin", func() bool {
			_, calls, _ := tw.sent()
			return len(calls) >= 1
		})
		if time.Now().Before(begin) {
			t.Fatalf("the phone rang before support hours began at %s", begin)
		}
		c.call(t, "GET", alertPath, nil, http.StatusOK, &a)
		if a.Priority != "HIGH" || a.Status != "PENDING" {
			t.Fatalf("after support hours began the alert is %s %s, want PENDING HIGH", a.Status, a.Priority)
		}
		raised := false
		for _, e := range c.logEntries(t, id) {
			raised = raised || e.LogEntryType == "AlertRaisedBySystemLogEntry"
		}
		if !raised {
			t.Errorf("the alert's log has no AlertRaisedBySystemLogEntry: %+v", c.logEntries(t, id))
		}

		_, calls, problems := tw.sent()
		for _, p := range problems {
			t.Errorf("fake Twilio refused a request: %s", p)
		}
		call := calls[0]
		if call.Get("To") != phone {
			t.Errorf("call to %q, want %s", call.Get("To"), phone)
		}
		x := parseTwiML(t, call.Get("Twiml"))
		if x.Gather == nil || !strings.Contains(x.Gather.Say, summary) {
			t.Fatalf("the call does not read the summary:\n%s", call.Get("Twiml"))
		}
		keypress := url.Values{
			"AccountSid": {twilioSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {"CA" + strings.Repeat("8", 32)},
			"CallStatus": {"in-progress"}, "Direction": {"outbound-api"}, "Digits": {"2"},
			"From": {twilioFrom}, "To": {phone}, "FinishedOnKey": {""},
		}
		got := postCallback(t, x.Gather.Action, keypress, twilioSignature(twilioToken, x.Gather.Action, keypress))
		if got.status != http.StatusOK {
			t.Fatalf("the keypress answered %d: %s", got.status, got.body)
		}
		c.call(t, "GET", alertPath, nil, http.StatusOK, &a)
		if a.Status != "RESOLVED" {
			t.Fatalf("after pressing 2 the alert is %s, want RESOLVED", a.Status)
		}
		if n := len(smtpSrv.received()); n != 1 {
			t.Errorf("%d emails, want only the one low-priority email", n)
		}
	})
}
