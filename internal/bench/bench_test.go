package bench_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/bench"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func TestTemplate(t *testing.T) {
	t.Run("DistinctKeys", func(t *testing.T) {
		tmpl := bench.NewTemplate(`key-with-"quote"`, "bench-", 0)
		seen := map[string]bool{}
		for range 1000 {
			body := tmpl.Append(nil)
			if len(body) > tmpl.Size() {
				t.Fatalf("body of %d bytes is over Size %d", len(body), tmpl.Size())
			}
			ev, err := alert.ParseEvent(body, "")
			if err != nil {
				t.Fatalf("ParseEvent(%s): %v", body, err)
			}
			if got, want := ev.IntegrationKey, `key-with-"quote"`; got != want {
				t.Fatalf("integration key %q, want %q", got, want)
			}
			if seen[alert.KeyOf(ev.AlertKey)] {
				t.Fatalf("alert key %q repeats", ev.AlertKey)
			}
			seen[alert.KeyOf(ev.AlertKey)] = true
		}
	})
	t.Run("SharedKeys", func(t *testing.T) {
		tmpl := bench.NewTemplate("k", "dedup-", 3)
		seen := map[string]int{}
		for range 30 {
			ev, err := alert.ParseEvent(tmpl.Append(nil), "")
			if err != nil {
				t.Fatal(err)
			}
			seen[ev.AlertKey]++
		}
		if len(seen) != 3 {
			t.Fatalf("30 events used keys %v, want 3 keys", seen)
		}
	})
}

func TestPercentile(t *testing.T) {
	var r bench.Result
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := r.Percentile(tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := (bench.Result{}).Percentile(99); got != 0 {
		t.Errorf("Percentile of no latencies = %v, want 0", got)
	}
}

func TestRun(t *testing.T) {
	t.Run("ErrNotLoopback", func(t *testing.T) {
		for _, u := range []string{"http://192.0.2.1/api/events", "http://example.com/api/events", "https://127.0.0.1/api/events"} {
			_, err := bench.Run(context.Background(), bench.NewClient(1), bench.Load{URL: u, Body: bench.NewTemplate("k", "a", 0), Connections: 1, Events: 1})
			if err == nil {
				t.Errorf("Run against %s: no error", u)
			}
		}
	})
	t.Run("CountsNon202AsErrors", func(t *testing.T) {
		var n atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if n.Add(1)%4 == 0 {
				http.Error(w, `{"status":503,"message":"busy"}`, http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		}))
		defer srv.Close()
		res, err := bench.Run(context.Background(), bench.NewClient(2), bench.Load{URL: srv.URL, Body: bench.NewTemplate("k", "a", 0), Connections: 2, Events: 100})
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 75 || res.Errors != 25 || len(res.Latencies) != 75 {
			t.Fatalf("accepted %d, errors %d, latencies %d; want 75, 25, 75", res.Accepted, res.Errors, len(res.Latencies))
		}
		if !strings.Contains(res.FirstError, "503") || !strings.Contains(res.FirstError, "busy") {
			t.Fatalf("first error %q does not show the status and body", res.FirstError)
		}
	})
}

// TestIngestSQLite runs the generator for a second against tocsin on SQLite and checks that
// every accepted event is an alert in the database.
func TestIngestSQLite(t *testing.T) {
	tc, err := bench.StartTocsin(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	res, err := bench.Run(context.Background(), bench.NewClient(4), bench.Load{
		URL: tc.EventsURL(), Body: bench.NewTemplate(tc.IntegrationKey, "test-", 0), Connections: 4, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted == 0 || res.Errors != 0 {
		t.Fatalf("accepted %d events with %d errors (first: %s)", res.Accepted, res.Errors, res.FirstError)
	}
	n, err := tc.CountAlerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if int64(n) != res.Accepted {
		t.Fatalf("%d alerts for %d accepted events", n, res.Accepted)
	}
}

// TestIngest runs the whole `tocsin bench ingest` briefly and checks its report.
func TestIngest(t *testing.T) {
	var out bytes.Buffer
	err := bench.Ingest(context.Background(), bench.IngestOptions{
		Connections: 4, Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, Dedup: true,
	}, &out)
	if err != nil {
		t.Fatalf("Ingest: %v\n%s", err, &out)
	}
	for _, want := range []string{"bare net/http", "tocsin dedup", "GOMAXPROCS", "rate limit per integration key: off", "verified: ", "dedup added"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, &out)
		}
	}
}

// benchConnections is the connections of the benchmarks, as in `tocsin bench ingest`.
const benchConnections = 64

// runBench sends b.N events to url and reports events/s and latency percentiles.
func runBench(b *testing.B, url string, tmpl *bench.Template) {
	b.Helper()
	client := bench.NewClient(benchConnections)
	defer client.CloseIdleConnections()
	warm := bench.Load{URL: url, Body: tmpl, Connections: benchConnections, Duration: 200 * time.Millisecond}
	if _, err := bench.Run(context.Background(), client, warm); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	res, err := bench.Run(context.Background(), client, bench.Load{URL: url, Body: tmpl, Connections: benchConnections, Events: int64(b.N)})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors > 0 || res.Accepted != int64(b.N) {
		b.Fatalf("%d of %d events accepted, %d errors; first: %s", res.Accepted, b.N, res.Errors, res.FirstError)
	}
	b.ReportMetric(res.Rate(), "events/s")
	b.ReportMetric(float64(res.Percentile(50))/1e6, "p50-ms")
	b.ReportMetric(float64(res.Percentile(99))/1e6, "p99-ms")
}

func BenchmarkBare(b *testing.B) {
	bare, err := bench.StartBare()
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	runBench(b, bare.URL, bench.NewTemplate("bare", "bare-", 0))
}

func benchmarkIngest(b *testing.B, postgresURL string) {
	tc, err := bench.StartTocsin(context.Background(), postgresURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tc.Close()
	runBench(b, tc.EventsURL(), bench.NewTemplate(tc.IntegrationKey, "bench-", 0))
}

func BenchmarkIngestSQLite(b *testing.B) { benchmarkIngest(b, "") }

// BenchmarkIngestPostgres needs TOCSIN_TEST_POSTGRES, like the store's PostgreSQL tests.
func BenchmarkIngestPostgres(b *testing.B) { benchmarkIngest(b, storetest.PostgresURL(b)) }
