package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The agent tests run `tocsin agent` beside `tocsin serve`, both the real binary, on
// temporary SQLite files.

// agentServer is a tocsin server with an administrator's API client and one API alert source.
type agentServer struct {
	addr, dsn      string
	srv            *process
	api            *client
	integrationKey string
	sourceID       int64
}

func startAgentServer(t *testing.T) *agentServer {
	t.Helper()
	s := &agentServer{addr: freeAddr(t), dsn: filepath.Join(t.TempDir(), "tocsin.db")}
	apiKey := createUserWithKey(t, s.dsn, "agent@example.com", "ADMIN")
	s.srv = startServeAt(t, s.addr, s.dsn)
	s.api = newClient(s.srv.URL, bearer(apiKey))
	s.integrationKey = s.api.setUpSource(t, s.api.currentUser(t).ID)
	var src struct {
		ID int64 `json:"id"`
	}
	s.api.call(t, "GET", "/api/alert-sources/"+s.integrationKey, nil, http.StatusOK, &src)
	s.sourceID = src.ID
	return s
}

func (s *agentServer) url() string { return "http://" + s.addr }

func (s *agentServer) stop(t *testing.T) {
	t.Helper()
	s.srv.stop()
}

func (s *agentServer) restart(t *testing.T) {
	t.Helper()
	s.srv = startServeAt(t, s.addr, s.dsn)
}

// alertsByKey lists the server's alerts by alert key.
func (s *agentServer) alertsByKey(t *testing.T) map[string][]alertJSON {
	t.Helper()
	out := map[string][]alertJSON{}
	for _, a := range s.api.allAlerts(t) {
		out[a.AlertKey] = append(out[a.AlertKey], a)
	}
	return out
}

// pinged reports whether heartbeat monitor id has been pinged and is healthy.
func (s *agentServer) pinged(t *testing.T, id int64) bool {
	t.Helper()
	var m heartbeatMonitorJSON
	s.api.call(t, "GET", fmt.Sprintf("/api/heartbeat-monitors/%d", id), nil, http.StatusOK, &m)
	return m.LastPingAt != nil && m.State == "HEALTHY"
}

// agentProc is a running `tocsin agent daemon` with its proxy on 127.0.0.1.
type agentProc struct {
	*process
	base string // the proxy's http://addr
}

