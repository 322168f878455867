package heartbeat

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// Store keeps monitors and their pings (the store does).
type Store interface {
	// HeartbeatMonitorByKey returns the monitor with this integration key; NotFound if none.
	HeartbeatMonitorByKey(ctx context.Context, key string) (Monitor, error)
	// RecordPings writes pings in one statement or a few: a monitor's last ping only moves
	// forward, and its first makes it HEALTHY. It returns the state of each monitor written.
	RecordPings(ctx context.Context, pings []Ping) (map[int64]State, error)
	// ClaimHeartbeats leases, until leaseUntil, up to limit monitors whose state disagrees
	// with their deadline at now and that no other claim holds.
	ClaimHeartbeats(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Claim, error)
	// SetHeartbeatState moves a claimed monitor from the state it was claimed in to to, and
	// ends the claim. It reports false, and writes nothing, when the claim no longer holds.
	SetHeartbeatState(ctx context.Context, c Claim, to State) (bool, error)
	// HeartbeatMonitorExists reports whether the monitor is still there.
	HeartbeatMonitorExists(ctx context.Context, id int64) (bool, error)
}

// Events submits the events of heartbeat monitors to their alert sources, the way the Events
// API takes events, so the sources' rules apply. An alert source that no longer exists is not
// an error: its alerts went with it.
type Events interface {
	SubmitHeartbeatEvent(ctx context.Context, sourceID int64, ev alert.Event) error
}

// Options configure a Watcher. Zero values choose the defaults.
type Options struct {
	Store Store
	Now   func() time.Time // the clock of pings and deadlines; time.Now by default
	Log   *slog.Logger
	// Tick is how often pings are written and monitors settled: 1s by default. The grace
	// (at least MinGrace) must cover it.
	Tick time.Duration
	// Lease is how long a claim on a monitor lasts: after a crash, or an event that failed,
	// the monitor is settled again this much later. 1 minute by default.
	Lease time.Duration
	// Batch is how many monitors one claim takes: 100 by default.
	Batch int
	// MinIntervalSec is the shortest interval a monitor may have: MinIntervalSec unless a
	// test lowers it.
	MinIntervalSec int
}

// keyTTL is how long the monitor of an integration key is kept in memory, so that a stream of
// pings costs one lookup a second. A changed or deleted monitor takes effect within it.
const keyTTL = time.Second

// maxKeys bounds the keys kept in memory; past it the memory starts afresh.
const maxKeys = 10000

// Watcher takes pings and settles monitors. Every replica runs one; they coordinate through
// the database's claims.
type Watcher struct {
	o    Options
	wake chan struct{}

	mu      sync.Mutex
	keys    map[string]*keyEntry // integration key → its monitor, for keyTTL
	unknown map[string]time.Time // integration keys of no monitor → when that was found, for keyTTL
	byID    map[int64]*keyEntry
	pending map[int64]time.Time // the latest ping of each monitor, not yet written
}

// keyEntry is what a key's lookup found: monitor 0 when no monitor has the key.
type keyEntry struct {
	monitor int64
	state   State
	at      time.Time
	woke    time.Time // when a ping of this monitor last woke the loop
}

// New makes a Watcher; Run starts its loop.
func New(o Options) *Watcher {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.MinIntervalSec <= 0 {
		o.MinIntervalSec = MinIntervalSec
	}
	return &Watcher{o: o, wake: make(chan struct{}, 1), keys: map[string]*keyEntry{}, unknown: map[string]time.Time{}, byID: map[int64]*keyEntry{},
		pending: map[int64]time.Time{}}
}

// Validate checks a monitor a client writes (see Monitor.Validate).
func (w *Watcher) Validate(m *Monitor) error {
	m.Normalize()
	return m.Validate(w.o.MinIntervalSec)
}

