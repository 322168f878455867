package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/notify/webhook"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// hookDelivery is one request the webhook receiver got.
type hookDelivery struct {
	at        time.Time
	path      string // which user's webhook
	messageID int64
	attempt   int
	alertID   int64
	sender    string // host of the payload's alertUrl: the replica that sent it (its --public-url)
	held      bool   // arrived while the receiver was holding requests
}

func (d hookDelivery) String() string {
	s := fmt.Sprintf("attempt %d from %s at %s", d.attempt, d.sender, d.at.Format("15:04:05.000"))
	if d.held {
		s += " (held)"
	}
	return s
}

// hookReceiver is a webhook endpoint on 127.0.0.1 for several users (one path each) that
// verifies each delivery's signature with that user's secret and keeps what it received.
// While held, it records requests as they arrive but answers them only when released, so
// the senders have deliveries in flight.
type hookReceiver struct {
	URL string

	mu         sync.Mutex
	secrets    map[string]string // path → signing secret
	deliveries []hookDelivery
	problems   []string

	hold atomic.Pointer[chan struct{}]
}

func startHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{secrets: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() {
		h.release()
		srv.Close()
	})
	h.URL = srv.URL
	return h
}

func (h *hookReceiver) setSecret(path, secret string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secrets[path] = secret
}

