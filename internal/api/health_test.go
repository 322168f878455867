package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/api"
	"github.com/tocsinhq/tocsin/internal/ingest"
	"github.com/tocsinhq/tocsin/internal/metrics"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func TestHealthAndMetrics(t *testing.T) {
	ts := newTestServer(t, storetest.SQLiteDSN(t))
	f := storetest.NewFixture(t, ts.DB)
	ts.must(t, 200, "GET", "/healthz", "", nil)
	ts.must(t, 200, "GET", "/readyz", "", nil)
	ts.must(t, 202, "POST", "/api/events", "", `{"integrationKey":"`+f.Source.IntegrationKey+`","eventType":"ALERT","summary":"s","alertKey":"m"}`)
	ts.must(t, 202, "POST", "/api/events", "", `{"integrationKey":"`+f.Source.IntegrationKey+`","eventType":"ALERT","summary":"s","alertKey":"m"}`)
	ts.must(t, 404, "POST", "/api/events", "", `{"integrationKey":"nope","eventType":"ALERT","summary":"s"}`)
	body := string(ts.must(t, 200, "GET", "/metrics", "", nil))
	for _, want := range []string{
		`tocsin_events_received_total{outcome="NEW_ALERT_CREATED"} 1`,
		`tocsin_events_received_total{outcome="EVENT_ADDED_TO_ALERT"} 1`,
		`tocsin_events_received_total{outcome="NOT_FOUND"} 1`,
		`tocsin_alerts_opened_total 1`,
		`tocsin_commit_batch_size_count 2`,
		`tocsin_commit_latency_seconds_count 2`,
		`tocsin_http_request_duration_seconds_count{code="202",method="POST",route="POST /api/events"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestReadyzBeforeMigrations(t *testing.T) {
	db, err := store.Open(context.Background(), storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := ingest.New(db, nil, ingest.Options{})
	defer c.Close()
	srv := httptest.NewServer(api.New(api.Options{Store: db, Ingest: c, Metrics: metrics.New()}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), `"code":"UNAVAILABLE"`) {
		t.Fatalf("readyz before migrations: %d %s", resp.StatusCode, b)
	}
}
