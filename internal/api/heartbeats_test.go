package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/api"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/heartbeat"
	"github.com/tocsinhq/tocsin/internal/ingest"
	"github.com/tocsinhq/tocsin/internal/metrics"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// heartbeatJSON is a HeartbeatMonitor as the API shows it.
type heartbeatJSON struct {
	ID             int64           `json:"id"`
	Name           string          `json:"name"`
	State          string          `json:"state"`
	IntervalSec    int             `json:"intervalSec"`
	AlertSummary   string          `json:"alertSummary"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
	AlertSource    json.RawMessage `json:"alertSource"`
	Teams          []auth.TeamRef  `json:"teams"`
	IntegrationKey string          `json:"integrationKey"`
	IntegrationURL string          `json:"integrationUrl"`
	LastPingAt     *time.Time      `json:"lastPingAt"`
}

// heartbeatClock is a fake clock for the watcher.
type heartbeatClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *heartbeatClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *heartbeatClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// heartbeatAPI is the API with a heartbeat watcher on a fake clock. No loop runs: the test
// runs the watcher's rounds, which submit their events through the API's event path.
type heartbeatAPI struct {
	*testServer
	clock  *heartbeatClock
	w      *heartbeat.Watcher
	events heartbeat.Events
	f      storetest.Fixture
}

func newHeartbeatAPI(t *testing.T, dsn string) *heartbeatAPI {
	t.Helper()
	h := &heartbeatAPI{clock: &heartbeatClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	var opts api.Options
	h.testServer = newTestServerWith(t, dsn, func(o *api.Options) {
		h.w = heartbeat.New(heartbeat.Options{Store: o.Store, Now: h.clock.Now, Log: o.Log})
		o.Heartbeats = h.w
		opts = *o
	})
	// The same options make the same event path; this Server is only asked to submit events.
	h.events = api.New(opts)
	h.f = storetest.NewFixture(t, h.DB)
	return h
}

func (h *heartbeatAPI) round(t *testing.T) {
	t.Helper()
	if err := h.w.Round(context.Background(), h.events); err != nil {
		t.Fatalf("heartbeat round: %v", err)
	}
}

func (h *heartbeatAPI) create(t *testing.T, name string, intervalSec int) heartbeatJSON {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"intervalSec":%d,"alertSource":{"id":%d}}`, name, intervalSec, h.f.Source.ID)
	return decodeAs[heartbeatJSON](t, h.must(t, 201, "POST", "/api/heartbeat-monitors?include=integrationKey", h.AdminKey, body))
}

func (h *heartbeatAPI) get(t *testing.T, id int64) heartbeatJSON {
	t.Helper()
	return decodeAs[heartbeatJSON](t, h.must(t, 200, "GET", fmt.Sprintf("/api/heartbeat-monitors/%d", id), h.AdminKey, nil))
}

func (h *heartbeatAPI) count(t *testing.T) int {
	t.Helper()
	return len(decodeAs[[]heartbeatJSON](t, h.must(t, 200, "GET", "/api/heartbeat-monitors", h.AdminKey, nil)))
}

func TestHeartbeatMonitorsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		h := newHeartbeatAPI(t, dsn)
		ops := auth.Team{Name: "ops"}
		if err := h.DB.CreateTeam(context.Background(), nil, &ops); err != nil {
			t.Fatal(err)
		}
		var created heartbeatJSON

		t.Run("CreatedAsIlertGoSendsIt", func(t *testing.T) {
			// ilert-go sends the whole alert source with empty fields, and teams as null.
			body := fmt.Sprintf(`{"name":"backup","intervalSec":300,"alertSource":{"id":%d,"name":"","integrationType":"",
				"escalationPolicy":null,"active":false,"teams":null},"teams":null}`, h.f.Source.ID)
			raw := h.must(t, 201, "POST", "/api/heartbeat-monitors?", h.AdminKey, body)
			created = decodeAs[heartbeatJSON](t, raw)
			if created.ID <= 0 || created.Name != "backup" || created.State != "UNKNOWN" || created.IntervalSec != 300 ||
				created.LastPingAt != nil || len(created.Teams) != 0 || created.CreatedAt.IsZero() {
				t.Fatalf("created %s", raw)
			}
			if got, want := string(created.AlertSource), fmt.Sprintf(`{"id":%d}`, h.f.Source.ID); got != want {
				t.Fatalf("alertSource %s, want %s", got, want)
			}
			if strings.Contains(string(raw), "integrationKey") || strings.Contains(string(raw), "integrationUrl") {
				t.Fatalf("the key is shown without include=: %s", raw)
			}
		})

		t.Run("Include", func(t *testing.T) {
			path := fmt.Sprintf("/api/heartbeat-monitors/%d?include=integrationKey&include=integrationUrl", created.ID)
			m := decodeAs[heartbeatJSON](t, h.must(t, 200, "GET", path, h.AdminKey, nil))
			if len(m.IntegrationKey) != 43 || strings.ContainsAny(m.IntegrationKey, "+/=") {
				t.Fatalf("integrationKey %q: want 43 URL-safe characters", m.IntegrationKey)
			}
			if want := h.URL + "/api/pings/" + m.IntegrationKey; m.IntegrationURL != want {
				t.Fatalf("integrationUrl %q, want %q", m.IntegrationURL, want)
			}
			withSource := decodeAs[map[string]any](t, h.must(t, 200, "GET", fmt.Sprintf("/api/heartbeat-monitors/%d?include=alertSource", created.ID), h.AdminKey, nil))
			src, _ := withSource["alertSource"].(map[string]any)
			if src["name"] != "nightly" || src["integrationType"] != "API" || src["integrationUrl"] != h.URL+"/api/events" {
				t.Fatalf("alertSource with include=alertSource: %v", withSource["alertSource"])
			}
		})

		t.Run("NameTakenAnswers409WithTheExistingMonitor", func(t *testing.T) {
			body := fmt.Sprintf(`{"name":"backup","intervalSec":60,"alertSource":{"id":%d}}`, h.f.Source.ID)
			got := decodeAs[heartbeatJSON](t, h.must(t, 409, "POST", "/api/heartbeat-monitors?include=integrationUrl", h.AdminKey, body))
			if got.ID != created.ID || got.IntervalSec != 300 || !strings.HasSuffix(got.IntegrationURL, "/api/pings/"+h.key(t, created.ID)) {
				t.Fatalf("409 body %+v, want the existing monitor %d with its integrationUrl", got, created.ID)
			}
			if n := h.count(t); n != 1 {
				t.Fatalf("%d monitors after a 409", n)
			}
		})

		t.Run("BadInputWritesNothing", func(t *testing.T) {
			src := h.f.Source.ID
			for _, body := range []string{
				`{"name":"x","intervalSec":300}`,
				`{"name":"x","intervalSec":300,"alertSource":{}}`,
				fmt.Sprintf(`{"name":"x","intervalSec":300,"alertSource":{"id":%d}}`, src+1000),
				fmt.Sprintf(`{"name":"x","intervalSec":24,"alertSource":{"id":%d}}`, src),
				fmt.Sprintf(`{"name":"x","intervalSec":2678401,"alertSource":{"id":%d}}`, src),
				fmt.Sprintf(`{"name":"x","alertSource":{"id":%d}}`, src),
				fmt.Sprintf(`{"name":"  ","intervalSec":300,"alertSource":{"id":%d}}`, src),
				fmt.Sprintf(`{"name":"x","intervalSec":"300","alertSource":{"id":%d}}`, src),
				fmt.Sprintf(`{"name":"x","intervalSec":300,"alertSource":{"id":%d},"teams":[{"id":%d}]}`, src, ops.ID+1000),
				fmt.Sprintf(`{"name":"x","intervalSec":300,"alertSource":{"id":%d},"alertSummary":%q}`, src, strings.Repeat("s", 1025)),
				`{"name":"x",`,
			} {
				h.wantError(t, 400, "INVALID_INPUT", "POST", "/api/heartbeat-monitors", h.AdminKey, body)
			}
			if n := h.count(t); n != 1 {
				t.Fatalf("%d monitors after refused creates", n)
			}
		})

		t.Run("ByName", func(t *testing.T) {
			slashed := h.create(t, "db/backup", 60)
			got := decodeAs[heartbeatJSON](t, h.must(t, 200, "GET", "/api/heartbeat-monitors/name/db/backup?include=integrationUrl", h.AdminKey, nil))
			if got.ID != slashed.ID || got.IntegrationURL == "" {
				t.Fatalf("by name: %+v", got)
			}
			h.wantError(t, 404, "NOT_FOUND", "GET", "/api/heartbeat-monitors/name/nothing", h.AdminKey, nil)
		})

		t.Run("Updated", func(t *testing.T) {
			key := h.key(t, created.ID)
			body := fmt.Sprintf(`{"name":"nightly backup","intervalSec":3600,"alertSummary":"Backup missing",
				"alertSource":{"id":%d},"teams":[{"id":%d,"name":""}],"state":"HEALTHY","integrationKey":"chosen-by-client"}`, h.f.Source.ID, ops.ID)
			got := decodeAs[heartbeatJSON](t, h.must(t, 200, "PUT", fmt.Sprintf("/api/heartbeat-monitors/%d?include=integrationKey", created.ID), h.AdminKey, body))
			if got.Name != "nightly backup" || got.IntervalSec != 3600 || got.AlertSummary != "Backup missing" || got.State != "UNKNOWN" ||
				got.IntegrationKey != key || len(got.Teams) != 1 || got.Teams[0] != (auth.TeamRef{ID: ops.ID, Name: "ops"}) {
				t.Fatalf("updated %+v", got)
			}
			h.wantError(t, 404, "NOT_FOUND", "PUT", "/api/heartbeat-monitors/999999", h.AdminKey, body)
			taken := fmt.Sprintf(`{"name":"db/backup","intervalSec":60,"alertSource":{"id":%d}}`, h.f.Source.ID)
			h.wantError(t, 400, "CONFLICT", "PUT", fmt.Sprintf("/api/heartbeat-monitors/%d", created.ID), h.AdminKey, taken)
			h.wantError(t, 400, "INVALID_INPUT", "PUT", fmt.Sprintf("/api/heartbeat-monitors/%d", created.ID), h.AdminKey,
				fmt.Sprintf(`{"name":"n","intervalSec":10,"alertSource":{"id":%d}}`, h.f.Source.ID))
			if got := h.get(t, created.ID); got.Name != "nightly backup" || got.IntervalSec != 3600 {
				t.Fatalf("a refused PUT changed the monitor: %+v", got)
			}
		})

		t.Run("Paged", func(t *testing.T) {
			h.create(t, "third", 60)
			h.create(t, "fourth", 60)
			all := decodeAs[[]heartbeatJSON](t, h.must(t, 200, "GET", "/api/heartbeat-monitors", h.AdminKey, nil))
			if len(all) != 4 {
				t.Fatalf("%d monitors, want 4", len(all))
			}
			first, next := h.listPage(t, "/api/heartbeat-monitors?max-results=3")
			if len(first) != 3 || next != fmt.Sprint(all[2].ID) {
				t.Fatalf("first page %d monitors, next-cursor %q", len(first), next)
			}
			rest, next := h.listPage(t, "/api/heartbeat-monitors?max-results=3&cursor="+next)
			if len(rest) != 1 || rest[0].ID != all[3].ID || next != "" {
				t.Fatalf("after the cursor: %+v, next-cursor %q", rest, next)
			}
			byIndex, _ := h.listPage(t, "/api/heartbeat-monitors?start-index=2&max-results=200")
			if len(byIndex) != 2 || byIndex[0].ID != all[2].ID {
				t.Fatalf("start-index=2: %+v", byIndex)
			}
			withKeys, _ := h.listPage(t, "/api/heartbeat-monitors?include=integrationKey")
			if withKeys[0].IntegrationKey == "" {
				t.Fatal("include=integrationKey left the key out of the list")
			}
			h.wantError(t, 400, "INVALID_INPUT", "GET", "/api/heartbeat-monitors?max-results=201", h.AdminKey, nil)
			h.wantError(t, 400, "INVALID_INPUT", "GET", "/api/heartbeat-monitors?cursor=abc", h.AdminKey, nil)
		})

		t.Run("Deleted", func(t *testing.T) {
			path := fmt.Sprintf("/api/heartbeat-monitors/%d", created.ID)
			h.must(t, 204, "DELETE", path, h.AdminKey, nil)
			h.wantError(t, 404, "NOT_FOUND", "GET", path, h.AdminKey, nil)
			h.wantError(t, 404, "NOT_FOUND", "DELETE", path, h.AdminKey, nil)
		})
	})
}

