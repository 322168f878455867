package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/notify/netguard"
	"github.com/tocsinhq/tocsin/internal/notify/webhook"
)

var now = time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)

const secret = "whsec_9f8e7d6c5b4a"

func message(target string) notify.Message {
	return notify.Message{
		ID: 4711, Attempt: 2, Method: notify.Webhook, Target: target, Secret: secret,
		UserID: 3, AlertID: 42,
		Summary: `Disk <full> on "db-1"`, Details: "95% used\nsecond line",
		Priority: "HIGH", Status: "PENDING", Source: "Prometheus", AlertKey: "disk-db-1",
		ReportAt:   time.Date(2026, 3, 29, 1, 29, 0, 0, time.FixedZone("CET", 3600)),
		AlertURL:   "https://tocsin.example.com/alerts/42",
		AcceptURL:  "https://tocsin.example.com/r/accept/tok1",
		ResolveURL: "https://tocsin.example.com/r/resolve/tok2",
	}
}

func mustNew(t *testing.T, cfg webhook.Config) *webhook.Channel {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return now }
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type received struct {
	method string
	header http.Header
	body   []byte
}

// receiver records requests and answers with status.
func receiver(t *testing.T, status int, answer string) (*httptest.Server, func() []received) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Method, r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

func TestSend(t *testing.T) {
	srv, got := receiver(t, http.StatusNoContent, "")
	ch := mustNew(t, webhook.Config{AllowPrivate: true})
	if err := ch.Send(context.Background(), message(srv.URL+"/hook")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("receiver saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost {
		t.Errorf("method = %s, want POST", r.method)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if ts := r.header.Get(webhook.HeaderTimestamp); ts != "1774747800" {
		t.Errorf("timestamp = %q, want 1774747800", ts)
	}
	if d := r.header.Get(webhook.HeaderDelivery); d != "4711-2" {
		t.Errorf("delivery = %q, want 4711-2", d)
	}
	sig := r.header.Get(webhook.HeaderSignature)
	if !webhook.Verify(secret, r.header.Get(webhook.HeaderTimestamp), r.body, sig, now, time.Minute) {
		t.Errorf("signature %q does not verify", sig)
	}
	if webhook.Verify("another secret", r.header.Get(webhook.HeaderTimestamp), r.body, sig, now, time.Minute) {
		t.Errorf("signature verifies with the wrong secret")
	}

	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	want := map[string]any{
		"id": "4711-2", "messageId": 4711.0, "attempt": 2.0, "type": "alert", "alertId": 42.0,
		"summary": `Disk <full> on "db-1"`, "details": "95% used\nsecond line",
		"priority": "HIGH", "status": "PENDING", "source": "Prometheus", "alertKey": "disk-db-1",
		"reportTime": "2026-03-29T00:29:00Z",
		"alertUrl":   "https://tocsin.example.com/alerts/42",
		"acceptUrl":  "https://tocsin.example.com/r/accept/tok1",
		"resolveUrl": "https://tocsin.example.com/r/resolve/tok2",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("body[%q] = %#v, want %#v", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("body has %d fields, want %d: %s", len(p), len(want), r.body)
	}
}

func TestSendStandalone(t *testing.T) {
	srv, got := receiver(t, http.StatusOK, "")
	m := notify.Message{ID: 4712, Attempt: 1, Method: notify.Webhook, Target: srv.URL + "/hook", Secret: secret,
		UserID: 3, Purpose: "DUTY", Subject: "On call soon: primary", Text: "Your on-call shift starts at 09:00 CET."}
	if err := mustNew(t, webhook.Config{AllowPrivate: true}).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r := got()[0]
	if !webhook.Verify(secret, r.header.Get(webhook.HeaderTimestamp), r.body, r.header.Get(webhook.HeaderSignature), now, time.Minute) {
		t.Errorf("signature does not verify")
	}
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	want := map[string]any{"id": "4712-1", "messageId": 4712.0, "attempt": 1.0, "type": "duty",
		"subject": "On call soon: primary", "text": "Your on-call shift starts at 09:00 CET."}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("body[%q] = %#v, want %#v", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("body has %d fields, want %d (no alert fields): %s", len(p), len(want), r.body)
	}
}

func TestSendClassification(t *testing.T) {
	for _, tt := range []struct {
		name      string
		status    int
		retryable bool
	}{
		{"TooManyRequestsIsRetryable", 429, true},
		{"ServerErrorIsRetryable", 500, true},
		{"BadGatewayIsRetryable", 502, true},
		{"BadRequestIsPermanent", 400, false},
		{"NotFoundIsPermanent", 404, false},
		{"GoneIsPermanent", 410, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := receiver(t, tt.status, "nope")
			err := mustNew(t, webhook.Config{AllowPrivate: true}).Send(context.Background(), message(srv.URL))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if notify.IsRetryable(err) != tt.retryable {
				t.Fatalf("IsRetryable(%v) = %v, want %v", err, !tt.retryable, tt.retryable)
			}
			if len(got()) != 1 {
				t.Fatalf("receiver saw %d requests, want 1", len(got()))
			}
		})
	}

	t.Run("RedirectIsNotFollowedAndPermanent", func(t *testing.T) {
		target, targetGot := receiver(t, 200, "")
		redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
		t.Cleanup(redirector.Close)
		err := mustNew(t, webhook.Config{AllowPrivate: true}).Send(context.Background(), message(redirector.URL))
		if err == nil || notify.IsRetryable(err) {
			t.Fatalf("err = %v, want a permanent error", err)
		}
		if n := len(targetGot()); n != 0 {
			t.Fatalf("redirect target saw %d requests, want 0", n)
		}
	})

	t.Run("ConnectionRefusedIsRetryable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		err := mustNew(t, webhook.Config{AllowPrivate: true}).Send(context.Background(), message(url))
		if err == nil || !notify.IsRetryable(err) {
			t.Fatalf("err = %v, want a retryable error", err)
		}
	})

	t.Run("TimeoutIsRetryable", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		ch := mustNew(t, webhook.Config{AllowPrivate: true, Timeout: 200 * time.Millisecond})
		err := ch.Send(context.Background(), message(srv.URL))
		if err == nil || !notify.IsRetryable(err) {
			t.Fatalf("err = %v, want a retryable error", err)
		}
	})

	t.Run("LoopbackRefusedByDefault", func(t *testing.T) {
		srv, got := receiver(t, 200, "")
		err := mustNew(t, webhook.Config{}).Send(context.Background(), message(srv.URL))
		if err == nil || notify.IsRetryable(err) {
			t.Fatalf("err = %v, want a permanent error", err)
		}
		if len(got()) != 0 {
			t.Fatal("the refused receiver got a request")
		}
	})

	t.Run("NameResolvingToLoopbackRefusedAtConnect", func(t *testing.T) {
		srv, got := receiver(t, 200, "")
		u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
		err := mustNew(t, webhook.Config{}).Send(context.Background(), message(u))
		if !errors.Is(err, netguard.ErrRefused) && (err == nil || !strings.Contains(err.Error(), "not allowed")) {
			t.Fatalf("err = %v, want the guard's refusal", err)
		}
		if notify.IsRetryable(err) {
			t.Fatalf("err = %v is retryable; a refused destination stays refused", err)
		}
		if len(got()) != 0 {
			t.Fatal("the refused receiver got a request")
		}
	})

	t.Run("MissingSecretIsPermanent", func(t *testing.T) {
		srv, got := receiver(t, 200, "")
		m := message(srv.URL)
		m.Secret = ""
		err := mustNew(t, webhook.Config{AllowPrivate: true}).Send(context.Background(), m)
		if err == nil || notify.IsRetryable(err) {
			t.Fatalf("err = %v, want a permanent error", err)
		}
		if len(got()) != 0 {
			t.Fatal("an unsigned request was sent")
		}
	})
}

