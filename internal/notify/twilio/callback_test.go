package twilio_test

import (
	"encoding/xml"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/notify/twilio"
)

// The worked example of Twilio's webhook security page. The expected signatures were computed
// independently:
//
//	printf '%s' 'https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030To+18005551212' | openssl dgst -sha1 -hmac 12345 -binary | base64
const docURL = "https://mycompany.com/myapp.php?foo=1&bar=2"

func docParams(caller string) url.Values {
	return url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {caller}, "Digits": {"1234"},
		"From": {caller}, "To": {"+18005551212"},
	}
}

func TestVerifySignature(t *testing.T) {
	for _, tt := range []struct {
		name   string
		token  string
		url    string
		params url.Values
		sig    string
		want   bool
	}{
		// The example as Twilio's docs print it.
		{"DocsExample", "12345", docURL, docParams("+12349013030"), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", true},
		// GvWf1cFY/… is the signature of the same example with the caller +14158675310 (another
		// revision of the docs), not of +12349013030.
		{"DocsExampleOtherCaller", "12345", docURL, docParams("+14158675310"), "GvWf1cFY/Q7PnoempGyD5oXAezc=", true},
		{"OtherCallerSignatureDoesNotFit", "12345", docURL, docParams("+12349013030"), "GvWf1cFY/Q7PnoempGyD5oXAezc=", false},
		// Signed without the port, received with it, and the other way round.
		{"SignedWithoutPort", "12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", docParams("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
		{"SignedWithPort", "12345", docURL, docParams("+14158675309"), "kvajT1Ptam85bY51eRf/AJRuM3w=", true},
		{"OtherPortDoesNotFit", "12345", "https://mycompany.com:8443/myapp.php?foo=1&bar=2", docParams("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
		{"WrongToken", "54321", docURL, docParams("+12349013030"), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", false},
		{"ChangedParam", "12345", docURL, func() url.Values { p := docParams("+12349013030"); p.Set("Digits", "1"); return p }(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", false},
		{"ExtraParam", "12345", docURL, func() url.Values { p := docParams("+12349013030"); p.Set("X", "y"); return p }(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", false},
		{"ChangedQuery", "12345", "https://mycompany.com/myapp.php?foo=1&bar=3", docParams("+12349013030"), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", false},
		{"HTTPInsteadOfHTTPS", "12345", strings.Replace(docURL, "https", "http", 1), docParams("+12349013030"), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", false},
		{"Truncated", "12345", docURL, docParams("+12349013030"), "0/KCTR6DLpKmkAf8muzZqo1nDgQ", false},
		{"EmptySignature", "12345", docURL, docParams("+12349013030"), "", false},
		{"EmptyToken", "", docURL, url.Values{}, twilioSign("", docURL, url.Values{}), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := twilio.VerifySignature(tt.token, tt.url, tt.params, tt.sig); got != tt.want {
				t.Fatalf("VerifySignature = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerifyRequest(t *testing.T) {
	cfg := config("")
	form := url.Values{"Digits": {"2"}, "CallSid": {"CA9"}}
	for _, tt := range []struct {
		name, public, path, signedURL string
	}{
		{"AtRoot", "https://tocsin.example.com", "/api/twilio/voice/gather?alert=1&msg=2", "https://tocsin.example.com/api/twilio/voice/gather?alert=1&msg=2"},
		{"PrefixKeptByProxy", "https://example.com/tocsin/", "/tocsin/api/twilio/sms", "https://example.com/tocsin/api/twilio/sms"},
		{"PrefixStrippedByProxy", "https://example.com/tocsin", "/api/twilio/sms", "https://example.com/tocsin/api/twilio/sms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg.PublicURL = tt.public
			// The request reaches tocsin on its internal address, as behind a proxy.
			r := httptest.NewRequest("POST", "http://10.0.0.5:8080"+tt.path, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set(twilio.SignatureHeader, twilioSign(token, tt.signedURL, form))
			if !cfg.VerifyRequest(r) {
				t.Fatalf("VerifyRequest = false for a request signed for %s", tt.signedURL)
			}
			if r.PostForm.Get("Digits") != "2" {
				t.Fatalf("PostForm not available after VerifyRequest")
			}
		})
	}
}

func TestParseSMSReply(t *testing.T) {
	for body, want := range map[string]string{
		"1": twilio.ActionAccept, " 1 ": twilio.ActionAccept, "ACK": twilio.ActionAccept, "ack!": twilio.ActionAccept,
		"Accept": twilio.ActionAccept, "ok": twilio.ActionAccept, "OK, on it": twilio.ActionAccept, "okay": twilio.ActionAccept,
		"acknowledged": twilio.ActionAccept, "yes": twilio.ActionAccept,
		"2": twilio.ActionResolve, "resolve": twilio.ActionResolve, "Resolved.": twilio.ActionResolve,
		"DONE": twilio.ActionResolve, "fixed": twilio.ActionResolve, "Fixed it": twilio.ActionResolve, "closed": twilio.ActionResolve,
		"": "", "   ": "", "3": "", "12": "", "not fixed yet": "", "what is this?": "", "STOP": "", "no": "", "accepting": "",
	} {
		if got := twilio.ParseSMSReply(body); got != want {
			t.Errorf("ParseSMSReply(%q) = %q, want %q", body, got, want)
		}
	}
}

func TestParseSMSReplyAlert(t *testing.T) {
	for _, tt := range []struct {
		body   string
		action string
		alert  int64
	}{
		{"1 42", twilio.ActionAccept, 42},
		{"ack #42", twilio.ActionAccept, 42},
		{"done, alert 7", twilio.ActionResolve, 7},
		{"1", twilio.ActionAccept, 0},
		{"42 1", "", 0},
	} {
		action, alert := twilio.ParseSMSReplyAlert(tt.body)
		if action != tt.action || alert != tt.alert {
			t.Errorf("ParseSMSReplyAlert(%q) = %q, %d; want %q, %d", tt.body, action, alert, tt.action, tt.alert)
		}
	}
}

func TestParseDigits(t *testing.T) {
	for digits, want := range map[string]string{"1": twilio.ActionAccept, "2": twilio.ActionResolve, "3": "", "": "", "12": "", "*": ""} {
		if got := twilio.ParseDigits(digits); got != want {
			t.Errorf("ParseDigits(%q) = %q, want %q", digits, got, want)
		}
	}
}

func TestGatherResponse(t *testing.T) {
	for _, tt := range []struct {
		name   string
		action string
		ok     bool
		want   string
	}{
		{"Accepted", twilio.ActionAccept, true, "Alert accepted. Goodbye."},
		{"Resolved", twilio.ActionResolve, true, "Alert resolved. Goodbye."},
		{"AcceptFailed", twilio.ActionAccept, false, "could not be accepted"},
		{"ResolveFailed", twilio.ActionResolve, false, "could not be resolved"},
		{"NoOption", "", false, "not an option"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := twilio.GatherResponse(tt.action, tt.ok)
			if !strings.HasPrefix(s, `<?xml version="1.0" encoding="UTF-8"?>`) {
				t.Errorf("no XML declaration: %s", s)
			}
			doc := parseTwiML(t, s)
			if len(doc.Say) != 1 || !strings.Contains(doc.Say[0].Text, tt.want) || doc.Hangup == nil {
				t.Fatalf("GatherResponse = %s, want <Say> with %q and <Hangup/>", s, tt.want)
			}
		})
	}
}

func TestParseGather(t *testing.T) {
	k, err := twilio.ParseGather(url.Values{"alert": {"42"}, "msg": {"77"}},
		url.Values{"CallSid": {"CA1"}, "Digits": {"2"}, "To": {"+4915112345678"}})
	if err != nil {
		t.Fatal(err)
	}
	want := twilio.Keypress{AlertID: 42, MessageID: 77, CallSID: "CA1", To: "+4915112345678", Digits: "2", Action: twilio.ActionResolve}
	if k != want {
		t.Fatalf("ParseGather = %+v, want %+v", k, want)
	}
	for _, q := range []url.Values{{}, {"alert": {"x"}, "msg": {"1"}}, {"alert": {"1"}}, {"alert": {"-1"}, "msg": {"1"}}} {
		if _, err := twilio.ParseGather(q, url.Values{"Digits": {"1"}}); err == nil {
			t.Errorf("ParseGather(%v) accepted a callback URL without valid ids", q)
		}
	}
}

func TestParseInboundSMS(t *testing.T) {
	s := twilio.ParseInboundSMS(url.Values{"MessageSid": {"SM1"}, "From": {"+4915112345678"}, "To": {from}, "Body": {"Done #42"}})
	want := twilio.InboundSMS{MessageSID: "SM1", From: "+4915112345678", To: from, Body: "Done #42", Action: twilio.ActionResolve, AlertID: 42}
	if s != want {
		t.Fatalf("ParseInboundSMS = %+v, want %+v", s, want)
	}
}

func TestParseStatus(t *testing.T) {
	q := url.Values{"alert": {"42"}, "msg": {"77"}}
	for _, tt := range []struct {
		form          url.Values
		final, failed bool
	}{
		{url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"sent"}}, false, false},
		{url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}, true, false},
		{url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}, true, true},
		{url.Values{"CallSid": {"CA1"}, "CallStatus": {"ringing"}}, false, false},
		{url.Values{"CallSid": {"CA1"}, "CallStatus": {"completed"}}, true, false},
		{url.Values{"CallSid": {"CA1"}, "CallStatus": {"no-answer"}}, true, true},
		{url.Values{"CallSid": {"CA1"}, "CallStatus": {"busy"}}, true, true},
	} {
		s, err := twilio.ParseStatus(q, tt.form)
		if err != nil {
			t.Fatal(err)
		}
		if s.Final != tt.final || s.Failed != tt.failed || s.AlertID != 42 || s.MessageID != 77 || s.SID == "" {
			t.Errorf("ParseStatus(%v) = %+v, want final %v failed %v", tt.form, s, tt.final, tt.failed)
		}
		if code := tt.form.Get("ErrorCode"); s.ErrorCode != code {
			t.Errorf("ErrorCode = %q, want %q", s.ErrorCode, code)
		}
	}
	if _, err := twilio.ParseStatus(q, url.Values{"Foo": {"bar"}}); err == nil {
		t.Error("ParseStatus accepted a callback without a status")
	}
}

func TestSMSBody(t *testing.T) {
	base := message(notify.SMS)
	t.Run("Pending", func(t *testing.T) {
		got := twilio.SMSBody(base)
		want := `tocsin HIGH: Disk <full> & "hot" on db-1 - reply 1 to accept, 2 to resolve (alert 42)`
		if got != want {
			t.Fatalf("SMSBody = %q, want %q", got, want)
		}
	})
	t.Run("Accepted", func(t *testing.T) {
		m := base
		m.Status = "ACCEPTED"
		if got, want := twilio.SMSBody(m), "- reply 2 to resolve (alert 42)"; !strings.HasSuffix(got, want) || strings.Contains(got, "1 to accept") {
			t.Fatalf("SMSBody = %q, want it to offer only resolving", got)
		}
	})
	t.Run("Resolved", func(t *testing.T) {
		m := base
		m.Status = "RESOLVED"
		if got := twilio.SMSBody(m); strings.Contains(got, "reply") || !strings.Contains(got, "RESOLVED") {
			t.Fatalf("SMSBody = %q, want no menu for a resolved alert", got)
		}
	})
	t.Run("WhitespaceCollapsed", func(t *testing.T) {
		m := base
		m.Summary = "line one\n\nline\ttwo"
		if got := twilio.SMSBody(m); !strings.Contains(got, ": line one line two - ") {
			t.Fatalf("SMSBody = %q", got)
		}
	})
	t.Run("LongGSM7FitsTwoSegments", func(t *testing.T) {
		m := base
		m.Summary = strings.Repeat("disk full on db-1 ", 40)
		got := twilio.SMSBody(m)
		if utf8.RuneCountInString(got) > 306 {
			t.Fatalf("SMSBody is %d characters, want at most 306: %q", utf8.RuneCountInString(got), got)
		}
		if !strings.Contains(got, "... - reply 1 to accept, 2 to resolve (alert 42)") {
			t.Fatalf("shortened SMSBody lost its menu or cut mark: %q", got)
		}
		if utf8.RuneCountInString(got) < 280 {
			t.Fatalf("SMSBody shortened more than needed (%d characters)", utf8.RuneCountInString(got))
		}
	})
	t.Run("LongUnicodeFitsTwoSegments", func(t *testing.T) {
		m := base
		m.Summary = strings.Repeat("Диск заполнен 🔥 ", 30)
		got := twilio.SMSBody(m)
		units := 0
		for _, r := range got {
			units++
			if r > 0xFFFF {
				units++
			}
		}
		if units > 134 {
			t.Fatalf("SMSBody is %d UTF-16 units, want at most 134: %q", units, got)
		}
		if !strings.HasSuffix(got, "(alert 42)") || !utf8.ValidString(got) {
			t.Fatalf("SMSBody = %q", got)
		}
	})
}

func TestSMSReplyResponse(t *testing.T) {
	for _, tt := range []struct {
		action string
		alert  int64
		ok     bool
		want   string
	}{
		{twilio.ActionAccept, 42, true, "tocsin: alert 42 accepted."},
		{twilio.ActionResolve, 42, true, "tocsin: alert 42 resolved."},
		{twilio.ActionAccept, 42, false, "could not be accepted"},
		{twilio.ActionResolve, 7, false, "alert 7 could not be resolved"},
		{twilio.ActionAccept, 0, false, "no alert you were paged for is open"},
		{"", 0, false, "reply 1 to accept or 2 to resolve"},
	} {
		s := twilio.SMSReplyResponse(tt.action, tt.alert, tt.ok)
		var doc struct {
			Message []string `xml:"Message"`
			Say     []string `xml:"Say"`
		}
		d := xml.NewDecoder(strings.NewReader(s))
		d.Strict = true
		if err := d.Decode(&doc); err != nil {
			t.Fatalf("SMSReplyResponse is not XML: %v\n%s", err, s)
		}
		if len(doc.Message) != 1 || len(doc.Say) != 0 || !strings.Contains(doc.Message[0], tt.want) {
			t.Errorf("SMSReplyResponse(%q, %d, %v) = %s, want one <Message> with %q", tt.action, tt.alert, tt.ok, s, tt.want)
		}
	}
}
