package e2e_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// mailbox is an SMTP server on 127.0.0.1 that keeps every mail it is given.
type mailbox struct {
	host string
	port int

	mu    sync.Mutex
	mails []mailMsg
}

type mailMsg struct {
	from string
	to   []string
	data []byte
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{box: mb}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("SMTP server: %v", err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	mb.host, mb.port = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	return mb
}

func (mb *mailbox) received() []mailMsg {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return slices.Clone(mb.mails)
}

type mailSession struct {
	box *mailbox
	cur mailMsg
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.cur = mailMsg{from: from}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.box.mu.Lock()
	s.box.mails = append(s.box.mails, s.cur)
	s.box.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.cur = mailMsg{} }
func (s *mailSession) Logout() error { return nil }

// fakeTwilio is Twilio's REST API for one account, on 127.0.0.1: it checks each request as
// Twilio would (basic auth with the account SID and auth token, a form with the documented
// fields), answers like Twilio, and keeps the forms of the messages and calls it accepted.
type fakeTwilio struct {
	URL        string
	sid, token string
	from       string // the account's number: every request must send from it

	mu       sync.Mutex
	sms      []url.Values
	calls    []url.Values
	problems []string // requests Twilio would have refused
	n        atomic.Int64
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func startFakeTwilio(t *testing.T, sid, token, from string) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{sid: sid, token: token, from: from}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", f.create("SM", &f.sms))
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Calls.json", f.create("CA", &f.calls))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.problem("unexpected request %s %s", r.Method, r.URL)
		twilioError(w, http.StatusNotFound, 20404, "The requested resource was not found")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeTwilio) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// create handles Messages.json or Calls.json, appending each accepted form to *into.
func (f *fakeTwilio) create(prefix string, into *[]url.Values) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != f.sid || pass != f.token || r.PathValue("sid") != f.sid {
			f.problem("%s: basic auth %q (ok %v) for account %q, want the account SID and auth token", r.URL.Path, user, ok, r.PathValue("sid"))
			twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
			return
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
			f.problem("%s: Content-Type %q, want a form", r.URL.Path, r.Header.Get("Content-Type"))
			twilioError(w, http.StatusBadRequest, 21100, "Invalid content type")
			return
		}
		if err := r.ParseForm(); err != nil {
			f.problem("%s: %v", r.URL.Path, err)
			twilioError(w, http.StatusBadRequest, 21100, "Invalid form")
			return
		}
		form := r.PostForm
		var bad []string
		if !e164.MatchString(form.Get("To")) {
			bad = append(bad, fmt.Sprintf("To %q is not E.164", form.Get("To")))
		}
		if form.Get("From") != f.from {
			bad = append(bad, fmt.Sprintf("From %q is not the account's number %s", form.Get("From"), f.from))
		}
		switch prefix {
		case "SM":
			if strings.TrimSpace(form.Get("Body")) == "" {
				bad = append(bad, "no Body")
			}
		case "CA":
			if (form.Get("Twiml") == "") == (form.Get("Url") == "") {
				bad = append(bad, "exactly one of Twiml and Url is required")
			}
		}
		if cb := form.Get("StatusCallback"); cb != "" {
			if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad = append(bad, fmt.Sprintf("StatusCallback %q is not an absolute URL", cb))
			}
		}
		if len(bad) > 0 {
			f.problem("%s: %s", r.URL.Path, strings.Join(bad, "; "))
			twilioError(w, http.StatusBadRequest, 21604, strings.Join(bad, "; "))
			return
		}
		f.mu.Lock()
		*into = append(*into, form)
		f.mu.Unlock()
		sid := fmt.Sprintf("%s%032x", prefix, f.n.Add(1))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{
			"sid": sid, "account_sid": f.sid, "to": form.Get("To"), "from": form.Get("From"),
			"status": "queued", "api_version": "2010-04-01",
		})
	}
}

// twilioError answers with Twilio's error body.
func twilioError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "message": message, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code)})
}

// sent returns copies of the SMS and call forms accepted so far, and the problems seen.
func (f *fakeTwilio) sent() (sms, calls []url.Values, problems []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sms), slices.Clone(f.calls), slices.Clone(f.problems)
}

// twilioSignature is the X-Twilio-Signature Twilio sends with a callback to fullURL carrying
// the POST parameters form, as Twilio documents it: the Base64 of the HMAC-SHA1, keyed with
// the auth token, of the full URL followed by each parameter's name and value, sorted by name.
func twilioSignature(authToken, fullURL string, form url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	for _, k := range slices.Sorted(maps.Keys(form)) {
		for _, v := range form[k] {
			mac.Write([]byte(k + v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// twilioAnswer is tocsin's answer to a callback.
type twilioAnswer struct {
	status      int
	contentType string
	body        string
}

// postCallback POSTs form to fullURL as Twilio does, with signature in X-Twilio-Signature
// (none when empty).
func postCallback(t *testing.T, fullURL string, form url.Values, signature string) twilioAnswer {
	t.Helper()
	req, err := http.NewRequest("POST", fullURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("callback to %s: %v", fullURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	if signature != "" {
		req.Header.Set("X-Twilio-Signature", signature)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("callback to %s: %v", fullURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("callback to %s: read the answer: %v", fullURL, err)
	}
	return twilioAnswer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(b)}
}

// waitUntil polls cond every 50ms until it holds, and fails the test with what it was waiting
// for when d runs out.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %s: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
