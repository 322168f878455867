package e2e_test

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// Twilio account of the paging tests.
const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "f00dfeedf00dfeedf00dfeedf00dfeed"
	twilioFrom  = "+15005550006"
)

// notificationJSON is a row of GET /api/alerts/{id}/notifications.
type notificationJSON struct {
	ID     int64  `json:"id"`
	Method string `json:"method"`
	Target string `json:"target"`
	User   struct {
		ID int64 `json:"id"`
	} `json:"user"`
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage"`
	Attempt      int    `json:"attempt"`
}

type logEntryJSON struct {
	LogEntryType string `json:"logEntryType"`
	Text         string `json:"text"`
}

type alertDetail struct {
	ID         int64  `json:"id"`
	Status     string `json:"status"`
	Priority   string `json:"priority"`
	Responders []struct {
		User struct {
			ID int64 `json:"id"`
		} `json:"user"`
		Status string `json:"status"`
	} `json:"responders"`
}

// twiml is what the paging test reads of the TwiML of a call.
type twiml struct {
	Gather *struct {
		Action    string `xml:"action,attr"`
		Method    string `xml:"method,attr"`
		NumDigits string `xml:"numDigits,attr"`
		Say       string `xml:"Say"`
	} `xml:"Gather"`
	Say     []string `xml:"Say"`
	Message []string `xml:"Message"`
}

// paging is tocsin started with email through a fake SMTP server and SMS and calls through a
// fake Twilio, with an ADMIN's API client.
type paging struct {
	mail   *mailbox
	twilio *fakeTwilio
	srv    *process
	client *client
	public string // the server's public URL
}

func startPaging(t *testing.T, dsn string) paging {
	t.Helper()
	apiKey := createUserWithKey(t, dsn, "admin@example.com", "ADMIN")
	p := paging{mail: startMailbox(t), twilio: startFakeTwilio(t, twilioSID, twilioToken, twilioFrom)}
	addr := freeAddr(t)
	p.public = "http://" + addr
	p.srv = startServeAt(t, addr, dsn, "--public-url", p.public, "--event-rate", "0",
		"--smtp-host", p.mail.host, "--smtp-port", strconv.Itoa(p.mail.port), "--smtp-tls", "none",
		"--smtp-from", "tocsin <alerts@tocsin.example.com>",
		"--twilio-account-sid", twilioSID, "--twilio-auth-token", twilioToken, "--twilio-from", twilioFrom,
		"--twilio-base-url", p.twilio.URL)
	p.client = newClient(p.srv.URL, bearer(apiKey))
	return p
}

func parseTwiML(t *testing.T, s string) twiml {
	t.Helper()
	var x twiml
	if err := xml.Unmarshal([]byte(s), &x); err != nil {
		t.Fatalf("TwiML does not parse: %v\n%s", err, s)
	}
	return x
}

