package twilio_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/notify/twilio"
)

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "tok_5ecret_d0nt_l0g"
	from  = "+14155550100"
)

// apiRequest is what the fake Twilio API received.
type apiRequest struct {
	method, path, user, pass, contentType string
	form                                  url.Values
}

// fakeTwilio answers like Twilio's REST API and records requests. status 0 means 201.
func fakeTwilio(t *testing.T, status int, answer string) (*httptest.Server, func() []apiRequest) {
	t.Helper()
	var mu sync.Mutex
	var got []apiRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		r.ParseForm()
		mu.Lock()
		got = append(got, apiRequest{r.Method, r.URL.Path, user, pass, r.Header.Get("Content-Type"), r.PostForm})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if status != 0 {
			w.WriteHeader(status)
			io.WriteString(w, answer)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"sid": "SM00000000000000000000000000000001", "status": "queued"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []apiRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]apiRequest(nil), got...)
	}
}

func config(baseURL string) twilio.Config {
	return twilio.Config{
		AccountSID: sid, AuthToken: token, From: from,
		BaseURL: baseURL, PublicURL: "https://tocsin.example.com", Timeout: 5 * time.Second,
	}
}

func mustNew(t *testing.T, cfg twilio.Config) *twilio.Channel {
	t.Helper()
	c, err := twilio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func message(method notify.Method) notify.Message {
	return notify.Message{
		ID: 77, Attempt: 1, Method: method, Target: "+4915112345678",
		AlertID: 42, Summary: `Disk <full> & "hot" on db-1`, Priority: "HIGH", Status: "PENDING",
	}
}

func TestConfigValidate(t *testing.T) {
	good := config("")
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	for _, tt := range []struct {
		name   string
		change func(*twilio.Config)
		want   string
	}{
		{"ErrAccountSIDRequired", func(c *twilio.Config) { c.AccountSID = "" }, "account SID is required"},
		{"ErrAccountSIDPath", func(c *twilio.Config) { c.AccountSID = "AC1/../x" }, "account SID"},
		{"ErrAuthTokenRequired", func(c *twilio.Config) { c.AuthToken = "" }, "auth token is required"},
		{"ErrFromNotE164", func(c *twilio.Config) { c.From = "0151 1234567" }, "E.164"},
		{"ErrPublicURLRequired", func(c *twilio.Config) { c.PublicURL = "" }, "public URL is required"},
		{"ErrPublicURLRelative", func(c *twilio.Config) { c.PublicURL = "/tocsin" }, "public URL"},
		{"ErrBaseURLNotHTTP", func(c *twilio.Config) { c.BaseURL = "ftp://api.twilio.com" }, "base URL"},
		{"ErrBaseURLCredentials", func(c *twilio.Config) { c.BaseURL = "https://u:p@api.twilio.com" }, "credentials"},
		{"ErrNegativeTimeout", func(c *twilio.Config) { c.Timeout = -time.Second }, "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.want)
			}
			if _, err := twilio.New(c); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestSendSMS(t *testing.T) {
	srv, got := fakeTwilio(t, 0, "")
	ch := mustNew(t, config(srv.URL))
	if err := ch.Send(context.Background(), message(notify.SMS)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("API saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != "POST" || r.path != "/2010-04-01/Accounts/"+sid+"/Messages.json" {
		t.Errorf("request = %s %s", r.method, r.path)
	}
	if r.user != sid || r.pass != token {
		t.Errorf("basic auth = %q:%q, want the SID and token", r.user, r.pass)
	}
	if r.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", r.contentType)
	}
	want := url.Values{
		"To":             {"+4915112345678"},
		"From":           {from},
		"Body":           {`tocsin HIGH: Disk <full> & "hot" on db-1 - reply 1 to accept, 2 to resolve (alert 42)`},
		"StatusCallback": {"https://tocsin.example.com/api/twilio/sms/status?alert=42&msg=77"},
	}
	if r.form.Encode() != want.Encode() {
		t.Errorf("form =\n %v\nwant\n %v", r.form, want)
	}
}

func TestSendVoice(t *testing.T) {
	srv, got := fakeTwilio(t, 0, "")
	ch := mustNew(t, config(srv.URL+"/")) // a trailing slash on the base URL is fine
	if err := ch.Send(context.Background(), message(notify.Voice)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("API saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != "POST" || r.path != "/2010-04-01/Accounts/"+sid+"/Calls.json" {
		t.Errorf("request = %s %s", r.method, r.path)
	}
	if r.user != sid || r.pass != token {
		t.Errorf("basic auth = %q:%q", r.user, r.pass)
	}
	if r.form.Get("To") != "+4915112345678" || r.form.Get("From") != from {
		t.Errorf("To, From = %q, %q", r.form.Get("To"), r.form.Get("From"))
	}
	if r.form.Has("Url") {
		t.Errorf("both Url and Twiml sent")
	}
	if cb := r.form.Get("StatusCallback"); cb != "https://tocsin.example.com/api/twilio/voice/status?alert=42&msg=77" {
		t.Errorf("StatusCallback = %q", cb)
	}
	tw := r.form.Get("Twiml")
	if strings.Contains(tw, "<full>") || !strings.Contains(tw, "&lt;full&gt; &amp;") {
		t.Errorf("summary is not XML-escaped in TwiML:\n%s", tw)
	}
	doc := parseTwiML(t, tw)
	if doc.Gather == nil {
		t.Fatalf("no <Gather> in TwiML:\n%s", tw)
	}
	g := doc.Gather
	if g.NumDigits != "1" || g.Method != "POST" {
		t.Errorf("Gather numDigits=%q method=%q", g.NumDigits, g.Method)
	}
	if g.Action != "https://tocsin.example.com/api/twilio/voice/gather?alert=42&msg=77" {
		t.Errorf("Gather action = %q", g.Action)
	}
	if len(g.Say) != 1 {
		t.Fatalf("Gather has %d <Say>, want 1", len(g.Say))
	}
	said := g.Say[0].Text
	for _, want := range []string{`Disk <full> & "hot" on db-1`, "high priority", "Press 1 to accept, press 2 to resolve"} {
		if !strings.Contains(said, want) {
			t.Errorf("<Say> %q does not contain %q", said, want)
		}
	}
	if len(tw) > 4000 {
		t.Errorf("TwiML is %d characters; Twilio takes at most 4000", len(tw))
	}
}

func standalone(method notify.Method) notify.Message {
	return notify.Message{ID: 78, Attempt: 1, Method: method, Target: "+4915112345678", Purpose: "DUTY",
		Subject: "On call soon: primary", Text: "Your on-call shift in primary starts at 09:00 CET on Monday, 2 March 2026."}
}

func TestSendSMSStandalone(t *testing.T) {
	srv, got := fakeTwilio(t, 0, "")
	if err := mustNew(t, config(srv.URL)).Send(context.Background(), standalone(notify.SMS)); err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"To":   {"+4915112345678"},
		"From": {from},
		"Body": {"tocsin: On call soon: primary\nYour on-call shift in primary starts at 09:00 CET on Monday, 2 March 2026."},
	}
	if f := got()[0].form; f.Encode() != want.Encode() {
		t.Errorf("form =\n %v\nwant (no reply menu, no alert, no status callback)\n %v", f, want)
	}
}

func TestSMSBodyStandaloneLong(t *testing.T) {
	m := standalone(notify.SMS)
	m.Text = strings.Repeat("a long text ", 100)
	body := twilio.SMSBody(m)
	if len(body) > 306 || !strings.HasPrefix(body, "tocsin: On call soon: primary\n") || !strings.HasSuffix(body, "...") {
		t.Errorf("SMSBody = %q (%d characters), want the subject and the text cut to two segments", body, len(body))
	}
}

func TestSendVoiceStandalone(t *testing.T) {
	srv, got := fakeTwilio(t, 0, "")
	if err := mustNew(t, config(srv.URL)).Send(context.Background(), standalone(notify.Voice)); err != nil {
		t.Fatal(err)
	}
	r := got()[0]
	if r.form.Has("StatusCallback") {
		t.Errorf("StatusCallback = %q, want none for a message without an alert", r.form.Get("StatusCallback"))
	}
	tw := r.form.Get("Twiml")
	doc := parseTwiML(t, tw)
	if doc.Gather != nil || strings.Contains(tw, "gather") || strings.Contains(tw, "alert=") {
		t.Errorf("a message without an alert offers a keypress menu:\n%s", tw)
	}
	if len(doc.Say) == 0 || doc.Hangup == nil {
		t.Fatalf("TwiML does not say something and hang up:\n%s", tw)
	}
	said := doc.Say[0].Text
	if want := "This is tocsin. On call soon: primary. Your on-call shift in primary starts at 09:00 CET on Monday, 2 March 2026."; said != want {
		t.Errorf("<Say> = %q, want %q", said, want)
	}
	for _, bad := range []string{"Press", "accept", "resolve", "priority"} {
		if strings.Contains(tw, bad) {
			t.Errorf("TwiML mentions %q:\n%s", bad, tw)
		}
	}
}

type twimlDoc struct {
	XMLName xml.Name `xml:"Response"`
	Gather  *struct {
		NumDigits string     `xml:"numDigits,attr"`
		Action    string     `xml:"action,attr"`
		Method    string     `xml:"method,attr"`
		Say       []twimlSay `xml:"Say"`
	} `xml:"Gather"`
	Say    []twimlSay `xml:"Say"`
	Hangup *struct{}  `xml:"Hangup"`
}

type twimlSay struct {
	Text string `xml:",chardata"`
}

func parseTwiML(t *testing.T, s string) twimlDoc {
	t.Helper()
	var doc twimlDoc
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("TwiML is not well-formed XML: %v\n%s", err, s)
	}
	return doc
}

func TestSendLongSummaryVoice(t *testing.T) {
	m := message(notify.Voice)
	m.Summary = strings.Repeat("very long summary & more ", 400)
	tw := twilio.VoiceTwiML(m, "https://tocsin.example.com/api/twilio/voice/gather?alert=42&msg=77")
	if len(tw) > 4000 {
		t.Fatalf("TwiML is %d characters; Twilio takes at most 4000", len(tw))
	}
	parseTwiML(t, tw)
}

func TestSendClassification(t *testing.T) {
	for _, tt := range []struct {
		name      string
		status    int
		retryable bool
	}{
		{"TooManyRequestsIsRetryable", 429, true},
		{"ServerErrorIsRetryable", 500, true},
		{"ServiceUnavailableIsRetryable", 503, true},
		{"BadRequestIsPermanent", 400, false},
		{"UnauthorizedIsPermanent", 401, false},
		{"NotFoundIsPermanent", 404, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := fakeTwilio(t, tt.status, `{"code": 21211, "message": "The 'To' number is not valid.", "status": 400}`)
			err := mustNew(t, config(srv.URL)).Send(context.Background(), message(notify.SMS))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if notify.IsRetryable(err) != tt.retryable {
				t.Fatalf("IsRetryable(%v) = %v, want %v", err, !tt.retryable, tt.retryable)
			}
			if len(got()) != 1 {
				t.Fatalf("API saw %d requests, want 1", len(got()))
			}
		})
	}

	t.Run("NetworkErrorIsRetryable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		err := mustNew(t, config(base)).Send(context.Background(), message(notify.Voice))
		if err == nil || !notify.IsRetryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
	})

	t.Run("BadTargetIsPermanentAndNotSent", func(t *testing.T) {
		srv, got := fakeTwilio(t, 0, "")
		m := message(notify.SMS)
		m.Target = "0151 12345678"
		err := mustNew(t, config(srv.URL)).Send(context.Background(), m)
		if err == nil || notify.IsRetryable(err) {
			t.Fatalf("err = %v, want permanent", err)
		}
		if len(got()) != 0 {
			t.Fatal("a request was sent for an invalid number")
		}
	})

	t.Run("OtherMethodIsPermanent", func(t *testing.T) {
		srv, got := fakeTwilio(t, 0, "")
		err := mustNew(t, config(srv.URL)).Send(context.Background(), message(notify.Email))
		if err == nil || notify.IsRetryable(err) || len(got()) != 0 {
			t.Fatalf("err = %v, requests %d; want a permanent error and none", err, len(got()))
		}
	})
}

