package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tocsinhq/tocsin/internal/notify/webhook"
	"github.com/tocsinhq/tocsin/internal/store"
)

// PageOptions configure Page.
type PageOptions struct {
	Rate     float64       // events per second, sent on a fixed schedule whatever the answers take
	Duration time.Duration // how long events are sent; Rate × Duration events in all
	// Drain bounds the wait for the last pages after the last event was sent. Zero means 30s.
	Drain time.Duration
	// PostgresURL selects PostgreSQL: the run creates a schema there and drops it afterwards.
	// Empty runs on SQLite in a temporary folder.
	PostgresURL string
	CPUProfile  io.Writer    // when set, receives a CPU profile of the run, from the first event to the last page
	Progress    io.Writer    // when set, told what is being done
	Log         *slog.Logger // tocsin's logs; nil discards them
}

// PageTargets are the p99 send-to-page latencies issue 3 asks for, by database.
var PageTargets = map[store.Dialect]time.Duration{store.SQLite: 100 * time.Millisecond, store.Postgres: 200 * time.Millisecond}

// PageResult is what Page measured.
type PageResult struct {
	Sent, Accepted int
	Errors         int           // events not answered 202
	FirstError     string        // the first of them, with its answer
	Elapsed        time.Duration // from the first event's request to the last's
	Pages          Pages
	// Latency holds, sorted, for each paged event the time from just before its request to
	// the receiver reading its page.
	Latency Result
	// Server is tocsin_page_latency_seconds at the end: from each alert's report time to its
	// first page handed to a channel, as tocsin measured it.
	Server Histogram
}

// Page measures how soon an event pages someone: tocsin pages one user, whose only HIGH
// priority rule is a WEBHOOK with no delay, through a one-level policy; events with distinct
// alert keys are posted at o.Rate for o.Duration; a receiver on loopback verifies each page's
// signature and notes when it arrived. It prints the report to out. Every accepted event must
// be paged exactly once: an event lost, refused or paged twice is an error.
func Page(ctx context.Context, o PageOptions, out io.Writer) (PageResult, error) {
	n := int(o.Rate * o.Duration.Seconds())
	if o.Rate <= 0 || n < 1 {
		return PageResult{}, errors.New("bench: the rate and duration must make at least one event")
	}
	if o.Drain <= 0 {
		o.Drain = 30 * time.Second
	}
	progress := progressTo(o.Progress)
	progress("starting tocsin on a temporary database …")
	t, err := StartTocsin(ctx, o.PostgresURL, o.Log)
	if err != nil {
		return PageResult{}, err
	}
	defer func() {
		if cerr := t.Close(); cerr != nil {
			fmt.Fprintln(out, "cleanup:", cerr)
		}
	}()
	rc := NewReceiver()
	defer rc.Close()
	start := time.Now()
	pages := newPages("page-", n, start)
	user, err := t.CreateWebhookUser(ctx, "Page", rc, "/page", pages.Record)
	if err != nil {
		return PageResult{}, err
	}
	key, err := t.CreatePagingSource(ctx, "bench page", Level{Users: []int64{user}, Timeout: 5})
	if err != nil {
		return PageResult{}, err
	}

	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return PageResult{}, fmt.Errorf("bench: CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	progress("sending %d events at %g/s …", n, o.Rate)
	sent := make([]time.Duration, n) // when each event's request started, since start
	ev := newEvents(t.EventsURL(), key, 256)
	defer ev.client.CloseIdleConnections()
	first := time.Now()
	count := sendPaced(ctx, n, o.Rate, func(i int) {
		ev.post(ctx, pages.Key(i), func() { sent[i] = time.Since(start) })
	})
	if ctx.Err() != nil {
		return PageResult{}, fmt.Errorf("bench: interrupted: %w", ctx.Err())
	}
	elapsed := time.Since(first)
	if count > 0 {
		elapsed = slices.Max(sent[:count]) - slices.Min(sent[:count])
	}
	progress("waiting for the pages …")
	pages.Wait(ctx, int(ev.accepted.Load()), time.Now().Add(o.Drain))
	if ctx.Err() != nil {
		return PageResult{}, fmt.Errorf("bench: interrupted: %w", ctx.Err())
	}
	pprof.StopCPUProfile()

	res := PageResult{Sent: count, Accepted: int(ev.accepted.Load()), Errors: int(ev.failed.Load()), FirstError: ev.firstError(),
		Elapsed: elapsed, Pages: pages.Counts(rc)}
	for i := range n {
		if at := pages.At(i); at > 0 {
			res.Latency.Latencies = append(res.Latency.Latencies, at-sent[i])
		}
	}
	slices.Sort(res.Latency.Latencies)
	res.Latency.Accepted = int64(len(res.Latency.Latencies))
	// tocsin observes a page once the channel's send returns, just after the receiver has it.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if res.Server, err = t.Histogram(ctx, "tocsin_page_latency_seconds"); err != nil {
			return res, err
		}
		if int(res.Server.Count) >= res.Pages.Received || time.Now().After(deadline) {
			break
		}
	}
	pageReport(out, o, t, res)
	return res, res.check()
}

