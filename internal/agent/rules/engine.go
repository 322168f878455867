package rules

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/condition"
)

const (
	// tickInterval is how often Run evaluates the time-based conditions (heartbeats, threshold
	// durations, rate windows, suppression and minimum firing) and saves the state messages
	// changed.
	tickInterval = time.Second
	// restartGrace is how long a heartbeat that fell due while the agent was not running is
	// given after the start (at most its timeout) for a message to arrive, so that restarting
	// the agent does not raise an alert for every device that was not heard during the restart.
	restartGrace = time.Minute
	// shutdownSave bounds the last save of state when Run ends.
	shutdownSave = 5 * time.Second
)

// Engine evaluates a Set on the messages the consumers see (it is their consumer.Observer)
// and on the clock (it is a consumer.Consumer whose Run ticks every second).
//
// Delivery and state are kept consistent like this: when a key starts or stops firing, the
// engine decides the transition, saves the new state together with the event it is about to
// send (the pending event), pushes the event into the durable buffer, and then saves the state
// again without the pending event. A crash before the push leaves the pending event saved, and
// it is pushed after the restart; a crash after the push and before the second save pushes it
// again: at most a duplicate ALERT or RESOLVE, which the server deduplicates by alert key,
// never a lost one. Without the first save, a crash between the push and the save could lose
// an event for good: an ALERT pushed, the condition clears during the restart, and the agent,
// not knowing it had alerted, never resolves; or a RESOLVE pushed, the condition returns, and
// the agent, believing it still fires, never alerts again.
//
// What messages change between transitions (last seen, values, counts) is saved on the next
// tick, in one transaction; a crash loses at most the last second of it, which delays a
// heartbeat alert or a threshold's duration by as much and loses no event.
type Engine struct {
	set *Set
	db  *sql.DB
	buf consumer.Buffer
	now func() time.Time
	log *slog.Logger

	mu         sync.Mutex
	base       []*ruleState // threshold, missing_heartbeat and rate rules, in file order
	composites []*ruleState // composites, each after the composites it names
	byRule     map[*rule]*ruleState
	dirty      map[stateRef]struct{} // keys to save (or delete) on the next tick

	skipped  atomic.Int64 // messages a rule could not use: no number, no device, no key, too large
	dropped  atomic.Int64 // messages not evaluated because their rule had max_keys keys
	failures atomic.Int64
	errMu    sync.Mutex
	lastErr  string
}

var (
	_ consumer.Observer = (*Engine)(nil)
	_ consumer.Consumer = (*Engine)(nil)
)

// ruleState is the state of one rule: one entry per dedup key.
type ruleState struct {
	r          *rule
	keys       map[string]*state
	dropLogged time.Time
}

type stateRef struct {
	rs  *ruleState
	key string
}

// state is a rule's state for one dedup key.
type state struct {
	alertKey       string // the alert key of the ALERT sent (composites render their own)
	integrationKey string // where the ALERT went, so that the RESOLVE follows it
	firing         bool
	firedAt        time.Time
	suppressUntil  time.Time
	pending        *client.Event // decided and saved, not yet in the buffer

	since    time.Time // threshold: breached without a break since then; zero: not breached
	lastSeen time.Time // the last message of the key (heartbeat watches start at the start)
	value    float64
	hasValue bool
	buckets  []bucket // rate: message counts per step of the window, oldest first
	grace    time.Time

	// The last message, for templates rendered when no message is at hand.
	device, topic, msgKey, source string
	payload                       []byte
}

// bucket counts a rate rule's messages in one step of its window.
type bucket struct {
	Index int64 `json:"i"` // the step's start: Index × step since the Unix epoch
	N     int64 `json:"n"`
}