func TestSendRedactsToken(t *testing.T) {
	// A misbehaving API (or proxy) that echoes the credentials it was sent.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, _ := r.BasicAuth()
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "bad credentials "+r.Header.Get("Authorization")+" password="+pass)
	}))
	t.Cleanup(echo.Close)
	err := mustNew(t, config(echo.URL)).Send(context.Background(), message(notify.SMS))
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	basic := base64.StdEncoding.EncodeToString([]byte(sid + ":" + token))
	for _, s := range []string{token, basic} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains the secret %q", err, s)
		}
	}
	if !strings.Contains(err.Error(), "401") {
		t.Errorf("error %q does not say what Twilio answered", err)
	}
}

// twilioSign signs like Twilio, written out independently of the package under test.
func twilioSign(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fullURL
	for _, k := range keys {
		for _, v := range form[k] {
			s += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// TestVoiceRoundTrip places a call, then plays back the keypress Twilio would send to the
// Gather action, through a handler that does what tocsin's endpoint does.
func TestVoiceRoundTrip(t *testing.T) {
	api, got := fakeTwilio(t, 0, "")

	var accepted []int64
	mux := http.NewServeMux()
	var cfg twilio.Config
	mux.HandleFunc("POST "+twilio.GatherPath, func(w http.ResponseWriter, r *http.Request) {
		if !cfg.VerifyRequest(r) {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		k, err := twilio.ParseGather(r.URL.Query(), r.PostForm)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if k.Action == twilio.ActionAccept {
			accepted = append(accepted, k.AlertID)
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, twilio.GatherResponse(k.Action, k.Action != ""))
	})
	tocsin := httptest.NewServer(mux)
	t.Cleanup(tocsin.Close)

	cfg = config(api.URL)
	cfg.PublicURL = tocsin.URL
	if err := mustNew(t, cfg).Send(context.Background(), message(notify.Voice)); err != nil {
		t.Fatal(err)
	}
	action := parseTwiML(t, got()[0].form.Get("Twiml")).Gather.Action

	post := func(form url.Values, sig string) (int, string) {
		req, _ := http.NewRequest("POST", action, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set(twilio.SignatureHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	form := url.Values{"CallSid": {"CA1"}, "Digits": {"1"}, "To": {"+4915112345678"}, "From": {from}}

	if code, _ := post(form, ""); code != http.StatusForbidden {
		t.Errorf("unsigned callback: %d, want 403", code)
	}
	if code, _ := post(form, twilioSign("wrong token", action, form)); code != http.StatusForbidden {
		t.Errorf("callback signed with another token: %d, want 403", code)
	}
	forged := url.Values{"CallSid": {"CA1"}, "Digits": {"2"}, "To": {"+4915112345678"}, "From": {from}}
	if code, _ := post(forged, twilioSign(token, action, form)); code != http.StatusForbidden {
		t.Errorf("callback with changed digits: %d, want 403", code)
	}
	if len(accepted) != 0 {
		t.Fatalf("a rejected callback accepted alerts %v", accepted)
	}
	code, body := post(form, twilioSign(token, action, form))
	if code != http.StatusOK {
		t.Fatalf("signed callback: %d %s", code, body)
	}
	if len(accepted) != 1 || accepted[0] != 42 {
		t.Fatalf("accepted = %v, want [42]", accepted)
	}
	doc := parseTwiML(t, body)
	if len(doc.Say) != 1 || doc.Say[0].Text != "Alert accepted. Goodbye." || doc.Hangup == nil {
		t.Fatalf("answer TwiML = %s", body)
	}
}

func TestSMSBodyHugeSummary(t *testing.T) {
	m := message(notify.SMS)
	m.Summary = strings.Repeat("x", 1<<20)
	start := time.Now()
	got := twilio.SMSBody(m)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("SMSBody took %v for a 1 MiB summary", d)
	}
	if len(got) > 306 {
		t.Fatalf("SMSBody is %d characters", len(got))
	}
}