func (h *hookReceiver) problem(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.problems = append(h.problems, fmt.Sprintf(format, args...))
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		h.problem("%s: read the body: %v", r.URL.Path, err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	secret, ok := h.secrets[r.URL.Path]
	h.mu.Unlock()
	if r.Method != http.MethodPost || !ok {
		h.problem("unexpected %s %s", r.Method, r.URL.Path)
		http.Error(w, "no such webhook", http.StatusNotFound)
		return
	}
	ts, sig := r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature)
	if !webhook.Verify(secret, ts, body, sig, time.Now(), 5*time.Minute) {
		h.problem("%s: signature %q with timestamp %q does not verify", r.URL.Path, sig, ts)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		h.problem("%s: body %s: %v", r.URL.Path, body, err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	want := fmt.Sprintf("%d-%d", p.MessageID, p.Attempt)
	if got := r.Header.Get(webhook.HeaderDelivery); got != want || p.ID != want {
		h.problem("%s: %s %q and id %q for messageId %d attempt %d, want %q", r.URL.Path, webhook.HeaderDelivery, got, p.ID, p.MessageID, p.Attempt, want)
	}
	d := hookDelivery{at: time.Now(), path: r.URL.Path, messageID: p.MessageID, attempt: p.Attempt, alertID: p.AlertID}
	if u, err := url.Parse(p.AlertURL); err == nil {
		d.sender = u.Host
	}
	gate := h.hold.Load()
	d.held = gate != nil
	h.mu.Lock()
	h.deliveries = append(h.deliveries, d)
	h.mu.Unlock()
	if gate != nil {
		select {
		case <-*gate:
		case <-r.Context().Done(): // the sender died
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// holdRequests makes the receiver keep new requests waiting until release.
func (h *hookReceiver) holdRequests() {
	gate := make(chan struct{})
	h.hold.Store(&gate)
}

func (h *hookReceiver) release() {
	if gate := h.hold.Swap(nil); gate != nil {
		close(*gate)
	}
}

func (h *hookReceiver) received() ([]hookDelivery, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.deliveries), slices.Clone(h.problems)
}

// Two replicas share one PostgreSQL database and its engine. Events arrive at both; one
// replica is killed with deliveries in flight. Every notification is still delivered, the
// ones the dead replica had in flight at most once more (after its lease runs out), and every
// other exactly once.
func TestReplicasShareTheEngine(t *testing.T) {
	const (
		events = 300
		users  = 3
		// How long the survivor may take to deliver everything after the kill: the dead
		// replica's claims are taken over when their lease ends (--claim-lease 5s).
		takeOver = 30 * time.Second
	)
	dsn := storetest.PostgresDSN(t)
	apiKey := createUserWithKey(t, dsn, "admin@example.com", "ADMIN")
	recv := startHookReceiver(t)
	var replicas [2]*process
	for i := range replicas {
		addr := freeAddr(t)
		replicas[i] = startServeAt(t, addr, dsn, "--public-url", "http://"+addr, "--allow-private-webhooks", "--event-rate", "0",
			"--claim-lease", "5s", "--rate-per-user", "0")
	}
	survivor, victim := replicas[0], replicas[1]
	victimHost := victim.URL[len("http://"):]
	c := newClient(survivor.URL, bearer(apiKey))

	var level []any
	hookOf := map[int64]string{} // user → webhook path
	for i := range users {
		u := c.createUser(t, "Replica", fmt.Sprintf("User%d", i), fmt.Sprintf("replica%d@example.com", i))
		path := fmt.Sprintf("/hooks/%d", u)
		hook := c.createContactFull(t, u, "webhooks", map[string]any{"target": recv.URL + path})
		if hook.Secret == "" {
			t.Fatalf("POST /api/users/%d/contacts/webhooks answered no secret", u)
		}
		recv.setSecret(path, hook.Secret)
		c.createAlertRule(t, u, "WEBHOOK", hook.ID, 0)
		hookOf[u] = path
		level = append(level, map[string]any{"id": u})
	}
	integrationKey := c.createSource(t, map[string]any{
		"name":            "replicas",
		"escalationRules": []any{map[string]any{"escalationTimeout": 5, "users": level}},
	})

	// Events go alternately to both replicas, to the survivor alone once the other is being
	// killed; an event cut off by the kill is sent again to the survivor (same key, so it
	// joins its alert if the first one was committed).
	var killing atomic.Bool
	var resent atomic.Int64
	sent := map[string]bool{}
	failures := make(chan string, events)
	done := make(chan struct{})
	hc := &http.Client{Timeout: 10 * time.Second}
	for i := range events {
		sent[fmt.Sprintf("replica-event-%04d", i)] = true
	}
	go func() {
		defer close(done)
		for i := range events {
			key := fmt.Sprintf("replica-event-%04d", i)
			to := replicas[i%2]
			if killing.Load() {
				to = survivor
			}
			_, err := sendEvent(hc, to.URL, integrationKey, key, "replica test "+key)
			if err != nil && to == victim {
				resent.Add(1)
				_, err = sendEvent(hc, survivor.URL, integrationKey, key, "replica test "+key)
			}
			if err != nil {
				failures <- fmt.Sprintf("event %s: %v", key, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	waitUntil(t, 30*time.Second, "90 webhook deliveries", func() bool {
		ds, _ := recv.received()
		return len(ds) >= 90
	})
	recv.holdRequests()
	waitUntil(t, 10*time.Second, "a delivery from the replica to be killed while requests are held", func() bool {
		ds, _ := recv.received()
		return slices.ContainsFunc(ds, func(d hookDelivery) bool { return d.held && d.sender == victimHost })
	})
	time.Sleep(200 * time.Millisecond) // the victim records what it finished before the hold
	killing.Store(true)
	victim.signal(syscall.SIGKILL)
	if st := victim.wait(exitTimeout); st.Success() {
		t.Fatalf("the victim exited with %v after SIGKILL", st)
	}
	killedAt := time.Now()
	recv.release()
	<-done
	close(failures)
	for f := range failures {
		t.Errorf("%s", f)
	}

	// Which messages the victim had in flight: delivered to the receiver, never answered.
	ds, _ := recv.received()
	inFlight := map[int64]bool{}
	for _, d := range ds {
		if d.held && d.sender == victimHost {
			inFlight[d.messageID] = true
		}
	}

	want := events * users
	waitUntil(t, takeOver, fmt.Sprintf("%d distinct messages delivered, and the %d the killed replica had in flight delivered again", want, len(inFlight)), func() bool {
		ds, _ := recv.received()
		count := map[int64]int{}
		for _, d := range ds {
			count[d.messageID]++
		}
		if len(count) < want {
			return false
		}
		for id := range inFlight {
			if count[id] < 2 {
				return false
			}
		}
		return true
	})
	complete := time.Since(killedAt)
	time.Sleep(time.Second) // anything sent twice would arrive now
	ds, problems := recv.received()
	for _, p := range problems {
		t.Errorf("webhook receiver: %s", p)
	}

	alerts := c.allAlerts(t)
	if len(alerts) != events {
		t.Errorf("%d alerts stored, want %d (one per distinct alert key)", len(alerts), events)
	}
	byMessage := map[int64][]hookDelivery{}
	for _, d := range ds {
		byMessage[d.messageID] = append(byMessage[d.messageID], d)
	}
	errorf := limitErrors(t, 20)
	rows := map[int64]notificationJSON{}
	seenKeys := map[string]bool{}
	unsent := 0 // claimed by the killed replica but not sent before it died
	for _, a := range alerts {
		if !sent[a.AlertKey] || seenKeys[a.AlertKey] {
			errorf("alert %d has key %q: not sent, or already another alert's", a.ID, a.AlertKey)
		}
		seenKeys[a.AlertKey] = true
		ns := c.notifications(t, a.ID)
		if len(ns) != users {
			errorf("alert %d has %d notifications, want %d (one per user)", a.ID, len(ns), users)
		}
		paged := map[int64]bool{}
		for _, n := range ns {
			rows[n.ID] = n
			if n.Status != "SUCCESS" {
				errorf("notification %d of alert %d is %s (%s), want SUCCESS", n.ID, a.ID, n.Status, n.ErrorMessage)
			}
			if paged[n.User.ID] {
				errorf("alert %d notified user %d twice", a.ID, n.User.ID)
			}
			paged[n.User.ID] = true
			// The webhook's URL is shown without its path (it may hold a token); where each
			// message went is checked against what the receiver got, below.
			if n.Method != "WEBHOOK" || n.Target != notify.RedactURL(recv.URL+hookOf[n.User.ID]) || strings.Contains(n.Target, hookOf[n.User.ID]) {
				errorf("notification %d of alert %d: %s to %s, want WEBHOOK to user %d's webhook, its path hidden", n.ID, a.ID, n.Method, n.Target, n.User.ID)
			}
			got := byMessage[n.ID]
			// A message the killed replica sent but had not recorded when it died (the kill
			// fell between the send and its commit) is sent once more by the survivor: one
			// extra delivery at most, as promised.
			resent := len(got) == 2 && got[0].sender == victimHost && got[0].attempt == 1 && got[1].attempt == 2 &&
				got[1].sender != victimHost && !got[1].at.Before(killedAt)
			// Attempts are counted when claimed: 2 means the killed replica had claimed it.
			claimedByVictim := inFlight[n.ID] || resent || (len(got) == 1 && got[0].attempt == 2 && got[0].sender != victimHost)
			if claimedByVictim && len(got) == 1 {
				unsent++
			}
			if wantAttempt := map[bool]int{false: 1, true: 2}[claimedByVictim]; n.Attempt != wantAttempt {
				errorf("notification %d (claimed by the killed replica: %v) took %d attempts, want %d; deliveries %v", n.ID, claimedByVictim, n.Attempt, wantAttempt, got)
			}
			for _, d := range got {
				if d.alertID != a.ID || d.path != hookOf[n.User.ID] {
					errorf("message %d delivered as alert %d to %s, want alert %d to %s", n.ID, d.alertID, d.path, a.ID, hookOf[n.User.ID])
				}
			}
			switch {
			case len(got) == 0:
				errorf("notification %d of alert %d (user %d) never reached the receiver", n.ID, a.ID, n.User.ID)
			case inFlight[n.ID] || resent:
				if len(got) != 2 || got[0].attempt != 1 || got[1].attempt != 2 || got[1].sender == victimHost || got[1].at.Before(killedAt) {
					errorf("message %d, in flight or unrecorded at the kill, was delivered %d times (%v); want attempt 1 from the killed replica, then attempt 2 from the survivor", n.ID, len(got), got)
				}
			case len(got) != 1:
				errorf("message %d, not in flight at the kill, was delivered %d times (%v); want exactly once", n.ID, len(got), got)
			}
		}
	}
	for id, got := range byMessage {
		if _, ok := rows[id]; !ok {
			errorf("the receiver got message %d (%d times), which no alert lists", id, len(got))
		}
	}
	errorf("")
	fromVictim := 0
	for _, d := range ds {
		if d.sender == victimHost {
			fromVictim++
		}
	}
	t.Logf("%d events (%d sent again after the kill), %d alerts, %d notifications; %d deliveries, %d by the killed replica; "+
		"%d in flight at the kill, delivered again %s after it; %d claimed by it and not sent; all delivered %s after the kill",
		events, resent.Load(), len(alerts), len(rows), len(ds), fromVictim, len(inFlight), takeOverTime(byMessage, inFlight, killedAt), unsent, complete.Round(time.Millisecond))
}

// takeOverTime is how long after the kill the last in-flight message was delivered again.
func takeOverTime(byMessage map[int64][]hookDelivery, inFlight map[int64]bool, killedAt time.Time) time.Duration {
	var last time.Time
	for id := range inFlight {
		for _, d := range byMessage[id] {
			if d.at.After(last) {
				last = d.at
			}
		}
	}
	return last.Sub(killedAt).Round(time.Millisecond)
}