func TestSendRedactsSecrets(t *testing.T) {
	const pathToken = "T0KEN-in-the-path"
	const queryToken = "qs-token-123"
	const password = "hunter2-basic"
	// The receiver echoes everything it was sent, as a careless one might.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, r.URL.String()+" "+r.Header.Get("Authorization")+" "+string(body)+" secret="+secret)
	}))
	t.Cleanup(srv.Close)
	withCreds := strings.Replace(srv.URL, "http://", "http://bob:"+password+"@", 1) + "/hooks/" + pathToken + "?token=" + queryToken
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := strings.Replace(closed.URL, "http://", "http://bob:"+password+"@", 1) + "/hooks/" + pathToken + "?token=" + queryToken
	closed.Close()

	ch := mustNew(t, webhook.Config{AllowPrivate: true})
	for name, target := range map[string]string{"ErrorAnswer": withCreds, "NetworkError": closedURL} {
		t.Run(name, func(t *testing.T) {
			err := ch.Send(context.Background(), message(target))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if !notify.IsRetryable(err) {
				t.Errorf("redaction lost the classification: %v", err)
			}
			for _, s := range []string{password, pathToken, queryToken, secret} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains the secret %q", err, s)
				}
			}
			t.Log(err)
			if !strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("error %q does not say which host failed", err)
			}
		})
	}
}

