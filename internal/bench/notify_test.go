package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/bench"
	"github.com/tocsinhq/tocsin/internal/notify/webhook"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// TestPageSQLite runs `tocsin bench page` at a low rate for two seconds and checks that every
// event paged the user once, through a verified webhook, and that the report says so.
func TestPageSQLite(t *testing.T) {
	var out bytes.Buffer
	res, err := bench.Page(context.Background(), bench.PageOptions{Rate: 50, Duration: 2 * time.Second, Drain: 10 * time.Second}, &out)
	if err != nil {
		t.Fatalf("Page: %v\n%s", err, &out)
	}
	if got, want := res.Pages.Received, 100; got != want || res.Accepted != want || res.Latency.Accepted != int64(want) {
		t.Fatalf("%d events accepted, %d paged, %d latencies; want %d of each\n%s", res.Accepted, got, res.Latency.Accepted, want, &out)
	}
	if res.Latency.Percentile(100) <= 0 {
		t.Errorf("the slowest page took %v", res.Latency.Percentile(100))
	}
	if got := res.Server.Count; got != 100 {
		t.Errorf("tocsin_page_latency_seconds counted %v first pages, want 100", got)
	}
	for _, want := range []string{"100 accepted, 0 errors", "100 received with valid signatures, 0 repeated", "send → page received:", "target under 100ms on sqlite"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, &out)
		}
	}
}

