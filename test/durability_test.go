package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// ingestSetUp prepares a database with an administrator and an API alert source, and starts
// tocsin on it without a rate limit. It returns the process, the API key and the source's
// integration key.
func ingestSetUp(t *testing.T, dsn string) (srv *process, apiKey, integrationKey string) {
	t.Helper()
	apiKey = createUserWithKey(t, dsn, "oncall@example.com", "ADMIN")
	srv = startServe(t, dsn, "--event-rate", "0")
	c := newClient(srv.URL, bearer(apiKey))
	return srv, apiKey, c.setUpSource(t, c.currentUser(t).ID)
}

// waitForAccepted waits until the senders have had n events acknowledged, so the test
// interrupts a stream that is really flowing.
func waitForAccepted(t *testing.T, l *ledger, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, accepted := l.totals(); accepted >= n {
			return
		}
		if time.Now().After(deadline) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if len(l.refused) > 0 {
				r := l.refused[0]
				t.Fatalf("fewer than %d events acknowledged in 10s; the first refusal: status %d for %q: %s", n, r.status, r.key, r.detail)
			}
			t.Fatalf("fewer than %d events acknowledged in 10s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An event answered 202 is committed: killing the process outright, with requests in
// flight, loses none of them, and the restarted server holds each acknowledged alert once.
func TestDurabilityAfterSIGKILL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		srv, apiKey, integrationKey := ingestSetUp(t, dsn)

		l := newLedger()
		ctx, stopSending := context.WithCancel(context.Background())
		defer stopSending()
		wait := sendEvents(ctx, srv.URL, integrationKey, 16, l)
		waitForAccepted(t, l, 50)
		time.Sleep(1500 * time.Millisecond)
		killedAt := time.Now()
		srv.signal(syscall.SIGKILL)
		if st := srv.wait(exitTimeout); st.Success() {
			t.Fatalf("tocsin exited with %v after SIGKILL; it was not killed mid-stream", st)
		}
		stopSending()
		wait()

		errorf := limitErrors(t, 20)
		cutOff := 0
		for _, r := range l.refused {
			switch {
			case r.status != 0:
				errorf("event %q answered %d, want 202: %s", r.key, r.status, r.detail)
			case r.at.Before(killedAt):
				errorf("event %q failed before the kill: %s", r.key, r.detail)
			default:
				cutOff++
			}
		}
		errorf("")
		t.Logf("%d requests failed at or after the kill (in flight or sent to the dead server)", cutOff)

		restarted := startServe(t, dsn, "--event-rate", "0")
		l.checkStored(t, newClient(restarted.URL, bearer(apiKey)).allAlerts(t))
	})
}

// SIGTERM lets requests in flight finish: the process exits 0 within a few seconds, every
// event answered 202 is stored, and events that arrive after shutdown began are refused with
// a connection error or 503, never acknowledged and dropped. One event is held in flight by a
// client that sends half its body before SIGTERM and the rest after: it must still be
// answered 202 and stored.
func TestGracefulShutdown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		srv, apiKey, integrationKey := ingestSetUp(t, dsn)

		l := newLedger()
		ctx, stopSending := context.WithCancel(context.Background())
		defer stopSending()
		wait := sendEvents(ctx, srv.URL, integrationKey, 8, l)
		waitForAccepted(t, l, 50)
		slow := startSlowEvent(t, srv.URL, integrationKey, "slow-in-flight")
		time.Sleep(time.Second)
		_, acceptedBefore := l.totals()
		termAt := time.Now()
		srv.signal(syscall.SIGTERM)

		time.Sleep(300 * time.Millisecond)
		if srv.hasExited() {
			t.Fatalf("tocsin exited (%v) within 300ms of SIGTERM while a request was still in flight", srv.state)
		}
		if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(srv.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("a new request during shutdown was answered %s, want a connection error or 503", resp.Status)
			}
		}
		l.mu.Lock()
		l.sent[slow.key]++
		l.mu.Unlock()
		finishedAt := time.Now()
		if ans, err := slow.finish(); err != nil {
			t.Errorf("the event in flight at SIGTERM was not answered: %v", err)
		} else {
			l.mu.Lock()
			l.accepted[slow.key] = append(l.accepted[slow.key], ans)
			l.mu.Unlock()
		}

		st := srv.wait(exitTimeout)
		took := time.Since(finishedAt)
		time.Sleep(300 * time.Millisecond) // keep sending to the closed port
		stopSending()
		wait()

		if st.ExitCode() != 0 {
			t.Errorf("tocsin exited with %v after SIGTERM, want exit status 0", st)
		}
		if took > 5*time.Second {
			t.Errorf("tocsin took %s to exit after the last request in flight finished, want under 5s", took.Round(time.Millisecond))
		}
		errorf := limitErrors(t, 20)
		var connErrs, unavailable int
		for _, r := range l.refused {
			switch {
			case r.at.Before(termAt):
				errorf("event %q refused before SIGTERM: status %d: %s", r.key, r.status, r.detail)
			case r.status == 0:
				connErrs++
			case r.status == http.StatusServiceUnavailable:
				unavailable++
			default:
				errorf("event %q during shutdown answered %d, want 202, 503 or a connection error: %s", r.key, r.status, r.detail)
			}
		}
		errorf("")
		_, accepted := l.totals()
		t.Logf("exit %s after the last request in flight; during shutdown: %d × 202, %d × 503, %d connection errors",
			took.Round(time.Millisecond), accepted-acceptedBefore, unavailable, connErrs)

		restarted := startServe(t, dsn, "--event-rate", "0")
		l.checkStored(t, newClient(restarted.URL, bearer(apiKey)).allAlerts(t))
	})
}

