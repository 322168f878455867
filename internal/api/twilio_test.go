package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/api"
	"github.com/tocsinhq/tocsin/internal/notify/twilio"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// twilioSign signs a callback as Twilio does: HMAC-SHA1 over the URL and the sorted params.
func twilioSign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fullURL
	for _, k := range keys {
		s += k + form.Get(k)
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// A provider's report that an SMS never arrived marks the notification ERROR and says so on
// the alert; an unsigned report changes nothing.
func TestTwilioStatusCallback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		const token = "f00dfeedf00dfeedf00dfeedf00dfeed"
		var tw *twilio.Config
		ts := newTestServerWith(t, dsn, func(o *api.Options) {
			tw = &twilio.Config{AccountSID: "AC0123", AuthToken: token, From: "+15005550006", PublicURL: o.PublicURL}
			o.Twilio = tw
		})
		ctx := context.Background()
		f := storetest.NewFixture(t, ts.DB)
		res, err := ts.DB.ApplyEvents(ctx, []store.EventWork{{Source: f.Source, Event: &alert.Event{Type: alert.EventAlert, AlertKey: "k", Summary: "s"}}})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		timers, _ := ts.DB.ClaimTimers(ctx, now, now.Add(time.Minute), 10)
		page := store.NewNotification{UserID: f.User.ID, Method: "SMS", Target: "+4915112345678", DueAt: now}
		if ok, err := ts.DB.CompleteTimer(ctx, timers[0], store.TimerOutcome{Notifications: []store.NewNotification{page}}); !ok || err != nil {
			t.Fatalf("complete: %v %v", ok, err)
		}
		outs, _ := ts.DB.ClaimNotifications(ctx, time.Now(), time.Now().Add(time.Minute), 10)
		if err := ts.DB.FinishNotification(ctx, outs[0], store.SendOutcome{}); err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("%s?alert=%d&msg=%d", twilio.SMSStatusPath, res[0].AlertID, outs[0].ID)
		form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}
		post := func(sig string) int {
			req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if sig != "" {
				req.Header.Set(twilio.SignatureHeader, sig)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		status := func() string {
			ns, _ := ts.DB.Notifications(ctx, res[0].AlertID)
			return ns[0].Status + " " + ns[0].ErrorMessage
		}
		if got := post(""); got != 403 || !strings.HasPrefix(status(), "SUCCESS") {
			t.Fatalf("unsigned report: %d, notification %s", got, status())
		}
		if got := post(twilioSign("wrong", ts.URL+path, form)); got != 403 || !strings.HasPrefix(status(), "SUCCESS") {
			t.Fatalf("badly signed report: %d, notification %s", got, status())
		}
		if got := post(twilioSign(token, ts.URL+path, form)); got != 204 {
			t.Fatalf("signed report: %d", got)
		}
		if s := status(); !strings.HasPrefix(s, "ERROR") || !strings.Contains(s, "undelivered") || !strings.Contains(s, "30003") {
			t.Fatalf("notification after the report: %s", s)
		}
	})
}