// New returns an engine for set that keeps its state in db, the agent's SQLite file (in tables
// of its own, created here), and pushes its events into buf. now is the clock.
//
// New loads the saved state. State of rules that are no longer in the set, or whose
// fingerprint changed (what they watch or where they send), is retired: a RESOLVE is pushed
// for each of their keys that was firing, and the state is deleted. An error means the state
// could not be read or retired; the agent should not start without it.
func New(set *Set, db *sql.DB, buf consumer.Buffer, now func() time.Time, log *slog.Logger) (*Engine, error) {
	if set == nil || db == nil || buf == nil || now == nil {
		return nil, errors.New("rules: New needs a set, a database, a buffer and a clock")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{set: set, db: db, buf: buf, now: now, log: log, byRule: map[*rule]*ruleState{}, dirty: map[stateRef]struct{}{}}
	for _, r := range set.rules {
		rs := &ruleState{r: r, keys: map[string]*state{}}
		e.byRule[r] = rs
		if r.kind != Composite {
			e.base = append(e.base, rs)
		}
	}
	// Composites in dependency order: Parse has rejected cycles.
	placed := map[*rule]bool{}
	var place func(r *rule)
	place = func(r *rule) {
		if placed[r] || r.kind != Composite {
			return
		}
		placed[r] = true
		for _, c := range r.children {
			place(c)
		}
		e.composites = append(e.composites, e.byRule[r])
	}
	for _, r := range set.rules {
		place(r)
	}

	ctx := context.Background()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("rules: create the state table: %w", err)
	}
	start := now()
	if err := e.load(ctx, start); err != nil {
		return nil, err
	}
	for _, rs := range e.base {
		r := rs.r
		if r.staticKey != "" && rs.keys[r.staticKey] == nil {
			rs.keys[r.staticKey] = &state{alertKey: r.staticKey, lastSeen: start, topic: r.topic.text}
			e.markDirty(rs, r.staticKey)
		}
	}
	if err := e.flush(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Observe evaluates a message against the rules whose topic it matches. Paths and templates
// are evaluated before the engine's lock is taken, so consumers evaluate in parallel and wait
// for one another only to update state.
func (e *Engine) Observe(ctx context.Context, m consumer.Message) {
	var msg *message
	var hits []hit
	for _, rs := range e.base {
		if !rs.r.topic.match(m.Topic) {
			continue
		}
		if len(m.Payload) > maxPayload {
			e.skipped.Add(1)
			return
		}
		if msg == nil {
			msg = newMessage(m)
		}
		if h, ok := e.evaluate(rs, msg); ok {
			hits = append(hits, h)
		}
	}
	if len(hits) == 0 {
		return
	}
	var payload []byte
	if len(m.Payload) <= maxStoredPayload {
		payload = bytes.Clone(m.Payload)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for _, h := range hits {
		e.apply(ctx, h, msg, payload, now)
	}
}

// hit is a message a rule uses: its dedup key, device and value.
type hit struct {
	rs     *ruleState
	key    string
	device string
	value  float64
}

// evaluate runs a rule's match condition and paths on a message, and renders its dedup key.
func (e *Engine) evaluate(rs *ruleState, msg *message) (hit, bool) {
	r := rs.r
	if r.match != nil && !r.match.Eval(condition.Env{Data: msg.env, Now: e.now()}) {
		return hit{}, false
	}
	h := hit{rs: rs}
	data := msg.data(r)
	if r.device != nil {
		if h.device = strings.TrimSpace(r.device.Render(data)); h.device == "" {
			e.skip(r, msg.m, "the message has no device")
			return hit{}, false
		}
		data["device"] = h.device
	}
	if r.kind == Threshold {
		v, ok := number(r.field.Render(data))
		if !ok {
			e.skip(r, msg.m, "the field is not a number")
			return hit{}, false
		}
		h.value = v
		data["value"] = v
	}
	if h.key = alertKey(r.dedupKey.Render(data)); h.key == "" {
		e.skip(r, msg.m, "the dedup key is empty")
		return hit{}, false
	}
	return h, true
}

func (e *Engine) skip(r *rule, m consumer.Message, why string) {
	e.skipped.Add(1)
	e.log.Debug("rules: message skipped", "rule", r.name, "topic", m.Topic, "reason", why)
}

// apply updates a key's state with a message and runs its state machine.
func (e *Engine) apply(ctx context.Context, h hit, msg *message, payload []byte, now time.Time) {
	rs, r := h.rs, h.rs.r
	st := rs.keys[h.key]
	if st == nil {
		if r.kind == Threshold && !r.breached(h.value) {
			return // a value within its limit for a key not tracked: nothing to remember
		}
		if !e.admit(rs, now) {
			return
		}
		st = &state{alertKey: h.key}
		rs.keys[h.key] = st
	}
	st.lastSeen, st.grace = now, time.Time{}
	st.device, st.topic, st.msgKey, st.source, st.payload = h.device, msg.m.Topic, msg.m.Key, msg.m.Source, payload
	switch r.kind {
	case Threshold:
		st.value, st.hasValue = h.value, true
		if !r.breached(h.value) {
			st.since = time.Time{}
		} else if st.since.IsZero() {
			st.since = now
		}
	case Rate:
		st.add(r, now)
	}
	e.markDirty(rs, h.key)
	if e.step(ctx, rs, h.key, st, now) {
		for _, cs := range e.composites {
			e.stepComposite(ctx, cs, h.key, now)
		}
	}
}

// admit reports whether a rule may track one more key.
func (e *Engine) admit(rs *ruleState, now time.Time) bool {
	if len(rs.keys) < rs.r.maxKeys {
		return true
	}
	e.dropped.Add(1)
	if now.Sub(rs.dropLogged) >= time.Minute {
		rs.dropLogged = now
		e.log.Warn("rules: the rule tracks as many keys as max_keys allows; messages with new keys are not evaluated",
			"rule", rs.r.name, "max_keys", rs.r.maxKeys)
	}
	return false
}

// holds reports whether a rule's condition holds for a key now.
func (e *Engine) holds(rs *ruleState, key string, st *state, now time.Time) bool {
	r := rs.r
	switch r.kind {
	case Threshold:
		return !st.since.IsZero() && now.Sub(st.since) >= r.forDur
	case MissingHeartbeat:
		return now.Sub(st.lastSeen) >= r.timeout && !now.Before(st.grace)
	case Rate:
		return st.count(r, now) > r.moreThan
	}
	return e.compositeHolds(r, key)
}

// compositeHolds reports whether all (and) or any (or) of a composite's rules fire for key.
func (e *Engine) compositeHolds(r *rule, key string) bool {
	for _, c := range r.children {
		cs := e.byRule[c].keys[key]
		firing := cs != nil && cs.firing
		if firing != r.and {
			return firing
		}
	}
	return r.and
}

// step runs the state machine of one key: it starts firing when its condition holds and no
// suppression is running, and stops when the condition no longer holds and it has fired for
// min_firing. It reports whether the key started or stopped firing.
func (e *Engine) step(ctx context.Context, rs *ruleState, key string, st *state, now time.Time) bool {
	if st.pending != nil {
		return false // the last transition's event is not in the buffer yet; Tick retries it
	}
	cond := e.holds(rs, key, st, now)
	switch {
	case !st.firing && cond && !now.Before(st.suppressUntil):
		return e.transition(ctx, rs, key, st, now, true)
	case st.firing && !cond && now.Sub(st.firedAt) >= rs.r.minFiring:
		return e.transition(ctx, rs, key, st, now, false)
	}
	return false
}

// stepComposite runs a composite's state machine for a key, tracking the key when the
// composite's condition starts to hold.
func (e *Engine) stepComposite(ctx context.Context, rs *ruleState, key string, now time.Time) {
	st := rs.keys[key]
	if st == nil {
		if !e.compositeHolds(rs.r, key) || !e.admit(rs, now) {
			return
		}
		st = &state{}
		rs.keys[key] = st
		e.markDirty(rs, key)
	}
	if st.device == "" {
		for _, c := range rs.r.children {
			if cs := e.byRule[c].keys[key]; cs != nil && cs.device != "" {
				st.device = cs.device
				break
			}
		}
	}
	e.step(ctx, rs, key, st, now)
}

// transition starts (fire) or stops a key firing: see Engine for the order of saving and
// pushing. When the state cannot be saved, nothing changes and the next evaluation tries
// again. It reports whether the transition was made.
func (e *Engine) transition(ctx context.Context, rs *ruleState, key string, st *state, now time.Time, fire bool) bool {
	r := rs.r
	old := *st
	if fire {
		st.firing, st.firedAt = true, now
	} else {
		st.firing, st.suppressUntil = false, now.Add(r.suppress)
	}
	if r.silent {
		// Saved at once like any transition, so that the composites that read it and are
		// saved at once find it after a crash.
		if err := e.save(ctx, rs, key, st); err != nil {
			e.markDirty(rs, key)
			e.fail("save rule state", rs, key, err)
		}
		e.log.Debug("rules: silent rule changed", "rule", r.name, "key", key, "firing", fire)
		return true
	}
	ev := e.event(rs, key, st, now, fire)
	if err := ev.Validate(); err != nil {
		// Parse checks everything an event is made of, so this is a bug; do not retry it forever.
		e.log.Error("rules: the event is not valid and is not sent", "rule", r.name, "alert_key", ev.AlertKey, "err", err)
		e.markDirty(rs, key)
		return true
	}
	st.pending = &ev
	if err := e.save(ctx, rs, key, st); err != nil {
		*st = old
		e.fail("save rule state", rs, key, err)
		return false
	}
	e.deliver(ctx, rs, key, st)
	return true
}

// deliver pushes a key's pending event into the buffer and then saves that it did. When the
// push fails the event stays pending and Tick tries again.
func (e *Engine) deliver(ctx context.Context, rs *ruleState, key string, st *state) {
	ev := st.pending
	if err := e.buf.Append(ctx, consumer.Entry{Event: ev}); err != nil {
		e.fail("push "+ev.EventType, rs, key, err)
		return
	}
	e.log.Info("rules: "+ev.EventType, "rule", rs.r.name, "alert_key", ev.AlertKey)
	st.pending = nil
	if err := e.save(ctx, rs, key, st); err != nil {
		e.markDirty(rs, key) // pushed; saving it again on the next tick is enough
		e.fail("save rule state", rs, key, err)
	}
}

func (e *Engine) fail(what string, rs *ruleState, key string, err error) {
	e.failures.Add(1)
	e.errMu.Lock()
	e.lastErr = what + ": " + err.Error()
	e.errMu.Unlock()
	e.log.Warn("rules: "+what+" failed", "rule", rs.r.name, "key", key, "err", err)
}

// event builds the ALERT (fire) or RESOLVE of a key. An ALERT records its alert key and
// integration key in the state, so that the RESOLVE goes where the ALERT went.
func (e *Engine) event(rs *ruleState, key string, st *state, now time.Time, fire bool) client.Event {
	r := rs.r
	details, _ := json.Marshal(e.details(rs, key, st, now))
	if !fire {
		return client.Event{IntegrationKey: st.integrationKey, EventType: "RESOLVE", AlertKey: st.alertKey, CustomDetails: details}
	}
	data := e.data(rs, key, st, now)
	st.integrationKey, st.alertKey = r.integrationKey, key
	if r.kind == Composite {
		if st.alertKey = alertKey(r.dedupKey.Render(data)); st.alertKey == "" {
			st.alertKey = alertKey(r.name + "/" + key)
		}
	}
	summary := summaryText(r.summary.Render(data))
	if summary == "" {
		summary = summaryText(r.name + " is firing for " + key)
	}
	return client.Event{IntegrationKey: st.integrationKey, EventType: "ALERT", AlertKey: st.alertKey, Summary: summary,
		Priority: r.priority, CustomDetails: details}
}

// data is the template data of a key's state: the last message's fields and the rule's
// figures. See docs/agent-rules.md for the names.
func (e *Engine) data(rs *ruleState, key string, st *state, now time.Time) map[string]any {
	r := rs.r
	d := view(st.topic, st.msgKey, st.source, decodePayload(st.payload))
	d["rule"], d["dedup_key"], d["device"] = r.name, key, st.device
	switch r.kind {
	case Threshold:
		if st.hasValue {
			d["value"] = st.value
		}
		d["threshold"] = r.limit
	case MissingHeartbeat:
		d["last_seen"] = st.lastSeen.UTC().Format(time.RFC3339)
		d["silent_for"] = int64(now.Sub(st.lastSeen) / time.Second)
	case Rate:
		d["count"] = st.count(r, now)
	case Composite:
		var firing []string
		rules := map[string]any{}
		for _, c := range r.children {
			cs := e.byRule[c].keys[key]
			entry := map[string]any{"firing": cs != nil && cs.firing}
			if cs != nil {
				if cs.firing {
					firing = append(firing, c.name)
				}
				entry["device"], entry["topic"] = cs.device, cs.topic
				if cs.hasValue {
					entry["value"] = cs.value
				}
				if d["device"] == "" {
					d["device"] = cs.device
				}
			}
			rules[c.name] = entry
		}
		d["firing"], d["rules"] = strings.Join(firing, ", "), rules
	}
	return d
}

// details are an event's customDetails: what made the rule fire or clear.
func (e *Engine) details(rs *ruleState, key string, st *state, now time.Time) map[string]any {
	r := rs.r
	d := map[string]any{"rule": r.name, "ruleType": r.kind}
	if st.topic != "" {
		d["topic"] = st.topic
	}
	if st.device != "" {
		d["device"] = st.device
	}
	switch r.kind {
	case Threshold:
		if st.hasValue {
			d["value"] = st.value
		}
		if r.below {
			d["below"] = r.limit
		} else {
			d["above"] = r.limit
		}
		d["forSeconds"] = int64(r.forDur / time.Second)
		if !st.since.IsZero() {
			d["since"] = st.since.UTC().Format(time.RFC3339)
		}
	case MissingHeartbeat:
		d["lastSeen"] = st.lastSeen.UTC().Format(time.RFC3339)
		d["silentSeconds"] = int64(now.Sub(st.lastSeen) / time.Second)
		d["timeoutSeconds"] = int64(r.timeout / time.Second)
	case Rate:
		d["count"] = st.count(r, now)
		d["moreThan"] = r.moreThan
		d["windowSeconds"] = int64(r.window / time.Second)
	case Composite:
		op := "or"
		if r.and {
			op = "and"
		}
		firing := map[string]bool{}
		for _, c := range r.children {
			cs := e.byRule[c].keys[key]
			firing[c.name] = cs != nil && cs.firing
		}
		d["op"], d["dedupKey"], d["rules"] = op, key, firing
	}
	return d
}

// Tick evaluates the time-based conditions of every key (heartbeats, threshold durations,
// rate windows, the end of suppression and of minimum firing), pushes events that are still
// pending, forgets keys that no longer carry anything, and saves the state messages changed.
// Run calls it every second; tests call it after moving their clock.
func (e *Engine) Tick(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	failures := e.failures.Load()
	now := e.now()
	for _, rs := range e.base {
		for key, st := range rs.keys {
			e.tickKey(ctx, rs, key, st, now)
		}
	}
	for _, rs := range e.composites {
		keys := map[string]bool{}
		for _, c := range rs.r.children {
			for k := range e.byRule[c].keys {
				keys[k] = true
			}
		}
		for key := range keys {
			if rs.keys[key] == nil {
				e.stepComposite(ctx, rs, key, now)
			}
		}
		for key, st := range rs.keys {
			e.tickKey(ctx, rs, key, st, now)
		}
	}
	err := e.flush(ctx)
	if err == nil && e.failures.Load() == failures {
		e.errMu.Lock()
		e.lastErr = ""
		e.errMu.Unlock()
	}
	return err
}

func (e *Engine) tickKey(ctx context.Context, rs *ruleState, key string, st *state, now time.Time) {
	r := rs.r
	if st.pending != nil {
		e.deliver(ctx, rs, key, st)
		return
	}
	if r.kind == Rate && st.prune(r, now) {
		e.markDirty(rs, key)
	}
	if r.kind == MissingHeartbeat && r.forgetAfter > 0 && now.Sub(st.lastSeen) >= r.forgetAfter {
		e.log.Info("rules: key forgotten after forget_after without a message", "rule", r.name, "key", key, "firing", st.firing)
		delete(rs.keys, key)
		e.markDirty(rs, key)
		return
	}
	e.step(ctx, rs, key, st, now)
	if e.idle(rs, key, st, now) {
		delete(rs.keys, key)
		e.markDirty(rs, key)
	}
}

// idle reports whether a key's state carries nothing worth keeping: not firing, no
// suppression running, and nothing under way (a breach, counts in the window). Heartbeat
// watches are kept until forget_after.
func (e *Engine) idle(rs *ruleState, key string, st *state, now time.Time) bool {
	if st.firing || st.pending != nil || now.Before(st.suppressUntil) {
		return false
	}
	switch rs.r.kind {
	case Threshold:
		return st.since.IsZero()
	case Rate:
		return len(st.buckets) == 0
	case Composite:
		return !e.compositeHolds(rs.r, key)
	}
	return false
}

// Run ticks every second until ctx ends, then saves the state. It returns nil: a tick that
// fails is logged, shown by Status, and tried again on the next one.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("rules: save rule state failed", "err", err)
		}
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownSave)
			e.mu.Lock()
			err := e.flush(sctx)
			e.mu.Unlock()
			cancel()
			if err != nil {
				e.log.Warn("rules: save rule state at shutdown failed", "err", err)
			}
			return nil
		case <-t.C:
		}
	}
}