// An alert pages level 1 (Alice) by email and SMS; nobody answers, so level 2 (Bob) gets a voice
// call at once; Bob presses 1, which accepts the alert, and nothing more is sent. Alice then
// resolves it by answering her SMS with "2". Callbacks that Twilio did not sign change nothing.
func TestPagingEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		p := startPaging(t, dsn)
		smtpSrv, tw, srv, c, public := p.mail, p.twilio, p.srv, p.client, p.public

		const (
			aliceEmail = "alice.pager@example.com"
			alicePhone = "+14155550101"
			bobPhone   = "+14155550102"
			summary    = "Disk full on db-1"
		)
		alice := c.createUser(t, "Alice", "Level-One", "alice@example.com")
		bob := c.createUser(t, "Bob", "Level-Two", "bob@example.com")
		aliceMail := c.createContact(t, alice, "emails", map[string]any{"target": aliceEmail})
		aliceTel := c.createContact(t, alice, "phone-numbers", map[string]any{"regionCode": "US", "target": alicePhone})
		bobTel := c.createContact(t, bob, "phone-numbers", map[string]any{"regionCode": "US", "target": bobPhone})
		c.createAlertRule(t, alice, "EMAIL", aliceMail, 0)
		c.createAlertRule(t, alice, "SMS", aliceTel, 0)
		c.createAlertRule(t, bob, "VOICE", bobTel, 0)
		integrationKey := c.createSource(t, map[string]any{
			"name": "paging",
			"escalationRules": []any{
				map[string]any{"escalationTimeout": 0, "users": []any{map[string]any{"id": alice}}},
				map[string]any{"escalationTimeout": 5, "users": []any{map[string]any{"id": bob}}},
			},
		})

		ans := postEvent(t, srv.URL, integrationKey, "db-1/disk", summary)
		id := alertIDOf(ans.AlertURL)
		if ans.ResponseCode != "NEW_ALERT_CREATED" || id == 0 {
			t.Fatalf("POST /api/events answered %+v, want a new alert", ans)
		}
		alertPath := fmt.Sprintf("/api/alerts/%d", id)

		waitUntil(t, 15*time.Second, "an email to Alice, an SMS to Alice and a call to Bob", func() bool {
			sms, calls, problems := tw.sent()
			return len(problems) > 0 || len(smtpSrv.received()) >= 1 && len(sms) >= 1 && len(calls) >= 1
		})
		mails := smtpSrv.received()
		sms, calls, problems := tw.sent()
		for _, p := range problems {
			t.Errorf("fake Twilio refused a request: %s", p)
		}
		if len(mails) != 1 || len(sms) != 1 || len(calls) != 1 {
			t.Fatalf("sent %d emails, %d SMS, %d calls; want one of each", len(mails), len(sms), len(calls))
		}

		t.Run("Email", func(t *testing.T) {
			m := mails[0]
			if len(m.to) != 1 || m.to[0] != aliceEmail {
				t.Errorf("email sent to %v, want [%s] (Alice's email contact)", m.to, aliceEmail)
			}
			if m.from != "alerts@tocsin.example.com" {
				t.Errorf("email sent from %q, want alerts@tocsin.example.com (--smtp-from)", m.from)
			}
			subject, text := readMail(t, m.data)
			if want := "[tocsin] HIGH: " + summary; subject != want {
				t.Errorf("subject %q, want %q", subject, want)
			}
			if !strings.Contains(text, summary) {
				t.Errorf("the text does not contain the summary %q:\n%s", summary, text)
			}
			for _, action := range []string{"Accept", "Resolve"} {
				link := regexp.MustCompile(`(?m)^` + action + `:\s+(\S+)$`).FindStringSubmatch(text)
				if link == nil {
					t.Errorf("the text has no %s link:\n%s", action, text)
					continue
				}
				if !strings.HasPrefix(link[1], public+"/respond/") {
					t.Errorf("%s link %q does not point to %s/respond/", action, link[1], public)
					continue
				}
				// Opening the link shows what it will do and does nothing yet.
				status, page := get(t, link[1])
				if want := fmt.Sprintf("%s alert %d?", action, id); status != http.StatusOK || !strings.Contains(page, want) {
					t.Errorf("GET %s answered %d without %q:\n%s", link[1], status, want, page)
				}
			}
		})

		t.Run("SMS", func(t *testing.T) {
			s := sms[0]
			if s.Get("To") != alicePhone {
				t.Errorf("SMS to %q, want %s", s.Get("To"), alicePhone)
			}
			if body := s.Get("Body"); !strings.Contains(body, summary) || !strings.Contains(body, "reply 1 to accept, 2 to resolve") {
				t.Errorf("SMS body %q lacks the summary or the reply menu", body)
			}
			if cb := s.Get("StatusCallback"); !strings.HasPrefix(cb, public+"/api/twilio/sms/status?") {
				t.Errorf("SMS StatusCallback %q, want under %s/api/twilio/sms/status", cb, public)
			}
		})

		call := calls[0]
		if call.Get("To") != bobPhone {
			t.Errorf("call to %q, want %s (Bob, level 2)", call.Get("To"), bobPhone)
		}
		if cb := call.Get("StatusCallback"); !strings.HasPrefix(cb, public+"/api/twilio/voice/status?") {
			t.Errorf("call StatusCallback %q, want under %s/api/twilio/voice/status", cb, public)
		}
		x := parseTwiML(t, call.Get("Twiml"))
		if x.Gather == nil || x.Gather.Action == "" {
			t.Fatalf("the call's TwiML has no <Gather action=…>:\n%s", call.Get("Twiml"))
		}
		gatherURL := x.Gather.Action
		if !strings.HasPrefix(gatherURL, public+"/api/twilio/voice/gather?") || x.Gather.Method != "POST" || x.Gather.NumDigits != "1" {
			t.Errorf("<Gather action=%q method=%q numDigits=%q>, want a one-digit POST to %s/api/twilio/voice/gather",
				gatherURL, x.Gather.Method, x.Gather.NumDigits, public)
		}
		if !strings.Contains(x.Gather.Say, summary) || !strings.Contains(x.Gather.Say, "Press 1 to accept") {
			t.Errorf("the call says %q; want the summary and the keypress menu", x.Gather.Say)
		}

		// Bob presses 1. Twilio posts these parameters to the <Gather> action.
		keypress := url.Values{
			"AccountSid": {twilioSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {"CA" + strings.Repeat("7", 32)},
			"CallStatus": {"in-progress"}, "Direction": {"outbound-api"}, "Digits": {"1"},
			"From": {twilioFrom}, "To": {bobPhone}, "FinishedOnKey": {""},
		}
		before := c.notifications(t, id)
		tampered := url.Values{}
		for k, v := range keypress {
			tampered[k] = v
		}
		tampered.Set("Digits", "2")
		forged := map[string]string{
			"Unsigned":            "",
			"WrongToken":          twilioSignature("0000feedf00dfeedf00dfeedf00d0000", gatherURL, keypress),
			"SignedOtherParams":   twilioSignature(twilioToken, gatherURL, tampered),
			"SignedOtherURL":      twilioSignature(twilioToken, strings.Replace(gatherURL, "alert=", "alert=9", 1), keypress),
			"NotBase64Signature":  "not a signature",
			"SignedWithoutParams": twilioSignature(twilioToken, gatherURL, nil),
		}
		for name, sig := range forged {
			t.Run("Keypress"+name, func(t *testing.T) {
				if got := postCallback(t, gatherURL, keypress, sig); got.status != http.StatusForbidden {
					t.Errorf("keypress %s answered %d, want 403: %s", name, got.status, got.body)
				}
			})
		}
		var a alertDetail
		c.call(t, "GET", alertPath, nil, http.StatusOK, &a)
		if a.Status != "PENDING" || len(a.Responders) != 0 {
			t.Errorf("after refused keypresses the alert is %s with responders %+v; want PENDING with none", a.Status, a.Responders)
		}
		if after := c.notifications(t, id); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("refused keypresses changed the notifications:\nbefore %+v\nafter  %+v", before, after)
		}
		for _, e := range c.logEntries(t, id) {
			if e.LogEntryType == "UserResponseLogEntry" {
				t.Errorf("refused keypresses were logged as a response: %q", e.Text)
			}
		}

		got := postCallback(t, gatherURL, keypress, twilioSignature(twilioToken, gatherURL, keypress))
		if said := strings.Join(answerTwiML(t, got).Say, " "); !strings.Contains(said, "Alert accepted") {
			t.Errorf("the answer to the keypress says %q, want \"Alert accepted…\"", said)
		}
		acceptedAt := time.Now()
		c.call(t, "GET", alertPath, nil, http.StatusOK, &a)
		if a.Status != "ACCEPTED" {
			t.Errorf("after Bob pressed 1 the alert is %s, want ACCEPTED", a.Status)
		}
		if a.Priority != "HIGH" {
			t.Errorf("the alert's priority is %s, want HIGH", a.Priority)
		}
		if len(a.Responders) != 1 || a.Responders[0].User.ID != bob || a.Responders[0].Status != "ACCEPTED" {
			t.Errorf("responders %+v, want Bob (%d) ACCEPTED", a.Responders, bob)
		}

		ns := c.notifications(t, id)
		want := map[string]struct {
			target string
			user   int64
		}{"EMAIL": {aliceEmail, alice}, "SMS": {alicePhone, alice}, "VOICE": {bobPhone, bob}}
		if len(ns) != len(want) {
			t.Errorf("GET %s/notifications lists %d notifications, want %d: %+v", alertPath, len(ns), len(want), ns)
		}
		for _, n := range ns {
			w, ok := want[n.Method]
			switch {
			case !ok:
				t.Errorf("unexpected notification %+v", n)
			case n.Target != w.target || n.User.ID != w.user || n.Status != "SUCCESS":
				t.Errorf("notification %+v; want %s to %s for user %d, SUCCESS", n, n.Method, w.target, w.user)
			}
			delete(want, n.Method)
		}

		entries := c.logEntries(t, id)
		var texts []string
		for _, e := range entries {
			texts = append(texts, e.LogEntryType+": "+e.Text)
		}
		all := strings.Join(texts, "\n")
		for _, re := range []string{
			`NotificationLogEntry: Notified Alice Level-One by EMAIL at ` + regexp.QuoteMeta(aliceEmail),
			`NotificationLogEntry: Notified Alice Level-One by SMS at ` + regexp.QuoteMeta(alicePhone),
			`AlertEscalatedToLevelLogEntry: Escalated to level 2`,
			`NotificationLogEntry: Notified Bob Level-Two by VOICE at ` + regexp.QuoteMeta(bobPhone),
			`UserResponseLogEntry: .*accepted by Bob Level-Two.* voice call`,
		} {
			if !regexp.MustCompile(`(?m)^` + re).MatchString(all) {
				t.Errorf("no log entry matches %q; the log:\n%s", re, all)
			}
		}

		// Accepting stops everything: nothing more goes out.
		time.Sleep(time.Until(acceptedAt.Add(2 * time.Second)))
		mails = smtpSrv.received()
		sms, calls, problems = tw.sent()
		if len(mails) != 1 || len(sms) != 1 || len(calls) != 1 || len(problems) != 0 {
			t.Errorf("2s after the alert was accepted: %d emails, %d SMS, %d calls, %d refused requests; want 1, 1, 1, 0",
				len(mails), len(sms), len(calls), len(problems))
		}

		// Alice answers her SMS with "2": Twilio posts the incoming message to tocsin.
		smsURL := public + "/api/twilio/sms"
		reply := url.Values{
			"AccountSid": {twilioSID}, "ApiVersion": {"2010-04-01"}, "MessageSid": {"SM" + strings.Repeat("9", 32)},
			"SmsSid": {"SM" + strings.Repeat("9", 32)}, "From": {alicePhone}, "To": {twilioFrom}, "Body": {"2"}, "NumMedia": {"0"},
		}
		if got := postCallback(t, smsURL, reply, ""); got.status != http.StatusForbidden {
			t.Errorf("unsigned SMS reply answered %d, want 403: %s", got.status, got.body)
		}
		if got := postCallback(t, smsURL, reply, twilioSignature("0000feedf00dfeedf00dfeedf00d0000", smsURL, reply)); got.status != http.StatusForbidden {
			t.Errorf("SMS reply with a wrong signature answered %d, want 403: %s", got.status, got.body)
		}
		c.call(t, "GET", alertPath, nil, http.StatusOK, &a)
		if a.Status != "ACCEPTED" {
			t.Errorf("after refused SMS replies the alert is %s, want ACCEPTED still", a.Status)
		}
		got = postCallback(t, smsURL, reply, twilioSignature(twilioToken, smsURL, reply))
		if msg := strings.Join(answerTwiML(t, got).Message, " "); msg != fmt.Sprintf("tocsin: alert %d resolved.", id) {
			t.Errorf("the answer to the SMS reply texts %q, want %q", msg, fmt.Sprintf("tocsin: alert %d resolved.", id))
		}
		c.call(t, "GET", alertPath, nil, http.StatusOK, &a)
		if a.Status != "RESOLVED" {
			t.Errorf("after Alice replied 2 the alert is %s, want RESOLVED", a.Status)
		}
		found := false
		for _, e := range c.logEntries(t, id) {
			if e.LogEntryType == "UserResponseLogEntry" && strings.Contains(e.Text, "resolved by Alice Level-One") && strings.Contains(e.Text, "SMS") {
				found = true
			}
		}
		if !found {
			t.Errorf("no log entry says Alice resolved the alert by SMS")
		}
	})
}