// key returns a monitor's integration key.
func (h *heartbeatAPI) key(t *testing.T, id int64) string {
	t.Helper()
	return decodeAs[heartbeatJSON](t, h.must(t, 200, "GET", fmt.Sprintf("/api/heartbeat-monitors/%d?include=integrationKey", id), h.AdminKey, nil)).IntegrationKey
}

// listPage returns a list and its next-cursor header.
func (h *heartbeatAPI) listPage(t *testing.T, path string) ([]heartbeatJSON, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return decodeAs[[]heartbeatJSON](t, body), resp.Header.Get("next-cursor")
}

// ping sends one ping and returns the status and body.
func ping(t *testing.T, method, url string, header http.Header) (int, string) {
	t.Helper()
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader(`{"note":"ignored"}`)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHeartbeatPings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		h := newHeartbeatAPI(t, dsn)
		m := h.create(t, "backup", 60)
		paths := []string{"/api/heartbeats/", "/api/v1/heartbeats/", "/api/pings/"}
		methods := []string{"GET", "HEAD", "POST"}

		t.Run("EveryPathAndMethodAnswers202", func(t *testing.T) {
			for _, p := range paths {
				for _, method := range methods {
					// ilert-go sends its Bearer header here too; the key in the path is what counts.
					status, body := ping(t, method, h.URL+p+m.IntegrationKey, http.Header{"Authorization": {"Bearer tok123"}})
					if status != 202 || body != "" {
						t.Errorf("%s %s: %d %q, want 202 with no body", method, p, status, body)
					}
				}
			}
			h.round(t)
			got := h.get(t, m.ID)
			if got.State != "HEALTHY" || got.LastPingAt == nil || !got.LastPingAt.Equal(h.clock.Now()) {
				t.Fatalf("after the pings: %+v", got)
			}
		})

		t.Run("UnknownKeyIs404", func(t *testing.T) {
			for _, p := range paths {
				for _, method := range methods {
					status, body := ping(t, method, h.URL+p+"no-such-key", nil)
					if status != 404 {
						t.Errorf("%s %s: %d, want 404", method, p, status)
					}
					if method == "HEAD" {
						if body != "" {
							t.Errorf("HEAD %s answered a body: %q", p, body)
						}
						continue
					}
					if e := decodeAs[envelope](t, []byte(body)); e.Status != 404 || e.Code != "NOT_FOUND" {
						t.Errorf("%s %s: %s, want ilert's 404 envelope", method, p, body)
					}
				}
			}
		})
	})
}

func TestHeartbeatRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		h := newHeartbeatAPI(t, dsn)
		m := h.create(t, "backup", 60)
		one := fmt.Sprintf("/api/heartbeat-monitors/%d", m.ID)
		body := func(name string) string {
			return fmt.Sprintf(`{"name":%q,"intervalSec":60,"alertSource":{"id":%d}}`, name, h.f.Source.ID)
		}
		_, guest := h.user(t, auth.Guest)
		_, stakeholder := h.user(t, auth.Stakeholder)
		_, responder := h.user(t, auth.Responder)
		_, user := h.user(t, auth.User)

		h.wantError(t, 401, "UNAUTHORIZED", "GET", "/api/heartbeat-monitors", "", nil)
		h.wantError(t, 403, "FORBIDDEN", "GET", "/api/heartbeat-monitors", guest, nil)
		h.must(t, 200, "GET", "/api/heartbeat-monitors", stakeholder, nil)
		for _, key := range []string{stakeholder, responder} {
			raw := h.must(t, 200, "GET", one+"?include=integrationKey&include=integrationUrl", key, nil)
			if v := decodeAs[heartbeatJSON](t, raw); v.IntegrationKey != "" || strings.Contains(string(raw), "/api/pings/") {
				t.Fatalf("a caller who may not change the monitor got its key: %s", raw)
			}
		}
		if v := decodeAs[heartbeatJSON](t, h.must(t, 200, "GET", one+"?include=integrationKey", user, nil)); v.IntegrationKey == "" {
			t.Fatal("a USER did not get the key asked for")
		}
		h.must(t, 200, "GET", "/api/heartbeat-monitors/name/backup", stakeholder, nil)
		for _, key := range []string{stakeholder, responder} {
			h.wantError(t, 403, "FORBIDDEN", "POST", "/api/heartbeat-monitors", key, body("new"))
			h.wantError(t, 403, "FORBIDDEN", "PUT", one, key, body("renamed"))
			h.wantError(t, 403, "FORBIDDEN", "DELETE", one, key, nil)
		}
		created := decodeAs[heartbeatJSON](t, h.must(t, 201, "POST", "/api/heartbeat-monitors", user, body("new")))
		h.must(t, 200, "PUT", one, user, body("renamed"))
		h.must(t, 204, "DELETE", fmt.Sprintf("/api/heartbeat-monitors/%d", created.ID), user, nil)
	})
}