// sendPaced calls send(i) for each i from 0 to n-1, each in a goroutine of its own, i/rate
// after the start: an open loop, where a slow call delays nothing but itself. A ticker sends
// what has fallen due, so a late tick catches up. It waits for the calls and returns how many
// it made, fewer than n when ctx ended first.
func sendPaced(ctx context.Context, n int, rate float64, send func(i int)) int {
	var wg sync.WaitGroup
	tick := time.NewTicker(max(time.Duration(float64(time.Second)/rate), time.Millisecond))
	defer tick.Stop()
	count := 0
	first := time.Now()
	for count < n && ctx.Err() == nil {
		due := min(n, int(time.Since(first).Seconds()*rate)+1)
		for ; count < due; count++ {
			i := count
			wg.Go(func() { send(i) })
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	wg.Wait()
	return count
}

// events posts ALERT events for one integration key and counts the answers.
type events struct {
	client           *http.Client
	url, key         string
	accepted, failed atomic.Int64

	mu    sync.Mutex
	first string // the first failure, with its answer
}

func newEvents(url, integrationKey string, connections int) *events {
	return &events{client: NewClient(connections), url: url, key: integrationKey}
}

// post sends one event with alertKey; started is called just before the request goes out.
func (e *events) post(ctx context.Context, alertKey string, started func()) {
	body, _ := json.Marshal(map[string]string{"integrationKey": e.key, "eventType": "ALERT",
		"summary": "tocsin bench " + alertKey, "alertKey": alertKey}) // strings always encode
	ctx, cancel := context.WithTimeout(ctx, answerGrace)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		e.fail(err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if started != nil {
		started()
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.fail(err.Error())
		return
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		e.fail(resp.Status + " " + string(bytes.TrimSpace(answer)))
		return
	}
	e.accepted.Add(1)
}

func (e *events) fail(msg string) {
	e.failed.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first == "" {
		e.first = msg
	}
}

func (e *events) firstError() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first
}

// check reports what went wrong: events refused, pages missing, repeated or forged.
func (r PageResult) check() error {
	var errs []error
	if r.Errors > 0 {
		errs = append(errs, fmt.Errorf("bench: %d of %d events were not accepted; first: %s", r.Errors, r.Sent, r.FirstError))
	}
	if r.Pages.Received != r.Accepted {
		errs = append(errs, fmt.Errorf("bench: %d of %d accepted events were paged", r.Pages.Received, r.Accepted))
	}
	if err := r.Pages.check(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func pageReport(out io.Writer, o PageOptions, t *Tocsin, r PageResult) {
	fmt.Fprintf(out, "tocsin bench page: %g events/s for %s, open loop; one user, one level, a HIGH rule WEBHOOK after 0 min to a receiver on 127.0.0.1\n",
		o.Rate, o.Duration)
	fmt.Fprintf(out, "database: %s (%s, temporary)   GOMAXPROCS: %d   CPUs: %d\n", t.Dialect(), t.DB, runtime.GOMAXPROCS(0), runtime.NumCPU())
	rate := math.NaN()
	if r.Elapsed > 0 {
		rate = float64(r.Sent-1) / r.Elapsed.Seconds()
	}
	fmt.Fprintf(out, "events: %d sent over %s (%.0f/s), %d accepted, %d errors\n",
		r.Sent, r.Elapsed.Round(time.Millisecond), rate, r.Accepted, r.Errors)
	fmt.Fprintf(out, "pages:  %s\n", r.Pages)
	l := r.Latency
	fmt.Fprintf(out, "send → page received:  p50 %s   p90 %s   p99 %s   max %s\n",
		latency(l.Percentile(50)), latency(l.Percentile(90)), latency(l.Percentile(99)), latency(l.Percentile(100)))
	s := r.Server
	fmt.Fprintf(out, "tocsin_page_latency_seconds (report time → handed to the channel, from its buckets): count %.0f   mean %s   p50 %s   p99 %s\n",
		s.Count, seconds(s.Mean()), s.QuantileText(0.5), s.QuantileText(0.99))
	if r.FirstError != "" {
		fmt.Fprintln(out, "first error:", r.FirstError)
	}
	target := PageTargets[t.Dialect()]
	fmt.Fprintln(out, verdict(l.Percentile(99) < target && l.Accepted > 0,
		fmt.Sprintf("send → page p99 %s, target under %s on %s", latency(l.Percentile(99)), latency(target), t.Dialect())))
}

// verdict is a report's PASS or MISS line.
func verdict(pass bool, what string) string {
	if pass {
		return "PASS " + what
	}
	return "MISS " + what
}

// seconds formats a duration in seconds, as Prometheus histograms hold them.
func seconds(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	return latency(time.Duration(s * float64(time.Second)))
}

func progressTo(w io.Writer) func(format string, args ...any) {
	return func(format string, args ...any) {
		if w != nil {
			fmt.Fprintf(w, format+"\n", args...)
		}
	}
}

// Receiver is a webhook endpoint on 127.0.0.1 for tocsin's pages. Each path is one contact:
// a delivery to it must carry a valid signature by the contact's secret, and its alert key
// is handed to the path's callback with the time the delivery was read.
type Receiver struct {
	URL string
	srv *httptest.Server

	mu     sync.RWMutex
	routes map[string]*route

	forged, stray atomic.Int64
}

type route struct {
	secret string
	page   func(p webhook.Payload, at time.Time)
}

// NewReceiver starts a receiver on a free loopback port.
func NewReceiver() *Receiver {
	r := &Receiver{routes: map[string]*route{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	return r
}

// Route makes path a contact signing with secret, whose pages go to page.
func (r *Receiver) Route(path, secret string, page func(p webhook.Payload, at time.Time)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes[path] = &route{secret: secret, page: page}
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	at := time.Now()
	r.mu.RLock()
	rt := r.routes[req.URL.Path]
	r.mu.RUnlock()
	var p webhook.Payload
	switch {
	case err != nil || rt == nil || json.Unmarshal(body, &p) != nil:
		r.stray.Add(1)
		http.Error(w, "not a page", http.StatusBadRequest)
		return
	case !webhook.Verify(rt.secret, req.Header.Get(webhook.HeaderTimestamp), body, req.Header.Get(webhook.HeaderSignature), at, 0):
		r.forged.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	rt.page(p, at)
	w.WriteHeader(http.StatusNoContent)
}

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }

// pages records when each alert key "<prefix><i>", 0 ≤ i < n, was first paged.
type pages struct {
	prefix string
	base   time.Time      // arrival times are kept as durations since base
	first  []atomic.Int64 // nanoseconds since base; 0: not paged yet
	got    atomic.Int64   // keys paged
	again  atomic.Int64   // pages of a key already paged
	stray  atomic.Int64   // pages for keys not of this run
}

func newPages(prefix string, n int, base time.Time) *pages {
	return &pages{prefix: prefix, base: base, first: make([]atomic.Int64, n)}
}

// Key is the i-th alert key.
func (p *pages) Key(i int) string { return p.prefix + strconv.Itoa(i) }

// Record notes a page; it is a Receiver callback.
func (p *pages) Record(pl webhook.Payload, at time.Time) {
	i, err := strconv.Atoi(strings.TrimPrefix(pl.AlertKey, p.prefix))
	if err != nil || !strings.HasPrefix(pl.AlertKey, p.prefix) || i < 0 || i >= len(p.first) {
		p.stray.Add(1)
		return
	}
	if p.first[i].CompareAndSwap(0, max(int64(at.Sub(p.base)), 1)) {
		p.got.Add(1)
	} else {
		p.again.Add(1)
	}
}

// At returns when key i was first paged, since base, or 0 if it was not.
func (p *pages) At(i int) time.Duration { return time.Duration(p.first[i].Load()) }

// Wait returns once want keys are paged, at deadline, or when ctx ends.
func (p *pages) Wait(ctx context.Context, want int, deadline time.Time) bool {
	for int(p.got.Load()) < want {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// Pages counts what a receiver got for one set of keys.
type Pages struct {
	Received  int // distinct alert keys paged
	Repeated  int // pages of a key already paged
	Stray     int // pages for another key, or not a page at all
	Forged    int // deliveries whose signature did not verify (the receiver's, all paths)
	Malformed int // the receiver's deliveries to no contact, or not JSON
}

// Counts returns what p and rc counted so far.
func (p *pages) Counts(rc *Receiver) Pages {
	return Pages{Received: int(p.got.Load()), Repeated: int(p.again.Load()), Stray: int(p.stray.Load()),
		Forged: int(rc.forged.Load()), Malformed: int(rc.stray.Load())}
}

func (c Pages) String() string {
	return fmt.Sprintf("%d received with valid signatures, %d repeated, %d for other keys, %d forged, %d malformed",
		c.Received, c.Repeated, c.Stray, c.Forged, c.Malformed)
}

func (c Pages) check() error {
	if c.Repeated+c.Stray+c.Forged+c.Malformed > 0 {
		return fmt.Errorf("bench: pages: %s", c)
	}
	return nil
}

// CreateWebhookUser creates a user whose only HIGH priority alert rule is a WEBHOOK with no
// delay to path on rc (so the default email rule does not apply), routes the contact's pages
// to page, and returns the user's id. Everything goes through the REST API, as a user would.
func (t *Tocsin) CreateWebhookUser(ctx context.Context, name string, rc *Receiver, path string, page func(webhook.Payload, time.Time)) (int64, error) {
	var user, contact struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	err := t.call(ctx, http.MethodPost, "/api/users", map[string]any{"firstName": name, "lastName": "Bench",
		"email": strings.ToLower(name) + "@bench.localhost", "role": "RESPONDER"}, &user)
	if err != nil {
		return 0, fmt.Errorf("bench: create user %s: %w", name, err)
	}
	uid := strconv.FormatInt(user.ID, 10)
	err = t.call(ctx, http.MethodPost, "/api/users/"+uid+"/contacts/webhooks", map[string]any{"target": rc.URL + path}, &contact)
	if err != nil {
		return 0, fmt.Errorf("bench: webhook contact of user %d: %w", user.ID, err)
	}
	if contact.Secret == "" {
		return 0, fmt.Errorf("bench: the webhook contact of user %d has no secret", user.ID)
	}
	rc.Route(path, contact.Secret, page)
	var rule struct {
		ID int64 `json:"id"`
	}
	err = t.call(ctx, http.MethodPost, "/api/users/"+uid+"/notification-preferences/alerts", map[string]any{
		"method": "WEBHOOK", "contact": map[string]any{"id": contact.ID}, "delayMin": 0, "type": "HIGH_PRIORITY"}, &rule)
	if err != nil {
		return 0, fmt.Errorf("bench: alert rule of user %d: %w", user.ID, err)
	}
	return user.ID, nil
}

// Level is one level of an escalation policy: its users, and the minutes before the next.
type Level struct {
	Users   []int64
	Timeout int
}

// CreatePagingSource creates an escalation policy of the levels and an API alert source
// using it, both named name, and returns the source's integration key.
func (t *Tocsin) CreatePagingSource(ctx context.Context, name string, levels ...Level) (string, error) {
	rules := make([]any, len(levels))
	for i, l := range levels {
		users := make([]any, len(l.Users))
		for j, id := range l.Users {
			users[j] = map[string]any{"id": id}
		}
		rules[i] = map[string]any{"escalationTimeout": l.Timeout, "users": users}
	}
	var policy, source struct {
		ID             int64  `json:"id"`
		IntegrationKey string `json:"integrationKey"`
	}
	if err := t.call(ctx, http.MethodPost, "/api/escalation-policies", map[string]any{"name": name, "escalationRules": rules}, &policy); err != nil {
		return "", fmt.Errorf("bench: create escalation policy %q: %w", name, err)
	}
	err := t.call(ctx, http.MethodPost, "/api/alert-sources", map[string]any{"name": name, "integrationType": "API",
		"escalationPolicy": map[string]any{"id": policy.ID}}, &source)
	if err != nil {
		return "", fmt.Errorf("bench: create alert source %q: %w", name, err)
	}
	if source.IntegrationKey == "" {
		return "", fmt.Errorf("bench: alert source %q has no integrationKey", name)
	}
	return source.IntegrationKey, nil
}

// Histogram is a Prometheus histogram as tocsin's /metrics shows it.
type Histogram struct {
	Buckets []Bucket // by upper bound, cumulative, ending with +Inf
	Count   float64
	Sum     float64
}

// Bucket is one cumulative bucket.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Histogram reads the histogram called name from tocsin's /metrics.
func (t *Tocsin) Histogram(ctx context.Context, name string) (Histogram, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Server.URL+"/metrics", nil)
	if err != nil {
		return Histogram{}, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return Histogram{}, fmt.Errorf("bench: read /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Histogram{}, fmt.Errorf("bench: read /metrics: %s", resp.Status)
	}
	h, err := ParseHistogram(resp.Body, name)
	if err != nil {
		return Histogram{}, fmt.Errorf("bench: /metrics: %w", err)
	}
	return h, nil
}

// ParseHistogram reads the unlabelled histogram called name from the Prometheus text format.
func ParseHistogram(r io.Reader, name string) (Histogram, error) {
	var h Histogram
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		series, value, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(series, name+"_") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return Histogram{}, fmt.Errorf("%s: %q: %w", name, line, err)
		}
		switch rest := series[len(name)+1:]; {
		case rest == "sum":
			h.Sum, found = v, true
		case rest == "count":
			h.Count, found = v, true
		case strings.HasPrefix(rest, `bucket{le="`) && strings.HasSuffix(rest, `"}`):
			le, err := strconv.ParseFloat(rest[len(`bucket{le="`):len(rest)-2], 64)
			if err != nil {
				return Histogram{}, fmt.Errorf("%s: %q: %w", name, line, err)
			}
			h.Buckets = append(h.Buckets, Bucket{UpperBound: le, Count: v})
		}
	}
	if err := sc.Err(); err != nil {
		return Histogram{}, err
	}
	if !found || len(h.Buckets) == 0 {
		return Histogram{}, fmt.Errorf("no histogram %s", name)
	}
	slices.SortFunc(h.Buckets, func(a, b Bucket) int { return cmpFloat(a.UpperBound, b.UpperBound) })
	return h, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Sub returns the observations h has and earlier had not: those made between two reads.
func (h Histogram) Sub(earlier Histogram) Histogram {
	d := Histogram{Count: h.Count - earlier.Count, Sum: h.Sum - earlier.Sum, Buckets: slices.Clone(h.Buckets)}
	for i := range d.Buckets {
		if i < len(earlier.Buckets) && earlier.Buckets[i].UpperBound == d.Buckets[i].UpperBound {
			d.Buckets[i].Count -= earlier.Buckets[i].Count
		}
	}
	return d
}

// Mean returns the mean observation, or NaN when there is none.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	return h.Sum / h.Count
}

// QuantileText is Quantile for a report: "≈ 12.3ms", or "> 32768ms" when the quantile lies
// above the highest finite bucket, where the histogram cannot say how far.
func (h Histogram) QuantileText(q float64) string {
	v := h.Quantile(q)
	if n := len(h.Buckets); n >= 2 && v == h.Buckets[n-2].UpperBound && q*h.Buckets[n-1].Count > h.Buckets[n-2].Count {
		return "> " + seconds(v)
	}
	return "≈ " + seconds(v)
}

// Quantile estimates the q-quantile (0 < q ≤ 1) as Prometheus's histogram_quantile does:
// linearly within the bucket that holds it, taking the lowest bucket to start at 0, and the
// highest finite bound when it falls in +Inf. It is NaN when there are no observations.
func (h Histogram) Quantile(q float64) float64 {
	if len(h.Buckets) == 0 || h.Count == 0 {
		return math.NaN()
	}
	total := h.Buckets[len(h.Buckets)-1].Count
	rank := q * total
	lower, below := 0.0, 0.0
	for i, b := range h.Buckets {
		if b.Count >= rank {
			if math.IsInf(b.UpperBound, 1) {
				if i == 0 {
					return math.NaN()
				}
				return h.Buckets[i-1].UpperBound
			}
			if b.Count == below {
				return b.UpperBound
			}
			return lower + (b.UpperBound-lower)*(rank-below)/(b.Count-below)
		}
		lower, below = b.UpperBound, b.Count
	}
	return h.Buckets[len(h.Buckets)-1].UpperBound
}