// answerTwiML requires tocsin's answer to a signed callback to be TwiML, which Twilio needs to
// go on with the call or to text back, and returns it.
func answerTwiML(t *testing.T, got twilioAnswer) twiml {
	t.Helper()
	if got.status != http.StatusOK || !strings.HasPrefix(got.contentType, "text/xml") || got.body == "" {
		t.Errorf("a signed callback answered %d, Content-Type %q, body %q; want 200 and TwiML (text/xml)", got.status, got.contentType, got.body)
		return twiml{}
	}
	return parseTwiML(t, got.body)
}

// readMail returns a received email's subject and its plain-text part.
func readMail(t *testing.T, data []byte) (subject, text string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the email does not parse: %v\n%s", err, data)
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("the email's subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("the email's Content-Type is %q, want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the email's parts: %v", err)
		}
		var r io.Reader = part // quoted-printable is decoded by multipart itself
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			r = base64.NewDecoder(base64.StdEncoding, part)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("the email's parts: %v", err)
		}
		if pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); pt == "text/plain" {
			text = strings.ReplaceAll(string(b), "\r\n", "\n")
		}
	}
	if text == "" {
		t.Fatalf("the email has no text/plain part:\n%s", data)
	}
	return subject, text
}

// get fetches a page without credentials.
func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