func TestReceiver(t *testing.T) {
	rc := bench.NewReceiver()
	defer rc.Close()
	got := make(chan string, 3)
	rc.Route("/p", "s3cret", func(p webhook.Payload, _ time.Time) { got <- p.AlertKey })
	post := func(path, secret string) int {
		body := []byte(`{"alertKey":"k1"}`)
		ts := fmt.Sprint(time.Now().Unix())
		req, _ := http.NewRequest(http.MethodPost, rc.URL+path, bytes.NewReader(body))
		req.Header.Set(webhook.HeaderTimestamp, ts)
		req.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("ErrForged", func(t *testing.T) {
		if code := post("/p", "guessed"); code != http.StatusUnauthorized {
			t.Errorf("a page signed with the wrong secret got %d, want 401", code)
		}
	})
	t.Run("ErrNoContact", func(t *testing.T) {
		if code := post("/other", "s3cret"); code != http.StatusBadRequest {
			t.Errorf("a page to no contact got %d, want 400", code)
		}
	})
	t.Run("Signed", func(t *testing.T) {
		if code := post("/p", "s3cret"); code != http.StatusNoContent {
			t.Errorf("a signed page got %d, want 204", code)
		}
	})
	close(got)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	if len(keys) != 1 || keys[0] != "k1" {
		t.Fatalf("the route was handed %q, want only the signed page's key", keys)
	}
}

const metricsText = `# HELP tocsin_timer_lateness_seconds How late.
# TYPE tocsin_timer_lateness_seconds histogram
tocsin_timer_lateness_seconds_bucket{le="0.1"} 50
tocsin_timer_lateness_seconds_bucket{le="0.2"} 90
tocsin_timer_lateness_seconds_bucket{le="0.4"} 100
tocsin_timer_lateness_seconds_bucket{le="+Inf"} 100
tocsin_timer_lateness_seconds_sum 12
tocsin_timer_lateness_seconds_count 100
tocsin_page_latency_seconds_bucket{le="1"} 7
tocsin_page_latency_seconds_bucket{le="+Inf"} 7
tocsin_page_latency_seconds_sum 1
tocsin_page_latency_seconds_count 7
`

func TestHistogram(t *testing.T) {
	h, err := bench.ParseHistogram(strings.NewReader(metricsText), "tocsin_timer_lateness_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != 100 || h.Sum != 12 || len(h.Buckets) != 4 || !math.IsInf(h.Buckets[3].UpperBound, 1) {
		t.Fatalf("parsed %+v", h)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for _, tc := range []struct{ q, want float64 }{{0.25, 0.05}, {0.5, 0.1}, {0.7, 0.15}, {0.95, 0.3}, {1, 0.4}} {
		if got := h.Quantile(tc.q); !near(got, tc.want) {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := h.Mean(); !near(got, 0.12) {
		t.Errorf("Mean = %v, want 0.12", got)
	}
	t.Run("Sub", func(t *testing.T) {
		earlier := bench.Histogram{Count: 50, Sum: 2, Buckets: []bench.Bucket{{0.1, 50}, {0.2, 50}, {0.4, 50}, {math.Inf(1), 50}}}
		d := h.Sub(earlier)
		if d.Count != 50 || d.Sum != 10 {
			t.Fatalf("count %v, sum %v; want 50, 10", d.Count, d.Sum)
		}
		// The 50 observations since are 40 in (0.1, 0.2] and 10 in (0.2, 0.4].
		if got := d.Quantile(0.5); !near(got, 0.1+0.1*25/40) {
			t.Errorf("Quantile(0.5) of the difference = %v", got)
		}
	})
	t.Run("ErrMissing", func(t *testing.T) {
		if _, err := bench.ParseHistogram(strings.NewReader(metricsText), "tocsin_commit_latency_seconds"); err == nil {
			t.Error("no error for a histogram that is not there")
		}
	})
	t.Run("AboveTheBuckets", func(t *testing.T) {
		over := bench.Histogram{Count: 10, Buckets: []bench.Bucket{{0.1, 5}, {math.Inf(1), 10}}}
		if got := over.QuantileText(0.99); got != "> 100ms" {
			t.Errorf("QuantileText(0.99) = %q, want \"> 100ms\"", got)
		}
		if got := over.QuantileText(0.5); got != "≈ 100ms" {
			t.Errorf("QuantileText(0.5) = %q, want \"≈ 100ms\"", got)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		if got := (bench.Histogram{}).Quantile(0.5); !math.IsNaN(got) {
			t.Errorf("Quantile of nothing = %v, want NaN", got)
		}
	})
}

// benchmarkPageOne measures one page on an idle tocsin, an event at a time: from posting an
// event to its page arriving at the receiver.
func benchmarkPageOne(b *testing.B, postgresURL string) {
	ctx := context.Background()
	tc, err := bench.StartTocsin(ctx, postgresURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tc.Close()
	rc := bench.NewReceiver()
	defer rc.Close()
	paged := make(chan string, 16)
	user, err := tc.CreateWebhookUser(ctx, "One", rc, "/one", func(p webhook.Payload, _ time.Time) { paged <- p.AlertKey })
	if err != nil {
		b.Fatal(err)
	}
	key, err := tc.CreatePagingSource(ctx, "one", bench.Level{Users: []int64{user}, Timeout: 5})
	if err != nil {
		b.Fatal(err)
	}
	client := bench.NewClient(1)
	defer client.CloseIdleConnections()
	b.ResetTimer()
	for i := range b.N {
		alertKey := fmt.Sprint("one-", i)
		body := fmt.Sprintf(`{"integrationKey":%q,"eventType":"ALERT","summary":"one","alertKey":%q}`, key, alertKey)
		resp, err := client.Post(tc.EventsURL(), "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("event %d: %s", i, resp.Status)
		}
		select {
		case got := <-paged:
			if got != alertKey {
				b.Fatalf("paged for %q, want %q", got, alertKey)
			}
		case <-time.After(10 * time.Second):
			b.Fatalf("event %d paged nobody within 10s", i)
		}
	}
}

func BenchmarkPageOneSQLite(b *testing.B) { benchmarkPageOne(b, "") }

// BenchmarkPageOnePostgres needs TOCSIN_TEST_POSTGRES, like the store's PostgreSQL tests.
func BenchmarkPageOnePostgres(b *testing.B) { benchmarkPageOne(b, storetest.PostgresURL(b)) }