// Status reports the rules' readiness for GET /ready: not ready while events cannot be pushed
// or state cannot be saved.
func (e *Engine) Status() consumer.Status {
	e.mu.Lock()
	keys, firing, pending := 0, 0, 0
	for _, list := range [][]*ruleState{e.base, e.composites} {
		for _, rs := range list {
			keys += len(rs.keys)
			for _, st := range rs.keys {
				if st.firing {
					firing++
				}
				if st.pending != nil {
					pending++
				}
			}
		}
	}
	e.mu.Unlock()
	e.errMu.Lock()
	lastErr := e.lastErr
	e.errMu.Unlock()
	return consumer.Status{Component: "rules", Ready: lastErr == "", Error: lastErr, Details: map[string]any{
		"rules": e.set.Len(), "keys": keys, "firing": firing, "pending": pending,
		"skipped": e.skipped.Load(), "droppedKeys": e.dropped.Load(),
	}}
}

func (e *Engine) markDirty(rs *ruleState, key string) { e.dirty[stateRef{rs, key}] = struct{}{} }

// windowStep returns the length in milliseconds of a rate rule's window step: a sixtieth of
// the window, at least a second.
func windowStep(r *rule) int64 {
	return max(int64(time.Second/time.Millisecond), (r.window.Milliseconds()+59)/60)
}

