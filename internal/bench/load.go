// Package bench measures the Events API: a load generator that posts events over a fixed
// number of keep-alive connections, the targets it runs against (tocsin started in-process
// on a temporary database, and a bare net/http handler as the floor), and the report of
// `tocsin bench ingest`.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Load is one run of the generator.
type Load struct {
	URL         string    // the Events API endpoint; its host must be a loopback IP address
	Body        *Template // the events to send
	Connections int       // requests in flight at once, one per connection

	// The run stops starting requests after Duration, or after Events requests in all when
	// Events is more than 0. Requests in flight then finish, so every request the run
	// started has an answer and a 202 always means a committed event.
	Duration time.Duration
	Events   int64
}

// Result is what a run measured.
type Result struct {
	Accepted   int64           // answers with status 202
	Errors     int64           // any other status, or no answer
	FirstError string          // the first error, with the body of its answer
	Elapsed    time.Duration   // from the first request to the last answer
	Latencies  []time.Duration // of the accepted requests, sorted
}

// Rate returns accepted events per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

// Percentile returns the latency below which p percent of the accepted requests answered
// (nearest rank), or 0 when none was accepted.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	rank := int(p/100*float64(n) + 0.999999)
	return r.Latencies[min(max(rank, 1), n)-1]
}

// NewClient returns the client for a run with the given connections: one transport whose
// pool keeps every connection alive between requests, and no compression, proxy or HTTP/2.
func NewClient(connections int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        connections,
		MaxIdleConnsPerHost: connections,
		MaxConnsPerHost:     connections,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// answerGrace bounds how long a request that started before the end of a run may take.
const answerGrace = 30 * time.Second

// latencyHint is the request rate a run's latency slices are sized for up front, so that
// recording a latency does not allocate while measuring.
const latencyHint = 100_000

// Run sends l's events through client and measures the answers. It returns early, with what
// it measured so far, when ctx ends. A run by duration also gives up on answers that take
// more than answerGrace after its end; a run by events is bounded by ctx alone.
func Run(ctx context.Context, client *http.Client, l Load) (Result, error) {
	u, err := url.Parse(l.URL)
	if err != nil {
		return Result{}, fmt.Errorf("bench: target %q: %w", l.URL, err)
	}
	if err := checkLoopback(u); err != nil {
		return Result{}, err
	}
	switch {
	case l.Body == nil:
		return Result{}, errors.New("bench: no event template")
	case l.Connections < 1:
		return Result{}, errors.New("bench: connections must be 1 or more")
	case l.Duration <= 0 && l.Events <= 0:
		return Result{}, errors.New("bench: a run needs a duration or a number of events")
	}
	perWorker := 1024
	if l.Events > 0 {
		perWorker = max(perWorker, int(l.Events)/l.Connections+1)
	} else {
		perWorker = max(perWorker, int(l.Duration.Seconds()*latencyHint)/l.Connections)
	}
	r := &run{load: l, url: u, client: client, stop: ctx}
	if l.Events <= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.Duration+answerGrace)
		defer cancel()
	}
	workers := make([]worker, l.Connections)
	start := time.Now()
	r.deadline = start.Add(l.Duration)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i].latencies = make([]time.Duration, 0, perWorker)
		wg.Go(func() { workers[i].run(ctx, r) })
	}
	wg.Wait()

	res := Result{Elapsed: time.Since(start)}
	total := 0
	for i := range workers {
		total += len(workers[i].latencies)
	}
	res.Latencies = make([]time.Duration, 0, total)
	for i := range workers {
		w := &workers[i]
		res.Accepted += w.accepted
		res.Errors += w.errors
		res.Latencies = append(res.Latencies, w.latencies...)
	}
	res.FirstError = firstError(workers)
	slices.Sort(res.Latencies)
	return res, nil
}

func firstError(workers []worker) string {
	var first *worker
	for i := range workers {
		w := &workers[i]
		if w.firstError != "" && (first == nil || w.firstErrorAt.Before(first.firstErrorAt)) {
			first = w
		}
	}
	if first == nil {
		return ""
	}
	return first.firstError
}

// checkLoopback refuses targets off this machine: the generator is a load test, and a load
// test of someone else's server is an attack.
func checkLoopback(u *url.URL) error {
	if u.Scheme != "http" {
		return fmt.Errorf("bench: target %q must be an http:// URL", u)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("bench: target %q is not a loopback IP address", u)
	}
	return nil
}

// run is the state the workers of one Run share.
type run struct {
	load     Load
	url      *url.URL
	client   *http.Client
	stop     context.Context // the caller's: when it ends, the run ends without counting errors
	deadline time.Time
	started  atomic.Int64
}

// next reports whether a worker may start another request.
func (r *run) next() bool {
	if r.load.Events > 0 {
		return r.started.Add(1) <= r.load.Events
	}
	return time.Now().Before(r.deadline)
}

// worker is one connection's loop; it keeps its own counts so workers share nothing but the
// key counter while measuring.
type worker struct {
	latencies    []time.Duration
	accepted     int64
	errors       int64
	firstError   string
	firstErrorAt time.Time
}

func (w *worker) run(ctx context.Context, r *run) {
	header := http.Header{"Content-Type": {"application/json"}}
	size := r.load.Body.Size()
	for r.stop.Err() == nil && r.next() {
		// A fresh body each time: the transport may still hold the previous one.
		body := r.load.Body.Append(make([]byte, 0, size))
		req := (&http.Request{
			Method:        http.MethodPost,
			URL:           r.url,
			Host:          r.url.Host,
			Proto:         "HTTP/1.1",
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        header,
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
		}).WithContext(ctx)
		start := time.Now()
		resp, err := r.client.Do(req)
		if err != nil {
			if r.stop.Err() == nil { // a request cut off by answerGrace is an error
				w.fail(err.Error())
			}
			continue
		}
		if resp.StatusCode != http.StatusAccepted {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			w.fail(strconv.Itoa(resp.StatusCode) + " " + string(bytes.TrimSpace(msg)))
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		switch {
		case resp.StatusCode != http.StatusAccepted:
		case err != nil:
			w.fail("read the answer: " + err.Error())
		default:
			w.accepted++
			w.latencies = append(w.latencies, took)
		}
	}
}

func (w *worker) fail(msg string) {
	w.errors++
	if w.firstError == "" {
		w.firstError, w.firstErrorAt = msg, time.Now()
	}
}
