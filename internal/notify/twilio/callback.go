package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// What a responder asked for by reply or keypress.
const (
	ActionAccept  = "accept"
	ActionResolve = "resolve"
)

// SignatureHeader carries Twilio's signature of a callback.
const SignatureHeader = "X-Twilio-Signature"

// Words a reply may start with. Only the first word counts, so "not fixed yet" is no answer.
var replyWords = map[string]string{
	"1": ActionAccept, "ack": ActionAccept, "acknowledge": ActionAccept, "acknowledged": ActionAccept,
	"accept": ActionAccept, "accepted": ActionAccept, "ok": ActionAccept, "okay": ActionAccept,
	"yes": ActionAccept,

	"2": ActionResolve, "resolve": ActionResolve, "resolved": ActionResolve, "done": ActionResolve,
	"fixed": ActionResolve, "close": ActionResolve, "closed": ActionResolve,
}

// ParseSMSReply returns ActionAccept, ActionResolve or "" for the text of a reply: "1", "ack",
// "OK", "accept" accept; "2", "resolve", "done", "Fixed." resolve, in any case and with trailing
// punctuation. Anything else, including an empty reply, is "".
func ParseSMSReply(body string) string {
	action, _ := ParseSMSReplyAlert(body)
	return action
}

// ParseSMSReplyAlert is ParseSMSReply that also returns the alert a reply names after its first
// word ("1 42", "ack #42", "done alert 42"), or 0 when it names none. A responder paged for
// several alerts uses it to say which one.
func ParseSMSReplyAlert(body string) (action string, alertID int64) {
	words := strings.FieldsFunc(strings.ToLower(body), func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == ',' || r == '.' || r == '!' || r == '#' || r == ':'
	})
	if len(words) == 0 {
		return "", 0
	}
	action = replyWords[words[0]]
	if action == "" {
		return "", 0
	}
	for _, w := range words[1:] {
		if id, err := strconv.ParseInt(w, 10, 64); err == nil && id > 0 {
			return action, id
		}
	}
	return action, 0
}

// ParseDigits maps a keypress to an action: "1" accepts, "2" resolves, anything else is "".
func ParseDigits(digits string) string {
	switch strings.TrimSpace(digits) {
	case "1":
		return ActionAccept
	case "2":
		return ActionResolve
	}
	return ""
}

// VerifySignature reports whether signature (the X-Twilio-Signature header) is Twilio's
// signature of a request to fullURL (scheme, host, path and query exactly as Twilio was given
// them) with the POST parameters form: the Base64 of HMAC-SHA1, keyed with the auth token,
// over fullURL followed by every parameter's name and value, sorted by name. Twilio sometimes
// signs with the default port written out (":443") and sometimes without, so both are tried.
// The comparison takes constant time. An empty token or signature never verifies.
func VerifySignature(authToken, fullURL string, form url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	params := paramString(form)
	ok := 0
	for _, u := range urlVariants(fullURL) {
		mac := hmac.New(sha1.New, []byte(authToken))
		mac.Write([]byte(u))
		mac.Write([]byte(params))
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		ok |= subtle.ConstantTimeCompare([]byte(want), []byte(signature))
	}
	return ok == 1
}

// paramString concatenates names and values sorted by name (and the values of a repeated name
// sorted too), as Twilio does.
func paramString(form url.Values) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(form)) {
		for _, v := range slices.Sorted(slices.Values(form[k])) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	return b.String()
}

// urlVariants is raw, and raw with the scheme's default port added or removed.
func urlVariants(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return []string{raw}
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return []string{raw}
	}
	switch port := u.Port(); port {
	case "":
		with := *u
		with.Host = net.JoinHostPort(u.Hostname(), def)
		return []string{raw, with.String()}
	case def:
		without := *u
		without.Host = u.Hostname()
		if strings.Contains(without.Host, ":") {
			without.Host = "[" + without.Host + "]"
		}
		return []string{raw, without.String()}
	}
	return []string{raw}
}

// RequestURL is the URL Twilio signed for r: publicURL's scheme and host with r's path and
// query. publicURL may have a path prefix that a reverse proxy strips (or not) before tocsin.
func RequestURL(publicURL string, r *http.Request) string {
	base := strings.TrimRight(publicURL, "/")
	pu, err := url.Parse(base)
	if err != nil {
		return base + r.URL.RequestURI()
	}
	if pu.Path != "" && strings.HasPrefix(r.URL.Path, pu.Path+"/") {
		return pu.Scheme + "://" + pu.Host + r.URL.RequestURI()
	}
	return base + r.URL.RequestURI()
}