// startAgent starts the daemon with the proxy on a free port, the buffer in file and the
// server at server, and waits until /health answers.
func startAgent(t *testing.T, server, file string, extra ...string) *agentProc {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	args := append([]string{"agent", "-v", "--server", server, "-f", file, "daemon", "-p", port, "--bind", "127.0.0.1", "--max_backoff", "1s"}, extra...)
	a := &agentProc{process: start(t, childEnv(), args...), base: "http://" + addr}
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := hc.Get(a.base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return a
			}
		}
		if a.hasExited() {
			t.Fatalf("%s exited (%v) before its proxy answered\n%s", a.name, a.state, tail(a.stderr.String()))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no answer from %s/health after %s", a.name, a.base, readyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// post sends body to the proxy's Events API and returns the status and answer.
func (a *agentProc) post(t *testing.T, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(a.base+"/api/events", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s/api/events: %v", a.base, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// metric reads one sample of the proxy's /metrics, such as
// `tocsin_agent_deliveries_total{kind="event",outcome="rejected"}`.
func (a *agentProc) metric(t *testing.T, sample string) float64 {
	t.Helper()
	resp, err := http.Get(a.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %s: %v", sc.Text(), err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no sample %s", sample)
	return 0
}

const (
	queueDepth       = "tocsin_agent_queue_depth"
	deliveredEvents  = `tocsin_agent_deliveries_total{kind="event",outcome="delivered"}`
	rejectedEvents   = `tocsin_agent_deliveries_total{kind="event",outcome="rejected"}`
	retriedEvents    = `tocsin_agent_deliveries_total{kind="event",outcome="retry"}`
	invalidPosts     = `tocsin_agent_proxy_events_total{outcome="invalid"}`
	agentDrainWithin = 20 * time.Second
)

func (a *agentProc) waitDrained(t *testing.T) {
	t.Helper()
	waitUntil(t, agentDrainWithin, "the agent's queue to drain", func() bool { return a.metric(t, queueDepth) == 0 })
}

// (a) `tocsin agent event` opens an alert, and resolves it; `tocsin agent heartbeat` pings a
// heartbeat monitor.
func TestAgentEventAndHeartbeatCommands(t *testing.T) {
	s := startAgentServer(t)
	r := runCLI(t, "agent", "event", "--server", s.url(), "-k", s.integrationKey, "-t", "ALERT", "-s", "Disk full on db-1",
		"-i", "db-1/disk", "-o", "HIGH", "-d", "98% used", "-l", "https://example.com/runbook", "-g", "https://example.com/disk.png")
	if r.code != 0 {
		t.Fatalf("agent event exited %d: %s", r.code, r.stderr)
	}
	var alerts []struct {
		alertJSON
		Summary  string `json:"summary"`
		Details  string `json:"details"`
		Priority string `json:"priority"`
		Links    []struct {
			Href string `json:"href"`
		} `json:"links"`
		Images []struct {
			Src string `json:"src"`
		} `json:"images"`
	}
	s.api.call(t, "GET", "/api/alerts", nil, http.StatusOK, &alerts)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	a := alerts[0]
	if a.AlertKey != "db-1/disk" || a.Summary != "Disk full on db-1" || a.Details != "98% used" || a.Priority != "HIGH" ||
		a.Status != "PENDING" || len(a.Links) != 1 || a.Links[0].Href != "https://example.com/runbook" ||
		len(a.Images) != 1 || a.Images[0].Src != "https://example.com/disk.png" {
		t.Errorf("alert %+v, want the event's fields", a)
	}

	// The key from ilagent's variable; -t in lower case.
	p := start(t, childEnv("ILERT_INTEGRATION_KEY="+s.integrationKey), "agent", "event", "--server", s.url(), "-t", "resolve", "-i", "db-1/disk")
	if st := p.wait(cliTimeout); st.ExitCode() != 0 {
		t.Fatalf("agent event -t resolve exited %v: %s", st, p.stderr.String())
	}
	if got := s.alertsByKey(t)["db-1/disk"]; len(got) != 1 || got[0].Status != "RESOLVED" {
		t.Errorf("after RESOLVE: %+v, want the alert resolved", got)
	}

	t.Run("ErrUnknownKey", func(t *testing.T) {
		r := runCLI(t, "agent", "event", "--server", s.url(), "-k", "no-such-key", "-s", "x")
		if r.code == 0 || !strings.Contains(r.stderr, "404") {
			t.Errorf("exit %d, stderr %q; want non-zero naming the server's 404", r.code, r.stderr)
		}
	})
	t.Run("ErrBadFlags", func(t *testing.T) {
		for _, args := range [][]string{
			{"agent", "event", "-k", "k", "-t", "EXPLODE", "-s", "x"},
			{"agent", "event", "-k", "k", "-t", "ALERT"},
			{"agent", "event", "-k", "k", "-s", "x", "-o", "URGENT"},
			{"agent", "event", "-s", "x"},
			{"agent", "event", "--nope"},
			{"agent", "daemon", "-p", "70000"},
			{"agent", "--server", "ftp://x", "heartbeat", "-k", "k"},
			{"agent", "launch"},
		} {
			r := runCLI(t, args...)
			if r.code == 0 || strings.TrimSpace(r.stderr) == "" {
				t.Errorf("tocsin %s: exit %d, stderr %q; want non-zero with a message", strings.Join(args, " "), r.code, r.stderr)
			}
		}
	})

	t.Run("Heartbeat", func(t *testing.T) {
		var m heartbeatMonitorJSON
		s.api.call(t, "POST", "/api/heartbeat-monitors?include=integrationUrl", map[string]any{
			"name": "agent", "intervalSec": 60, "alertSource": map[string]any{"id": s.sourceID},
		}, http.StatusCreated, &m)
		key := m.IntegrationURL[strings.LastIndex(m.IntegrationURL, "/")+1:]
		r := runCLI(t, "agent", "-vv", "--server", s.url(), "heartbeat", "-k", key)
		if r.code != 0 {
			t.Fatalf("agent heartbeat exited %d: %s", r.code, r.stderr)
		}
		waitUntil(t, 5*time.Second, "the monitor pinged by agent heartbeat", func() bool { return s.pinged(t, m.ID) })
	})
}

// (b) Events posted to the proxy while the server is down are all delivered once it is back,
// in order per key: each alert's timeline lists its events in the order they were posted,
// and a RESOLVE posted last resolves its alert.
func TestAgentBuffersWhileServerIsDown(t *testing.T) {
	s := startAgentServer(t)
	s.stop(t)
	a := startAgent(t, s.url(), filepath.Join(t.TempDir(), "agent.db"))

	const keys, steps = 3, 8
	for step := range steps {
		for k := range keys {
			code, body := a.post(t, map[string]any{"integrationKey": s.integrationKey, "eventType": "ALERT",
				"alertKey": fmt.Sprintf("pump-%d", k), "summary": fmt.Sprintf("pump-%d step %d", k, step)})
			if code != http.StatusAccepted || body["queued"] != true || body["alertKey"] != fmt.Sprintf("pump-%d", k) {
				t.Fatalf("POST step %d of pump-%d: %d %v, want 202 queued", step, k, code, body)
			}
		}
	}
	if code, body := a.post(t, map[string]any{"integrationKey": s.integrationKey, "eventType": "RESOLVE", "alertKey": "pump-2"}); code != http.StatusAccepted {
		t.Fatalf("POST RESOLVE: %d %v", code, body)
	}
	waitUntil(t, 10*time.Second, "failed attempts against the stopped server", func() bool { return a.metric(t, retriedEvents) >= 2 })
	if d := a.metric(t, queueDepth); d != keys*steps+1 {
		t.Fatalf("queue depth %v while the server is down, want %d", d, keys*steps+1)
	}

	s.restart(t)
	a.waitDrained(t)
	byKey := s.alertsByKey(t)
	for k := range keys {
		key := fmt.Sprintf("pump-%d", k)
		got := byKey[key]
		if len(got) != 1 || got[0].EventCount != steps {
			t.Errorf("%s: alerts %+v, want one with %d events", key, got, steps)
			continue
		}
		wantStatus := "PENDING"
		if k == 2 {
			wantStatus = "RESOLVED"
		}
		if got[0].Status != wantStatus {
			t.Errorf("%s: status %s, want %s", key, got[0].Status, wantStatus)
		}
		var order []string
		for _, e := range s.api.logEntries(t, got[0].ID) {
			if _, summary, ok := strings.Cut(e.Text, key+" step "); ok && e.LogEntryType == "AlertReceivedLogEntry" {
				order = append(order, summary)
			}
		}
		want := []string{"0", "1", "2", "3", "4", "5", "6", "7"}
		if !slices.Equal(order, want) {
			t.Errorf("%s: the timeline has steps %v, want %v", key, order, want)
		}
	}
	if n := len(byKey); n != keys {
		t.Errorf("%d alert keys on the server, want %d", n, keys)
	}
	a.stop()
}

// (c) An event the proxy answered 202 is on disk: killing the agent with SIGKILL while events
// stream in and the server is down loses none, and the restarted agent delivers each once.
func TestAgentSIGKILLLosesNothing(t *testing.T) {
	s := startAgentServer(t)
	s.stop(t)
	file := filepath.Join(t.TempDir(), "agent.db")
	a := startAgent(t, s.url(), file)

	const acked = 100
	var mu sync.Mutex
	var accepted, attempted []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 5 * time.Second}
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("kill-%d-%d", w, i)
				b, _ := json.Marshal(map[string]any{"integrationKey": s.integrationKey, "eventType": "ALERT", "alertKey": key, "summary": key})
				mu.Lock()
				attempted = append(attempted, key)
				mu.Unlock()
				resp, err := hc.Post(a.base+"/api/events", "application/json", bytes.NewReader(b))
				if err != nil {
					return // the agent is gone
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					mu.Lock()
					accepted = append(accepted, key)
					mu.Unlock()
				}
			}
		})
	}
	waitUntil(t, 20*time.Second, fmt.Sprintf("%d events acknowledged", acked), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) >= acked
	})
	a.signal(syscall.SIGKILL)
	if st := a.wait(exitTimeout); st.Success() {
		t.Fatalf("the agent exited %v after SIGKILL", st)
	}
	close(stop)
	wg.Wait()

	s.restart(t)
	a = startAgent(t, s.url(), file)
	a.waitDrained(t)
	byKey := s.alertsByKey(t)
	for _, key := range accepted {
		if got := byKey[key]; len(got) != 1 || got[0].EventCount != 1 {
			t.Errorf("acknowledged event %s: alerts %+v, want exactly one with one event", key, got)
		}
	}
	for key, got := range byKey {
		if !slices.Contains(attempted, key) {
			t.Errorf("alert %s was never sent", key)
		}
		if len(got) != 1 || got[0].EventCount != 1 {
			t.Errorf("%s: alerts %+v, want at most one with one event", key, got)
		}
	}
	t.Logf("%d events acknowledged before the kill, %d alerts after the restart (%d sent in all)", len(accepted), len(byKey), len(attempted))
	a.stop()
}

