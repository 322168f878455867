package e2e_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

type heartbeatMonitorJSON struct {
	ID             int64      `json:"id"`
	State          string     `json:"state"`
	IntegrationURL string     `json:"integrationUrl"`
	LastPingAt     *time.Time `json:"lastPingAt"`
}

// startServeHeartbeats is startServe with the shortest heartbeat interval lowered to a second,
// the testing aid docs/heartbeats.md describes.
func startServeHeartbeats(t *testing.T, dsn string) *process {
	t.Helper()
	addr := freeAddr(t)
	p := start(t, childEnv("TOCSIN_HEARTBEAT_MIN_INTERVAL=1s"), "serve", "--addr", addr, "--db", dsn)
	p.URL = "http://" + addr
	p.waitReady()
	return p
}

// A monitor that stops pinging opens an alert on its source; the next ping resolves it; a
// ping just before a shutdown is not lost.
func TestHeartbeatEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		apiKey := createUserWithKey(t, dsn, "heartbeat@example.com", "ADMIN")
		srv := startServeHeartbeats(t, dsn)
		c := newClient(srv.URL, bearer(apiKey))
		integrationKey := c.setUpSource(t, c.currentUser(t).ID)
		var source struct {
			ID int64 `json:"id"`
		}
		c.call(t, "GET", "/api/alert-sources/"+integrationKey, nil, http.StatusOK, &source)

		var m heartbeatMonitorJSON
		c.call(t, "POST", "/api/heartbeat-monitors?include=integrationUrl", map[string]any{
			"name": "nightly export", "intervalSec": 2, "alertSource": map[string]any{"id": source.ID},
		}, http.StatusCreated, &m)
		if m.State != "UNKNOWN" || m.IntegrationURL == "" {
			t.Fatalf("created %+v", m)
		}
		monitorPath := fmt.Sprintf("/api/heartbeat-monitors/%d", m.ID)
		monitor := func() heartbeatMonitorJSON {
			var got heartbeatMonitorJSON
			c.call(t, "GET", monitorPath, nil, http.StatusOK, &got)
			return got
		}
		hc := &http.Client{Timeout: 5 * time.Second}
		ping := func(method string) {
			t.Helper()
			req, _ := http.NewRequest(method, m.IntegrationURL, nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, m.IntegrationURL, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("%s ping: status %d, want 202", method, resp.StatusCode)
			}
		}
		alertKey := fmt.Sprintf("heartbeat-%d", m.ID)
		alerts := func() []alertJSON {
			var all, out []alertJSON
			c.call(t, "GET", "/api/alerts?max-results=100", nil, http.StatusOK, &all)
			for _, a := range all {
				if a.AlertKey == alertKey {
					out = append(out, a)
				}
			}
			return out
		}

		ping("HEAD")
		waitUntil(t, 5*time.Second, "the monitor HEALTHY after its first ping", func() bool { return monitor().State == "HEALTHY" })
		// Pinged every half second for longer than its interval and grace: no alert.
		for range 16 {
			time.Sleep(500 * time.Millisecond)
			ping("GET")
		}
		if a := alerts(); len(a) != 0 || monitor().State != "HEALTHY" {
			t.Fatalf("alerts %+v while pinged", a)
		}

		// Silent: overdue after 2 s plus 5 s of grace.
		silentSince := time.Now()
		waitUntil(t, 20*time.Second, "an alert for the silent monitor", func() bool {
			a := alerts()
			return len(a) == 1 && a[0].Status == "PENDING"
		})
		if took := time.Since(silentSince); took < 6*time.Second {
			t.Fatalf("alerted %s after the last ping, before its interval and grace had passed", took)
		}
		// The monitor's state is written just after its alert is opened.
		waitUntil(t, 5*time.Second, "the monitor OVERDUE once its alert is open", func() bool { return monitor().State == "OVERDUE" })

		ping("POST")
		waitUntil(t, 5*time.Second, "the alert resolved by the next ping", func() bool {
			a := alerts()
			return len(a) == 1 && a[0].Status == "RESOLVED" && monitor().State == "HEALTHY"
		})

		// A ping right before SIGTERM is written by the shutdown.
		before := time.Now().Truncate(time.Millisecond)
		ping("HEAD")
		srv.stop()
		srv = startServeHeartbeats(t, dsn)
		c = newClient(srv.URL, bearer(apiKey))
		if got := monitor(); got.LastPingAt == nil || got.LastPingAt.Before(before) {
			t.Fatalf("last ping %v after a restart, want the one sent at %v", got.LastPingAt, before)
		}
	})
}