// add counts a message at now.
func (st *state) add(r *rule, now time.Time) {
	i := now.UnixMilli() / windowStep(r)
	if n := len(st.buckets); n > 0 && st.buckets[n-1].Index >= i {
		st.buckets[n-1].N++ // a clock that went back counts in the newest step
	} else {
		st.buckets = append(st.buckets, bucket{Index: i, N: 1})
	}
	st.prune(r, now)
}

// prune drops the steps that have left the window and reports whether there were any.
func (st *state) prune(r *rule, now time.Time) bool {
	cut := cutoff(r, now)
	n := 0
	for n < len(st.buckets) && st.buckets[n].Index < cut {
		n++
	}
	if n == 0 {
		return false
	}
	st.buckets = append(st.buckets[:0], st.buckets[n:]...)
	return true
}

// count returns the messages in the window: those of the steps that start within it. The
// window so slides in steps: a message counts for between window − step and window.
func (st *state) count(r *rule, now time.Time) int64 {
	cut := cutoff(r, now)
	var n int64
	for _, b := range st.buckets {
		if b.Index >= cut {
			n += b.N
		}
	}
	return n
}

// cutoff is the first step that starts after now − window: the oldest step in the window.
func cutoff(r *rule, now time.Time) int64 {
	s := windowStep(r)
	from := now.UnixMilli() - r.window.Milliseconds()
	q := from / s // floor, for times after 1970
	return q + 1
}