// (d) Bad input is refused with 400 and a message, and nothing is queued. (e) An event for an
// unknown integration key is dropped on the server's 404 and counted, not retried; the next
// event is delivered. The daemon pings its -b heartbeat key at start.
func TestAgentRefusesAndDrops(t *testing.T) {
	s := startAgentServer(t)
	var m heartbeatMonitorJSON
	s.api.call(t, "POST", "/api/heartbeat-monitors?include=integrationUrl", map[string]any{
		"name": "agent daemon", "intervalSec": 60, "alertSource": map[string]any{"id": s.sourceID},
	}, http.StatusCreated, &m)
	hbKey := m.IntegrationURL[strings.LastIndex(m.IntegrationURL, "/")+1:]
	a := startAgent(t, s.url(), filepath.Join(t.TempDir(), "agent.db"), "-b", hbKey)

	for _, body := range []any{
		"not an event",
		map[string]any{"integrationKey": s.integrationKey, "eventType": "ALERT"},
		map[string]any{"integrationKey": s.integrationKey, "eventType": "SHOUT", "summary": "x"},
		map[string]any{"eventType": "ALERT", "summary": "x"},
	} {
		code, answer := a.post(t, body)
		if msg, _ := answer["error"].(string); code != http.StatusBadRequest || msg == "" {
			t.Errorf("POST %v: %d %v, want 400 with an error message", body, code, answer)
		}
	}
	if d, n := a.metric(t, queueDepth), a.metric(t, invalidPosts); d != 0 || n != 4 {
		t.Errorf("after bad input: depth %v, invalid posts %v; want 0 and 4", d, n)
	}

	if code, _ := a.post(t, map[string]any{"integrationKey": "no-such-key", "eventType": "ALERT", "summary": "lost"}); code != http.StatusAccepted {
		t.Fatalf("POST for an unknown key: %d, want 202 (the proxy cannot know)", code)
	}
	if code, _ := a.post(t, map[string]any{"integrationKey": s.integrationKey, "eventType": "ALERT", "summary": "fine", "alertKey": "fine"}); code != http.StatusAccepted {
		t.Fatalf("POST: %d, want 202", code)
	}
	a.waitDrained(t)
	time.Sleep(1500 * time.Millisecond) // longer than the first retry would wait
	if r, q, d := a.metric(t, rejectedEvents), a.metric(t, retriedEvents), a.metric(t, deliveredEvents); r != 1 || q != 0 || d != 1 {
		t.Errorf("rejected %v, retried %v, delivered %v; want 1, 0, 1", r, q, d)
	}
	if !strings.Contains(a.stderr.String(), "level=WARN msg=\"queue: dropped") {
		t.Errorf("no WARN line about the dropped event in the agent's log")
	}
	if got := s.alertsByKey(t)["fine"]; len(got) != 1 {
		t.Errorf("alerts for the good event: %+v, want 1", got)
	}

	// The loop's period is 30 s: a ping within seconds is the one at start.
	waitUntil(t, 5*time.Second, "the daemon's -b ping at start", func() bool { return s.pinged(t, m.ID) })
	a.stop()
}
