// Package ingest commits Events API events in groups: concurrent events are collected by a
// writer and applied in one transaction, and each caller is answered after that commit.
package ingest

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/metrics"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Options tune the group commit. Zero values choose the defaults.
type Options struct {
	Writers  int           // concurrent writer transactions: 1 on SQLite, 4 on PostgreSQL by default
	MaxBatch int           // events per transaction, default 256
	MaxWait  time.Duration // how long a writer waits for more events when several are arriving, default 2ms
	Log      *slog.Logger
}

// Committer is the group-commit writer.
type Committer struct {
	db      *store.DB
	m       *metrics.Metrics
	log     *slog.Logger
	queues  []chan *job
	max     int
	wait    time.Duration
	seed    maphash.Seed
	mu      sync.RWMutex // guards closed against Submit racing Close
	closed  bool
	writers sync.WaitGroup
}

type job struct {
	work    store.EventWork
	arrived time.Time
	done    chan outcome
}

type outcome struct {
	res store.EventResult
	err error
}

// New starts the writers.
func New(db *store.DB, m *metrics.Metrics, o Options) *Committer {
	if o.Writers <= 0 {
		o.Writers = 1
		if db.Dialect() == store.Postgres {
			o.Writers = 4
		}
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 2 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	c := &Committer{db: db, m: m, log: o.Log, max: o.MaxBatch, wait: o.MaxWait, seed: maphash.MakeSeed()}
	for range o.Writers {
		q := make(chan *job, o.MaxBatch*4)
		c.queues = append(c.queues, q)
		c.writers.Add(1)
		go c.run(q)
	}
	return c
}

// Submit queues an event and waits until its batch has committed. Events with the same
// source and alert key always go to the same writer, and all events of a source that groups
// alerts beyond their keys too, so writers never contend for one alert.
// If ctx ends first, Submit returns ctx's error; the event may still be committed.
func (c *Committer) Submit(ctx context.Context, w store.EventWork) (store.EventResult, error) {
	j := &job{work: w, arrived: time.Now(), done: make(chan outcome, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return store.EventResult{}, fault.New(fault.Unavailable, "tocsin is shutting down; retry the event")
	}
	key := w.Event.AlertKey
	if w.Source.Groups() { // events of a grouping source touch each other's alerts: one writer
		key = ""
	}
	q := c.queues[c.queueOf(w.Source.ID, key)]
	select {
	case q <- j:
	case <-ctx.Done():
		c.mu.RUnlock()
		return store.EventResult{}, ctx.Err()
	}
	c.mu.RUnlock()
	select {
	case o := <-j.done:
		return o.res, o.err
	case <-ctx.Done():
		return store.EventResult{}, ctx.Err()
	}
}

func (c *Committer) queueOf(sourceID int64, key string) int {
	if len(c.queues) == 1 {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(alert.KeyOf(key))
	return int((h.Sum64() ^ uint64(sourceID)) % uint64(len(c.queues)))
}

// Close stops taking events, commits every event already queued, and waits for the writers.
func (c *Committer) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for _, q := range c.queues {
		close(q)
	}
	c.mu.Unlock()
	c.writers.Wait()
}

// run is one writer: take an event, gather those that are waiting (and, when several are
// arriving, those that come within MaxWait), commit them together, answer each.
func (c *Committer) run(q chan *job) {
	defer c.writers.Done()
	batch := make([]*job, 0, c.max)
	last := 0
	for first := range q {
		batch = append(batch[:0], first)
		open := c.gather(q, &batch, last)
		c.commit(batch)
		last = len(batch)
		if !open {
			return
		}
	}
}

// gather adds queued jobs to the batch; it reports false once the queue is closed and empty.
// last is the size of the previous batch. Its callers are about to send again, so gather
// waits, for at most MaxWait, until about as many events have arrived: a lone event after a
// large batch would otherwise pay a whole commit for itself while the rest queue behind it.
// Without concurrency (the previous batch held one event) an event is committed at once.
func (c *Committer) gather(q chan *job, batch *[]*job, last int) bool {
	take := func(j *job, ok bool) bool {
		if ok {
			*batch = append(*batch, j)
		}
		return ok
	}
	for len(*batch) < c.max { // take what is already waiting
		select {
		case j, ok := <-q:
			if !take(j, ok) {
				return false
			}
			continue
		default:
		}
		break
	}
	want := min(max(last, 1), c.max)
	if len(*batch) >= want {
		return true
	}
	timer := time.NewTimer(c.wait)
	defer timer.Stop()
	for len(*batch) < want {
		select {
		case j, ok := <-q:
			if !take(j, ok) {
				return false
			}
		case <-timer.C:
			return true
		}
	}
	return true
}

// commitTimeout bounds one batch's transaction, so a database that stops answering fails
// the batch's requests (with 503: retry) instead of holding them, and shutdown, forever.
const commitTimeout = 30 * time.Second

// commit writes the batch in one transaction. If that fails before the commit, each event is
// retried in a transaction of its own, so one bad event fails only its own request. If the
// commit itself failed, or the database did not answer in time, nobody can tell what was
// stored: every request of the batch is failed with 503, and the senders retry.
func (c *Committer) commit(batch []*job) {
	works := make([]store.EventWork, len(batch))
	for i, j := range batch {
		works[i] = j.work
	}
	// A caller that went away must not abort the others' commit, so no request's context.
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	results, err := c.db.ApplyEvents(ctx, works)
	if err == nil {
		c.observe(batch)
		for i, j := range batch {
			j.done <- outcome{res: results[i]}
		}
		return
	}
	if errors.Is(err, store.ErrCommitUncertain) || ctx.Err() != nil {
		c.log.Error("group commit failed; its events may or may not be stored", "events", len(batch), "err", err)
		fail := err
		if !errors.Is(err, store.ErrCommitUncertain) {
			fail = &fault.Error{Code: fault.Unavailable, Message: "the database did not answer in time; retry the event", Err: err}
		}
		for _, j := range batch {
			j.done <- outcome{err: fail}
		}
		return
	}
	if len(batch) > 1 {
		c.log.Warn("group commit failed; retrying its events one by one", "events", len(batch), "err", err)
	}
	for _, j := range batch {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		res, err := c.db.ApplyEvents(ctx, []store.EventWork{j.work})
		cancel()
		if err != nil {
			c.log.Error("event commit failed", "source", j.work.Source.ID, "err", err)
			j.done <- outcome{err: err}
			continue
		}
		c.observe([]*job{j})
		j.done <- outcome{res: res[0]}
	}
}

func (c *Committer) observe(batch []*job) {
	if c.m == nil {
		return
	}
	c.m.BatchSize.Observe(float64(len(batch)))
	c.m.CommitLatency.Observe(time.Since(batch[0].arrived).Seconds())
}
