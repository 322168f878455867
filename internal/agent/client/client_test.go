package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/client"
)

// What the agent does with an answer depends on whether trying again can help.
func TestRetryable(t *testing.T) {
	var status int
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path)
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	c := client.New(srv.URL, "")
	ev := client.Event{IntegrationKey: "k", EventType: "ALERT", Summary: "s"}
	for code, retry := range map[int]bool{400: false, 404: false, 408: true, 429: true, 500: true, 503: true} {
		status = code
		err := c.SendEvent(context.Background(), ev)
		if err == nil || client.Retryable(err) != retry {
			t.Errorf("%d: %v, retryable %v, want %v", code, err, client.Retryable(err), retry)
		}
		var se *client.StatusError
		if code == 429 && (!errors.As(err, &se) || se.RetryAfter != 7*time.Second) {
			t.Errorf("429: Retry-After not read: %v", err)
		}
	}
	status = http.StatusAccepted
	if err := c.SendEvent(context.Background(), ev); err != nil {
		t.Errorf("202: %v", err)
	}
	if err := c.Ping(context.Background(), "il1hbt123"); err != nil {
		t.Errorf("legacy ping: %v", err)
	}
	if err := c.Ping(context.Background(), "monitorkey"); err != nil {
		t.Errorf("monitor ping: %v", err)
	}
	if got := seen[len(seen)-2:]; got[0] != "GET /api/heartbeats/il1hbt123" || got[1] != "HEAD /api/pings/monitorkey" {
		t.Errorf("pings went to %v", got)
	}
	if _, err := c.UserIDByEmail(context.Background(), "a@b.c"); err == nil || client.Retryable(err) {
		t.Errorf("policy call without an API key: %v, want a permanent error", err)
	}
	srv.Close()
	if err := c.SendEvent(context.Background(), ev); !client.Retryable(err) {
		t.Errorf("server down: %v, want retryable", err)
	}
}

// Retry-After is read in seconds or as an HTTP date, and capped at an hour, so that a
// server's odd answer cannot hold an integration key back for days.
func TestRetryAfter(t *testing.T) {
	var header string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", header)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := client.New(srv.URL, "")
	ev := client.Event{IntegrationKey: "k", EventType: "ALERT", Summary: "s"}
	for _, tc := range []struct {
		header   string
		min, max time.Duration
	}{
		{"7", 7 * time.Second, 7 * time.Second},
		{"99999999999", time.Hour, time.Hour},
		{"99999999999999999999999999", time.Hour, time.Hour},
		{"7200", time.Hour, time.Hour},
		{time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat), 100 * time.Second, 2 * time.Minute},
		{time.Now().Add(30 * 24 * time.Hour).UTC().Format(http.TimeFormat), time.Hour, time.Hour},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
		{"-5", 0, 0},
		{"soon", 0, 0},
		{"", 0, 0},
	} {
		header = tc.header
		var se *client.StatusError
		if err := c.SendEvent(context.Background(), ev); !errors.As(err, &se) {
			t.Fatalf("Retry-After %q: %v, want a StatusError", tc.header, err)
		}
		if se.RetryAfter < tc.min || se.RetryAfter > tc.max {
			t.Errorf("Retry-After %q: %s, want between %s and %s", tc.header, se.RetryAfter, tc.min, tc.max)
		}
	}
}

// A ping's key is all a ping needs: errors, which are logged, show it shortened.
func TestPingErrorsHideTheKey(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	const key = "hbk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	for _, k := range []string{key, "il1hbt" + key} {
		err := client.New(down.URL, "").Ping(context.Background(), k)
		if err == nil || strings.Contains(err.Error(), k[8:]) || !client.Retryable(err) {
			t.Errorf("ping to a server that is down: %v; want a retryable error without the key", err)
		}
	}
}

// An API key copied with its "Bearer " (in any case) is sent once with the scheme.
func TestBearerPrefix(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		w.Write([]byte(`{"id": 7}`))
	}))
	defer srv.Close()
	for _, k := range []string{"secret", "Bearer secret", "bearer secret", " BEARER  secret "} {
		if _, err := client.New(srv.URL, k).UserIDByEmail(context.Background(), "a@b.c"); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range got {
		if h != "Bearer secret" {
			t.Errorf("Authorization %q, want \"Bearer secret\"", h)
		}
	}
}