// VerifyRequest checks the X-Twilio-Signature of a callback to tocsin with the configured auth
// token and public URL. It parses r's form, so handlers read the parameters from r.PostForm
// (the body) and r.URL.Query() afterwards; r.Form mixes both and is not what Twilio signed.
// Limit the body (http.MaxBytesReader) before calling it.
func (c Config) VerifyRequest(r *http.Request) bool {
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		return false
	}
	if err := r.ParseForm(); err != nil {
		return false
	}
	var form url.Values
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	return VerifySignature(c.AuthToken, RequestURL(c.PublicURL, r), form, sig)
}

// Keypress is the callback of a voice call's <Gather> (GatherPath).
type Keypress struct {
	AlertID   int64  // from the callback URL tocsin built
	MessageID int64  // the outbox message that placed the call
	CallSID   string //
	To        string // the number called: the responder
	Digits    string //
	Action    string // ParseDigits(Digits)
}

// ParseGather reads a keypress callback: query is the callback URL's query, form its POST body.
func ParseGather(query, form url.Values) (Keypress, error) {
	alert, msg, err := ids(query)
	if err != nil {
		return Keypress{}, err
	}
	k := Keypress{
		AlertID: alert, MessageID: msg,
		CallSID: form.Get("CallSid"), To: form.Get("To"), Digits: form.Get("Digits"),
	}
	k.Action = ParseDigits(k.Digits)
	return k, nil
}

// InboundSMS is a text sent to tocsin's number (SMSReplyPath).
type InboundSMS struct {
	MessageSID string
	From       string // the responder
	To         string // tocsin's number
	Body       string
	Action     string // ParseSMSReply(Body)
	AlertID    int64  // the alert the reply names, or 0: then it is about the latest page to From
}

// ParseInboundSMS reads the POST body of an incoming message.
func ParseInboundSMS(form url.Values) InboundSMS {
	s := InboundSMS{
		MessageSID: form.Get("MessageSid"), From: form.Get("From"), To: form.Get("To"),
		Body: form.Get("Body"),
	}
	s.Action, s.AlertID = ParseSMSReplyAlert(s.Body)
	return s
}

// Status is a delivery status callback for an SMS (SMSStatusPath) or a call (VoiceStatusPath).
type Status struct {
	AlertID   int64
	MessageID int64
	SID       string // MessageSid or CallSid
	Status    string // MessageStatus or CallStatus as Twilio sends it: "delivered", "no-answer", …
	ErrorCode string // Twilio's error code, when it gives one
	Final     bool   // no further status will follow
	Failed    bool   // the message did not reach the phone, or the call was not answered
}

// ParseStatus reads a status callback: query is the callback URL's query, form its POST body.
func ParseStatus(query, form url.Values) (Status, error) {
	alert, msg, err := ids(query)
	if err != nil {
		return Status{}, err
	}
	s := Status{AlertID: alert, MessageID: msg, ErrorCode: form.Get("ErrorCode")}
	switch {
	case form.Has("MessageStatus"):
		s.SID, s.Status = form.Get("MessageSid"), form.Get("MessageStatus")
		switch s.Status {
		case "delivered", "read":
			s.Final = true
		case "undelivered", "failed", "canceled":
			s.Final, s.Failed = true, true
		}
	case form.Has("CallStatus"):
		s.SID, s.Status = form.Get("CallSid"), form.Get("CallStatus")
		switch s.Status {
		case "completed":
			s.Final = true
		case "busy", "no-answer", "failed", "canceled":
			s.Final, s.Failed = true, true
		}
	default:
		return Status{}, errors.New("twilio: status callback has neither MessageStatus nor CallStatus")
	}
	return s, nil
}

func ids(query url.Values) (alert, msg int64, err error) {
	alert, err = strconv.ParseInt(query.Get("alert"), 10, 64)
	if err != nil || alert <= 0 {
		return 0, 0, fmt.Errorf("twilio: callback URL has no valid alert id")
	}
	msg, err = strconv.ParseInt(query.Get("msg"), 10, 64)
	if err != nil || msg <= 0 {
		return 0, 0, fmt.Errorf("twilio: callback URL has no valid message id")
	}
	return alert, msg, nil
}