func TestSign(t *testing.T) {
	// Computed independently: printf '%s' '1700000000.{"hello":"world"}' | openssl dgst -sha256 -hmac whsec_test
	got := webhook.Sign("whsec_test", "1700000000", []byte(`{"hello":"world"}`))
	want := "v1=f592bbf3951cfc94e560eecfb5d9dd4da6b0fff2e626235f8ab4b54860925d0b"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"hello":"world"}`)
	const ts = "1700000000"
	at := time.Unix(1700000000, 0)
	good := webhook.Sign("whsec_test", ts, body)
	for _, tt := range []struct {
		name      string
		secret    string
		timestamp string
		body      string
		header    string
		now       time.Time
		tolerance time.Duration
		want      bool
	}{
		{"Valid", "whsec_test", ts, string(body), good, at, time.Minute, true},
		{"ValidWithinTolerance", "whsec_test", ts, string(body), good, at.Add(59 * time.Second), time.Minute, true},
		{"ValidWithDefaultTolerance", "whsec_test", ts, string(body), good, at.Add(4 * time.Minute), 0, true},
		{"ValidAmongSeveral", "whsec_test", ts, string(body), "v1=00ff, " + good, at, time.Minute, true},
		{"WrongSecret", "whsec_other", ts, string(body), good, at, time.Minute, false},
		{"TamperedBody", "whsec_test", ts, `{"hello":"World"}`, good, at, time.Minute, false},
		{"TamperedTimestamp", "whsec_test", "1700000001", string(body), good, at, time.Minute, false},
		{"TooOld", "whsec_test", ts, string(body), good, at.Add(61 * time.Second), time.Minute, false},
		{"FromTheFuture", "whsec_test", ts, string(body), good, at.Add(-61 * time.Second), time.Minute, false},
		{"TooOldForDefaultTolerance", "whsec_test", ts, string(body), good, at.Add(6 * time.Minute), 0, false},
		{"NoVersionPrefix", "whsec_test", ts, string(body), strings.TrimPrefix(good, "v1="), at, time.Minute, false},
		{"OtherVersion", "whsec_test", ts, string(body), "v2=" + strings.TrimPrefix(good, "v1="), at, time.Minute, false},
		{"NotHex", "whsec_test", ts, string(body), "v1=zz", at, time.Minute, false},
		{"Empty", "whsec_test", ts, string(body), "", at, time.Minute, false},
		{"BadTimestamp", "whsec_test", "soon", string(body), good, at, time.Minute, false},
		{"EmptySecret", "", ts, string(body), webhook.Sign("", ts, body), at, time.Minute, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := webhook.Verify(tt.secret, tt.timestamp, []byte(tt.body), tt.header, tt.now, tt.tolerance)
			if got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSendErrorNamesPlainPath(t *testing.T) {
	// Words in the path are not tokens: redacting them would garble the message.
	srv, _ := receiver(t, http.StatusServiceUnavailable, "maintenance")
	err := mustNew(t, webhook.Config{AllowPrivate: true}).Send(context.Background(), message(srv.URL+"/webhook/alerts"))
	if err == nil || !strings.HasPrefix(err.Error(), "webhook http://127.0.0.1:") || !strings.Contains(err.Error(), "answered 503: maintenance") {
		t.Fatalf("err = %v", err)
	}
}