// alertsWithKey returns the alerts with an alert key, newest first.
func (h *heartbeatAPI) alertsWithKey(t *testing.T, key string) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, a := range decodeAs[[]alert.Alert](t, h.must(t, 200, "GET", "/api/alerts?max-results=100", h.AdminKey, nil)) {
		if a.AlertKey == key {
			out = append(out, a)
		}
	}
	return out
}

// An overdue monitor opens an alert on its source through the Events API's path, the next
// ping resolves it, and deleting an overdue monitor resolves its alert.
func TestHeartbeatAlerts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		h := newHeartbeatAPI(t, dsn)
		m := h.create(t, "backup", 60)
		key := heartbeat.AlertKey(m.ID)
		pingNow := func() {
			t.Helper()
			if status, _ := ping(t, "HEAD", h.URL+"/api/pings/"+m.IntegrationKey, nil); status != 202 {
				t.Fatalf("ping: %d", status)
			}
			h.round(t)
		}
		overdue := func() {
			t.Helper()
			h.clock.Set(heartbeat.Deadline(h.clock.Now(), 60))
			h.round(t)
		}

		pingNow()
		overdue()
		alerts := h.alertsWithKey(t, key)
		if len(alerts) != 1 || alerts[0].Status != alert.Pending || alerts[0].Summary != "Heartbeat backup is overdue" ||
			alerts[0].AlertSource.ID != h.f.Source.ID || alerts[0].EventCount != 1 {
			t.Fatalf("alerts with key %s: %+v", key, alerts)
		}
		if got := h.get(t, m.ID); got.State != "OVERDUE" {
			t.Fatalf("state %s, want OVERDUE", got.State)
		}

		pingNow()
		if alerts := h.alertsWithKey(t, key); len(alerts) != 1 || alerts[0].Status != alert.Resolved {
			t.Fatalf("after the ping: %+v", alerts)
		}
		if got := h.get(t, m.ID); got.State != "HEALTHY" {
			t.Fatalf("state %s, want HEALTHY", got.State)
		}

		overdue()
		alerts = h.alertsWithKey(t, key)
		if len(alerts) != 2 || alerts[0].Status != alert.Pending {
			t.Fatalf("overdue again: %+v, want a new alert", alerts)
		}
		h.must(t, 204, "DELETE", fmt.Sprintf("/api/heartbeat-monitors/%d", m.ID), h.AdminKey, nil)
		if alerts := h.alertsWithKey(t, key); alerts[0].Status != alert.Resolved {
			t.Fatalf("the alert of a deleted monitor: %+v", alerts[0])
		}

		t.Run("SwitchedOffSourceOpensNoAlert", func(t *testing.T) {
			off := false
			src := &alert.Source{Name: "off", IntegrationType: "API", Active: &off,
				EscalationPolicy: json.RawMessage(fmt.Sprintf(`{"id":%d}`, h.f.Policy.ID))}
			if err := h.DB.CreateSource(context.Background(), src, nil); err != nil {
				t.Fatal(err)
			}
			body := fmt.Sprintf(`{"name":"quiet","intervalSec":60,"alertSource":{"id":%d}}`, src.ID)
			quiet := decodeAs[heartbeatJSON](t, h.must(t, 201, "POST", "/api/heartbeat-monitors?include=integrationKey", h.AdminKey, body))
			if status, _ := ping(t, "GET", h.URL+"/api/heartbeats/"+quiet.IntegrationKey, nil); status != 202 {
				t.Fatalf("ping: %d", status)
			}
			h.round(t)
			overdue()
			if alerts := h.alertsWithKey(t, heartbeat.AlertKey(quiet.ID)); len(alerts) != 0 {
				t.Fatalf("a switched-off source opened %+v", alerts)
			}
			if got := h.get(t, quiet.ID); got.State != "OVERDUE" {
				t.Fatalf("state %s, want OVERDUE", got.State)
			}
		})
	})
}