// --shutdown-timeout bounds how long a client that never finishes its request can keep a
// stopping tocsin alive: it waits for the request that long, and no longer.
func TestShutdownTimeout(t *testing.T) {
	const timeout = time.Second
	srv := startServe(t, storetest.SQLiteDSN(t), "--shutdown-timeout", timeout.String())
	startSlowEvent(t, srv.URL, "no-such-key", "stalled") // the rest of the body never comes
	time.Sleep(200 * time.Millisecond)
	termAt := time.Now()
	srv.signal(syscall.SIGTERM)
	st := srv.wait(exitTimeout)
	took := time.Since(termAt)
	if took < timeout-100*time.Millisecond {
		t.Errorf("tocsin exited %s after SIGTERM, before --shutdown-timeout %s, with a request in flight", took.Round(time.Millisecond), timeout)
	}
	if took > timeout+3*time.Second {
		t.Errorf("tocsin exited %s after SIGTERM, want soon after --shutdown-timeout %s", took.Round(time.Millisecond), timeout)
	}
	t.Logf("exited with %v %s after SIGTERM", st, took.Round(time.Millisecond))
}

// slowEvent is an Events API request whose body is only half sent.
type slowEvent struct {
	key  string
	conn net.Conn
	rest []byte
}

// startSlowEvent sends the headers and half the body of an ALERT event over a connection
// of its own, and leaves the request waiting for the rest.
func startSlowEvent(t *testing.T, base, integrationKey, alertKey string) *slowEvent {
	t.Helper()
	body, _ := json.Marshal(map[string]string{
		"integrationKey": integrationKey, "eventType": "ALERT", "summary": "in flight at SIGTERM", "alertKey": alertKey,
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", u.Host, err)
	}
	t.Cleanup(func() { conn.Close() })
	half := len(body) / 2
	head := fmt.Sprintf("POST /api/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", u.Host, len(body))
	if _, err := conn.Write(append([]byte(head), body[:half]...)); err != nil {
		t.Fatalf("send the first half of the event: %v", err)
	}
	return &slowEvent{key: alertKey, conn: conn, rest: body[half:]}
}

// finish sends the rest of the body and reads the answer, which must be a 202.
func (s *slowEvent) finish() (eventAnswer, error) {
	s.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.conn.Write(s.rest); err != nil {
		return eventAnswer{}, fmt.Errorf("send the rest of the body: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	if err != nil {
		return eventAnswer{}, fmt.Errorf("read the answer: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return eventAnswer{}, fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return eventAnswer{}, fmt.Errorf("status %s, want 202: %s", resp.Status, b)
	}
	var a eventAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return eventAnswer{}, fmt.Errorf("decode %s: %w", b, err)
	}
	return a, nil
}
