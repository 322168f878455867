package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// eventAnswer is the 202 body of the Events API.
type eventAnswer struct {
	AlertKey     string `json:"alertKey"`
	AlertURL     string `json:"alertUrl"`
	ResponseCode string `json:"responseCode"`
}

// refusal is an event that did not get a 202: another status, or a transport error.
type refusal struct {
	at     time.Time // when the answer or the error came back
	key    string
	status int // 0 for a transport error
	detail string
}

// ledger records what the event senders sent and what tocsin answered.
type ledger struct {
	mu       sync.Mutex
	sent     map[string]int           // alert key → events sent with it
	accepted map[string][]eventAnswer // alert key → its 202 answers
	refused  []refusal
}

func newLedger() *ledger {
	return &ledger{sent: map[string]int{}, accepted: map[string][]eventAnswer{}}
}

// sharedKeys are alert keys that every sender uses now and then, so that concurrent events for
// one alert have to be deduplicated into it.
const sharedKeys = 4

func isShared(key string) bool { return strings.HasPrefix(key, "shared-") }

// sendEvents posts ALERT events to base from workers goroutines until ctx ends, and returns a
// function that waits for them. Every fourth event uses a shared key; the others a key of
// their own. Requests do not carry ctx: ending it stops new events, never cuts off one that
// is in flight, so every answer recorded is tocsin's own.
func sendEvents(ctx context.Context, base, integrationKey string, workers int, l *ledger) (wait func()) {
	hc := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers},
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				key := fmt.Sprintf("w%02d-%06d", w, n)
				if n%4 == 3 {
					key = fmt.Sprintf("shared-%d", (w+n)%sharedKeys)
				}
				if !l.send(hc, base, integrationKey, key) {
					time.Sleep(20 * time.Millisecond) // the server is gone; do not spin
				}
			}
		})
	}
	return func() {
		wg.Wait()
		hc.CloseIdleConnections()
	}
}

// send posts one event and records the outcome; it reports whether an HTTP answer came back.
func (l *ledger) send(hc *http.Client, base, integrationKey, key string) bool {
	body, _ := json.Marshal(map[string]string{
		"integrationKey": integrationKey, "eventType": "ALERT", "summary": "e2e event " + key, "alertKey": key,
	})
	l.mu.Lock()
	l.sent[key]++
	l.mu.Unlock()
	resp, err := hc.Post(base+"/api/events", "application/json", bytes.NewReader(body))
	if err != nil {
		l.refuse(refusal{at: time.Now(), key: key, detail: err.Error()})
		return false
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	at := time.Now()
	switch {
	case err != nil && resp.StatusCode == http.StatusAccepted:
		// The status line arrived but the body did not: the caller cannot know the outcome.
		l.refuse(refusal{at: at, key: key, status: resp.StatusCode, detail: "body cut off: " + err.Error()})
	case resp.StatusCode == http.StatusAccepted:
		var a eventAnswer
		if err := json.Unmarshal(b, &a); err != nil {
			l.refuse(refusal{at: at, key: key, status: resp.StatusCode, detail: fmt.Sprintf("202 with a body that is not an event answer: %q", b)})
			break
		}
		l.mu.Lock()
		l.accepted[key] = append(l.accepted[key], a)
		l.mu.Unlock()
	default:
		l.refuse(refusal{at: at, key: key, status: resp.StatusCode, detail: string(bytes.TrimSpace(b))})
	}
	return true
}

func (l *ledger) refuse(r refusal) {
	l.mu.Lock()
	l.refused = append(l.refused, r)
	l.mu.Unlock()
}

// totals counts events sent and answered with 202.
func (l *ledger) totals() (sent, accepted int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.sent {
		sent += n
	}
	for _, as := range l.accepted {
		accepted += len(as)
	}
	return sent, accepted
}

// checkStored compares the alerts tocsin lists after a restart with what it answered:
// every key that got a 202 is exactly one open alert, the one the answers linked to, holding
// at least as many events as were acknowledged for it; no key is open twice; and no alert has
// a key that was never sent. No event resolves an alert, so every alert must still be open.
// It must be called once the senders have stopped.
func (l *ledger) checkStored(t *testing.T, alerts []alertJSON) {
	t.Helper()
	errorf := limitErrors(t, 20)
	defer errorf("")
	byKey := map[string][]alertJSON{}
	for _, a := range alerts {
		byKey[a.AlertKey] = append(byKey[a.AlertKey], a)
		if l.sent[a.AlertKey] == 0 {
			errorf("alert %d has key %q, which no event carried", a.ID, a.AlertKey)
		}
		if a.Status == "RESOLVED" {
			errorf("alert %d (key %q) is RESOLVED, but no event resolved it", a.ID, a.AlertKey)
		}
	}
	for key, as := range byKey {
		if len(as) > 1 {
			ids := make([]int64, len(as))
			for i, a := range as {
				ids[i] = a.ID
			}
			errorf("alert key %q is open %d times: alerts %v", key, len(as), ids)
		}
	}
	if len(alerts) > len(l.sent) {
		t.Errorf("%d alerts stored from %d distinct alert keys sent", len(alerts), len(l.sent))
	}
	missing := 0
	for key, answers := range l.accepted {
		as := byKey[key]
		if len(as) == 0 {
			missing++
			errorf("alert key %q got %d × 202 (%+v) but no alert has it", key, len(answers), answers[0])
			continue
		}
		a := as[0]
		created := 0
		for _, ans := range answers {
			if ans.AlertKey != key {
				errorf("event with alertKey %q was answered with alertKey %q", key, ans.AlertKey)
			}
			if id := alertIDOf(ans.AlertURL); id != a.ID {
				errorf("event with alertKey %q was answered with alertUrl %q, but the alert with that key is %d", key, ans.AlertURL, a.ID)
			}
			switch ans.ResponseCode {
			case "NEW_ALERT_CREATED":
				created++
			case "EVENT_ADDED_TO_ALERT":
				if !isShared(key) {
					errorf("the only event with alertKey %q was answered %s", key, ans.ResponseCode)
				}
			default:
				errorf("event with alertKey %q was answered responseCode %q", key, ans.ResponseCode)
			}
		}
		if created > 1 {
			errorf("%d events with alertKey %q were answered NEW_ALERT_CREATED; one alert has the key", created, key)
		}
		if a.EventCount < len(answers) || a.EventCount > l.sent[key] {
			errorf("alert %d (key %q) counts %d events; %d were acknowledged and %d sent", a.ID, key, a.EventCount, len(answers), l.sent[key])
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d alert keys acknowledged with 202 are missing after the restart", missing, len(l.accepted))
	}
	sent, accepted := l.totals()
	t.Logf("sent %d events with %d distinct keys; %d answered 202 (%d keys); %d alerts stored", sent, len(l.sent), accepted, len(l.accepted), len(alerts))
}

// limitErrors returns an Errorf that reports the first max errors and counts the rest; call
// it with "" at the end to report how many were left out. Thousands of events can break a
// rule in the same way, and the first few say enough.
func limitErrors(t *testing.T, max int) func(format string, args ...any) {
	n := 0
	return func(format string, args ...any) {
		t.Helper()
		switch {
		case format == "":
			if n > max {
				t.Errorf("… and %d more errors like these", n-max)
			}
		case n < max:
			t.Errorf(format, args...)
			n++
		default:
			n++
		}
	}
}

// alertIDOf reads the id at the end of an alertUrl such as http://host/api/alerts/42.
func alertIDOf(url string) int64 {
	id, err := strconv.ParseInt(path.Base(url), 10, 64)
	if err != nil {
		return 0
	}
	return id
}