// BenchmarkPing measures pings per second through tocsin's HTTP handler on SQLite, with its
// loop writing them, against a bare net/http handler that answers 202 in the same run.
func BenchmarkPing(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusAccepted)
		}))
		defer srv.Close()
		runPings(b, []string{srv.URL + "/api/pings/key"})
	})
	b.Run("tocsin", func(b *testing.B) {
		db := storetest.MustOpen(b, storetest.SQLiteDSN(b))
		f := storetest.NewFixture(b, db)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		w := heartbeat.New(heartbeat.Options{Store: db, Log: log})
		c := ingest.New(db, metrics.New(), ingest.Options{Log: log})
		defer c.Close()
		a := api.New(api.Options{Store: db, Ingest: c, Metrics: metrics.New(), Log: log, Heartbeats: w})
		srv := httptest.NewServer(a)
		defer srv.Close()
		var urls []string
		for i := range 100 {
			m := heartbeat.Monitor{Name: fmt.Sprintf("m%d", i), IntervalSec: 60, SourceID: f.Source.ID}
			if err := db.CreateHeartbeatMonitor(context.Background(), &m); err != nil {
				b.Fatal(err)
			}
			urls = append(urls, srv.URL+"/api/pings/"+m.IntegrationKey)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.Run(ctx, a)
		}()
		runPings(b, urls)
		stop()
		<-done
		list, err := db.HeartbeatMonitors(context.Background(), store.Page{Max: 100}, 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range list {
			if m.State != heartbeat.Healthy {
				b.Fatalf("%s is %s after the run", m.Name, m.State)
			}
		}
	})
}

// runPings sends b.N HEAD pings over 64 connections, spread over urls, and reports pings/s.
func runPings(b *testing.B, urls []string) {
	const connections = 64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: connections, MaxConnsPerHost: connections}}
	defer client.CloseIdleConnections()
	var next, failed atomic.Int64
	send := func(n int64) {
		req, _ := http.NewRequest("HEAD", urls[n%int64(len(urls))], nil)
		resp, err := client.Do(req)
		if err != nil {
			failed.Add(1)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			failed.Add(1)
		}
	}
	for i := range int64(connections * 4) { // warm the connections and the key lookups
		send(i)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range connections {
		wg.Go(func() {
			for n := next.Add(1) - 1; n < int64(b.N); n = next.Add(1) - 1 {
				send(n)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d pings failed", failed.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pings/s")
}