// Ping records a ping of the monitor with this integration key, or returns NotFound. The
// ping is held in memory and written with the others within a Tick. A monitor's first ping,
// and the first after it became overdue, wake the loop, so that it turns HEALTHY, and its
// alert resolves, at once.
func (w *Watcher) Ping(ctx context.Context, key string) error {
	if !wellFormedKey(key) {
		return errNoMonitor
	}
	now := w.o.Now()
	w.mu.Lock()
	e, ok := w.keys[key]
	if ok && now.Sub(e.at) < keyTTL {
		defer w.mu.Unlock()
		return w.record(e, now)
	}
	if at, ok := w.unknown[key]; ok && now.Sub(at) < keyTTL {
		w.mu.Unlock()
		return errNoMonitor
	}
	w.mu.Unlock()

	e = &keyEntry{at: now}
	m, err := w.o.Store.HeartbeatMonitorByKey(ctx, key)
	switch {
	case err == nil:
		e.monitor, e.state = m.ID, m.State
	case !fault.Is(err, fault.NotFound):
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.monitor == 0 {
		// Keys of no monitor are remembered apart, so that a stream of made-up keys cannot
		// push out the keys of real monitors.
		if len(w.unknown) >= maxKeys {
			clear(w.unknown)
		}
		w.unknown[key] = now
		delete(w.keys, key)
		return errNoMonitor
	}
	if len(w.keys) >= maxKeys {
		w.keys, w.byID = map[string]*keyEntry{}, map[int64]*keyEntry{}
	}
	w.keys[key] = e
	w.byID[e.monitor] = e
	return w.record(e, now)
}

var errNoMonitor = fault.NotFoundf("no heartbeat monitor has this key")

// record holds a ping of e's monitor; w.mu is held.
func (w *Watcher) record(e *keyEntry, at time.Time) error {
	if e.monitor == 0 {
		return errNoMonitor
	}
	if prev, ok := w.pending[e.monitor]; !ok || at.After(prev) {
		w.pending[e.monitor] = at
	}
	// At most once a second per monitor, so that a stream of pings of a monitor whose RESOLVE
	// keeps failing does not keep the loop writing.
	if e.state != Healthy && at.Sub(e.woke) >= time.Second {
		e.woke = at
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// setState notes a monitor's state for the pings to come.
func (w *Watcher) setState(id int64, s State) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.byID[id]; ok {
		e.state = s
	}
}

// Run settles monitors every Tick, and at once when a ping wakes it, until ctx ends; then it
// writes the pings still held. Events go out through events.
func (w *Watcher) Run(ctx context.Context, events Events) {
	t := time.NewTicker(w.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := w.Flush(fctx); err != nil {
				w.o.Log.Error("the last heartbeat pings were not written", "err", err)
			}
			return
		case <-t.C:
		case <-w.wake:
		}
		if err := w.Round(ctx, events); err != nil && ctx.Err() == nil {
			w.o.Log.Error("heartbeat round failed", "err", err)
		}
	}
}

// Round writes the pings held, then settles the monitors whose state disagrees with their
// deadline, a batch at a time. Each monitor's event is submitted before its state is written:
// a crash in between repeats the event, and its alert key makes that harmless (a second ALERT
// folds into the open alert, a second RESOLVE finds none).
func (w *Watcher) Round(ctx context.Context, events Events) error {
	ferr := w.Flush(ctx)
	for {
		now := w.o.Now()
		claims, err := w.o.Store.ClaimHeartbeats(ctx, now, now.Add(w.o.Lease), w.o.Batch)
		if err != nil {
			return errors.Join(ferr, err)
		}
		for _, c := range claims {
			w.settle(ctx, events, c)
		}
		if len(claims) < w.o.Batch {
			return ferr
		}
	}
}

// settle submits a claimed monitor's event and then moves it to its new state. When the event
// fails, the claim is left to lapse, and the next claim after it tries again.
func (w *Watcher) settle(ctx context.Context, events Events, c Claim) {
	ev, to := c.event()
	log := w.o.Log.With("monitor", c.MonitorID, "source", c.SourceID)
	if err := events.SubmitHeartbeatEvent(ctx, c.SourceID, ev); err != nil {
		if ctx.Err() == nil {
			log.Error("heartbeat event failed; it is tried again when its claim lapses", "event", string(ev.Type),
				"lease_until", c.Lease, "err", err)
		}
		return
	}
	changed, err := w.o.Store.SetHeartbeatState(ctx, c, to)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("heartbeat state not written; its event is repeated when its claim lapses", "state", string(to), "err", err)
		}
		return
	}
	if !changed {
		if to == Overdue {
			// Deleted while its alert was being opened: the delete saw it HEALTHY and resolved
			// nothing, so the alert just opened is resolved here.
			if exists, err := w.o.Store.HeartbeatMonitorExists(ctx, c.MonitorID); err == nil && !exists {
				resolve := alert.Event{Type: alert.EventResolve, AlertKey: AlertKey(c.MonitorID)}
				if err := events.SubmitHeartbeatEvent(ctx, c.SourceID, resolve); err != nil {
					log.Error("the alert of a heartbeat monitor deleted meanwhile was not resolved", "err", err)
				}
				return
			}
		}
		log.Info("heartbeat claim lapsed before its state was written; another round settles it", "state", string(to))
		return
	}
	w.setState(c.MonitorID, to)
	if to == Overdue {
		log.Info("heartbeat monitor is overdue; alert submitted", "name", c.Name, "last_ping", c.LastPingAt)
	} else {
		log.Info("heartbeat monitor on time again (pinged, or its interval raised); alert resolved", "name", c.Name)
	}
}

// Flush writes the pings held. If that fails they are held again, for the next Flush.
func (w *Watcher) Flush(ctx context.Context) error {
	w.mu.Lock()
	held := w.pending
	w.pending = map[int64]time.Time{}
	w.mu.Unlock()
	if len(held) == 0 {
		return nil
	}
	pings := make([]Ping, 0, len(held))
	for id, at := range held {
		pings = append(pings, Ping{MonitorID: id, At: at})
	}
	// In id order, so that two replicas writing the same monitors lock them in the same order.
	slices.SortFunc(pings, func(a, b Ping) int { return cmp.Compare(a.MonitorID, b.MonitorID) })
	states, err := w.o.Store.RecordPings(ctx, pings)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		for id, at := range held {
			if now, ok := w.pending[id]; !ok || at.After(now) {
				w.pending[id] = at
			}
		}
		return err
	}
	for id, s := range states {
		if e, ok := w.byID[id]; ok {
			e.state = s
		}
	}
	return nil
}
