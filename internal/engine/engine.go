// Package engine runs tocsin's future: it claims due timers (start, escalate, end an alert's
// escalation) and due notifications (the outbox), works out who to page, and hands messages
// to the channels. Everything it acts on is a row in the database, so a restart or a dead
// replica loses nothing; on PostgreSQL several replicas share the work.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/metrics"
	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Delivery is one way to reach a user: a method, its target and the delay after the user is
// paged (from the user's notification rules).
type Delivery struct {
	RuleID int64
	Method notify.Method
	Target string
	Secret string
	Delay  time.Duration
}

// Directory answers who a level pages and how each person wants to be reached.
type Directory interface {
	// OnCall maps each schedule to the user on call at t; a schedule with nobody is absent.
	OnCall(ctx context.Context, scheduleIDs []int64, at time.Time) (map[int64]int64, error)
	// TeamMembers returns the users of the teams, in a stable order, without repeats.
	TeamMembers(ctx context.Context, teamIDs []int64) ([]int64, error)
	// Deliveries returns each user's deliveries for an alert of priority p.
	Deliveries(ctx context.Context, userIDs []int64, p alert.Priority) (map[int64][]Delivery, error)
	// UpdateDeliveries returns each user's deliveries for an update about an alert they were
	// paged for: ALERT_ACCEPTED, ALERT_RESOLVED or ALERT_ESCALATED.
	UpdateDeliveries(ctx context.Context, userIDs []int64, update string) (map[int64][]Delivery, error)
	// NextRaise returns when the pending LOW alerts of an alert source are next raised to HIGH
	// after t, by its support hours; ok is false when they never are.
	NextRaise(ctx context.Context, sourceID int64, after time.Time) (at time.Time, ok bool, err error)
}

// Links makes the signed accept and resolve links put in messages.
type Links interface {
	AlertURL(alertID int64) string
	ActionURL(alertID, notificationID int64, action string) string
}

// Retry is the backoff of a failed delivery: exponential from Base, capped at Max, with full
// jitter, for at most Attempts tries.
type Retry struct {
	Attempts int
	Base     time.Duration
	Max      time.Duration
}

// Options configure an Engine.
type Options struct {
	Store     *store.DB
	Directory Directory
	Channels  map[notify.Method]notify.Channel
	Links     Links
	Log       *slog.Logger
	Now       func() time.Time
	Lease     time.Duration // how long a claim holds before another replica may take over
	Batch     int           // rows claimed at once
	Retry     Retry
	// Limits caps the messages sent per minute, per method and per user.
	Limits Limits
	// Metrics, when set, records timer lateness and notification outcomes.
	Metrics *metrics.Metrics
	// Idle is the longest the loop sleeps when nothing is due and nothing wakes it: the bound
	// on how soon a replica notices work another replica scheduled.
	Idle time.Duration
}

// Engine is the loop. Create it with New and start it with Run.
type Engine struct {
	o      Options
	limits *limiter
	wake   chan struct{}
	wg     sync.WaitGroup
}

// New checks the options and fills defaults.
func New(o Options) *Engine {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Lease <= 0 {
		o.Lease = 60 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 400
	}
	if o.Retry.Attempts <= 0 {
		o.Retry = Retry{Attempts: 6, Base: 10 * time.Second, Max: 10 * time.Minute}
	}
	if o.Idle <= 0 {
		o.Idle = time.Second
	}
	return &Engine{o: o, limits: newLimiter(o.Limits), wake: make(chan struct{}, 1)}
}

// Wake makes the loop look for due work now: call it after committing work due at once.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx ends. Work that fell due while tocsin was down runs at once.
func (e *Engine) Run(ctx context.Context) {
	e.wg.Go(func() { e.remindLoop(ctx) })
	for ctx.Err() == nil {
		busy := e.work(ctx)
		if busy {
			continue // there may be more due right away
		}
		wait := e.o.Idle
		if next, err := e.o.Store.NextDue(ctx); err == nil && !next.IsZero() {
			wait = min(wait, max(next.Sub(e.o.Now()), 0))
		}
		if wait <= 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-e.wake:
		case <-t.C:
		}
		t.Stop()
	}
	e.wg.Wait()
}

// Tick runs what is due now, once: the reminder scan when it is due, then timers, then
// notifications. It reports whether it found a full batch of timers or notifications (so more
// may be waiting). Tests drive the engine with it; Run scans for reminders on the side.
func (e *Engine) Tick(ctx context.Context) bool {
	e.remind(ctx, e.o.Now())
	return e.work(ctx)
}

// work runs the auto-raises, timers and notifications due now, once, and reports whether it
// found a full batch of any.
func (e *Engine) work(ctx context.Context) bool {
	now := e.o.Now()
	raises := e.raise(ctx, now) // first: the alerts it raises start paging in this pass
	timers, err := e.o.Store.ClaimTimers(ctx, now, now.Add(e.o.Lease), e.o.Batch)
	if err != nil && ctx.Err() == nil {
		e.o.Log.Error("claim timers", "err", err)
	}
	e.runTimers(ctx, timers, now)
	// A fresh time for the claim: working the timers out may have taken a while, and a send
	// must end well inside the lease counted from when it was claimed.
	now = e.o.Now()
	outs, err := e.o.Store.ClaimNotifications(ctx, now, now.Add(e.o.Lease), e.o.Batch)
	if err != nil && ctx.Err() == nil {
		e.o.Log.Error("claim notifications", "err", err)
	}
	e.send(ctx, outs, now)
	return len(timers) == e.o.Batch || len(outs) == e.o.Batch || raises == e.o.Batch
}

// raise runs the auto-raises due now: the pending LOW alerts of each source become HIGH and
// start paging by the high-priority rules. It returns how many it claimed.
func (e *Engine) raise(ctx context.Context, now time.Time) int {
	due, err := e.o.Store.ClaimRaises(ctx, now, now.Add(e.o.Lease), e.o.Batch)
	if err != nil && ctx.Err() == nil {
		e.o.Log.Error("claim auto-raises", "err", err)
	}
	for _, t := range due {
		var next *time.Time
		at, ok, err := e.o.Directory.NextRaise(ctx, t.SourceID, now)
		if err == nil && ok {
			next = &at
		}
		var raised []int64
		if err == nil {
			raised, err = e.o.Store.RaiseSource(ctx, t, next)
		}
		if err != nil {
			if ctx.Err() == nil {
				e.o.Log.Error("auto-raise failed; it runs again when its lease ends", "source", t.SourceID, "err", err)
			}
			continue
		}
		if len(raised) > 0 {
			e.o.Log.Info("raised pending alerts to HIGH", "source", t.SourceID, "alerts", len(raised))
			e.Wake()
		}
	}
	return len(due)
}

// send delivers claimed notifications, concurrently, and records each outcome soon after it
// is known: the sends that end within recordLinger of one another are recorded by one commit,
// and a slow channel does not hold back the records of the others (so a replica that dies
// mid-batch has recorded every send that ended, and none of those goes out again).
func (e *Engine) send(ctx context.Context, outs []store.Outgoing, now time.Time) {
	if len(outs) == 0 {
		return
	}
	// Sends under way finish when ctx ends (a shutdown), each within its own timeout, and
	// what was sent is recorded: a send cut off would count as a failed attempt, and might
	// go out again though the provider had taken it.
	keep := context.WithoutCancel(ctx)
	finished := make(chan store.Finished, len(outs))
	var wg sync.WaitGroup
	for _, o := range outs {
		wg.Go(func() {
			var out store.SendOutcome
			if wait := e.limits.wait(notify.Method(o.Method), o.UserID, now); wait > 0 {
				out = store.SendOutcome{Err: fmt.Errorf("held back by the %s rate limit", o.Method), RetryAt: now.Add(wait), Deferred: true}
			} else {
				out = e.deliver(keep, o, now)
			}
			finished <- store.Finished{Outgoing: o, Outcome: out}
		})
	}
	go func() { wg.Wait(); close(finished) }()
	for f := range finished {
		rctx, cancel := context.WithTimeout(keep, recordTimeout)
		e.record(rctx, append([]store.Finished{f}, gather(finished, recordLinger)...))
		cancel()
	}
}

// recordTimeout bounds recording a group of sends, so a database that hangs cannot hold the
// loop (and a shutdown) forever; what is not recorded is sent again after its lease.
const recordTimeout = 30 * time.Second

// recordLinger is how long the first send of a group to record waits for others to end.
const recordLinger = 10 * time.Millisecond

// gather takes what arrives on ch within d, or until ch is closed.
func gather[T any](ch <-chan T, d time.Duration) []T {
	var out []T
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, v)
		case <-t.C:
			return out
		}
	}
}

// record writes the outcomes of finished sends in one commit; if that fails, each on its own.
func (e *Engine) record(ctx context.Context, done []store.Finished) {
	if err := e.o.Store.FinishNotifications(ctx, done); err == nil {
		return
	}
	for _, f := range done {
		if err := e.o.Store.FinishNotification(ctx, f.Outgoing, f.Outcome); err != nil {
			e.o.Log.Error("record notification", "notification", f.Outgoing.ID, "alert", f.Outgoing.AlertID, "err", err)
		}
	}
}

func (e *Engine) deliver(ctx context.Context, o store.Outgoing, now time.Time) store.SendOutcome {
	if o.AlertID == 0 {
		return e.deliverMessage(ctx, o, now)
	}
	m := notify.Message{ID: o.ID, Attempt: o.Attempt, Method: notify.Method(o.Method), Target: o.Target, Secret: o.Secret,
		UserID: o.UserID, UserName: o.UserName, AlertID: o.AlertID, Summary: o.Summary, Details: o.Details,
		Priority: o.Priority, Status: o.Status, Source: o.Source, AlertKey: o.AlertKey, ReportAt: o.ReportAt}
	if e.o.Links != nil {
		m.AlertURL = e.o.Links.AlertURL(o.AlertID)
		m.AcceptURL = e.o.Links.ActionURL(o.AlertID, o.ID, "accept")
		m.ResolveURL = e.o.Links.ActionURL(o.AlertID, o.ID, "resolve")
	}
	who := o.UserName
	if who == "" {
		who = fmt.Sprintf("user %d", o.UserID)
	}
	err := e.transmit(ctx, m)
	if err == nil && o.Attempt == 1 && e.o.Metrics != nil && !o.ReportAt.IsZero() {
		e.o.Metrics.PageLatency.Observe(e.o.Now().Sub(o.ReportAt).Seconds())
	}
	retry := e.count(m, err)
	if err == nil {
		return store.SendOutcome{LogEntry: &alert.Entry{Type: LogNotification,
			Text: fmt.Sprintf("Notified %s by %s at %s", who, m.Method, notify.ShownTarget(m.Method, o.Target))}}
	}
	if retry {
		return store.SendOutcome{Err: err, RetryAt: now.Add(e.backoff(o.Attempt))}
	}
	return store.SendOutcome{Err: err, LogEntry: &alert.Entry{Type: LogNotification,
		Text: fmt.Sprintf("Notifying %s by %s at %s failed after %s: %v", who, m.Method, notify.ShownTarget(m.Method, o.Target), attempts(o.Attempt), err)}}
}

// attempts says "1 attempt", "2 attempts", ….
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// deliverMessage sends a message that is not about an alert: its subject and text, retried
// like a page. Its outcome is recorded on the notification alone; there is no alert to log
// it on, so a failure is logged here.
func (e *Engine) deliverMessage(ctx context.Context, o store.Outgoing, now time.Time) store.SendOutcome {
	m := notify.Message{ID: o.ID, Attempt: o.Attempt, Method: notify.Method(o.Method), Target: o.Target, Secret: o.Secret,
		UserID: o.UserID, UserName: o.UserName, Purpose: o.Purpose, Subject: o.Subject, Text: o.Body}
	var err error
	if o.UserID == 0 {
		err = errors.New("the user was deleted")
	} else {
		err = e.transmit(ctx, m)
	}
	retry := e.count(m, err)
	switch {
	case err == nil:
		return store.SendOutcome{}
	case retry:
		return store.SendOutcome{Err: err, RetryAt: now.Add(e.backoff(o.Attempt))}
	}
	e.o.Log.Warn("message failed", "notification", o.ID, "purpose", o.Purpose, "user", o.UserID,
		"method", o.Method, "attempts", o.Attempt, "err", err)
	return store.SendOutcome{Err: err}
}

// transmit hands m to the channel of its method.
func (e *Engine) transmit(ctx context.Context, m notify.Message) error {
	ch, ok := e.o.Channels[m.Method]
	if !ok || ch == nil {
		return fmt.Errorf("%w: %s", notify.ErrNotConfigured, m.Method)
	}
	// A send must end well inside the claim's lease, or another replica could take the
	// message over while it is still being sent.
	sendCtx, cancel := context.WithTimeout(ctx, min(30*time.Second, e.o.Lease/2))
	defer cancel()
	return ch.Send(sendCtx, m)
}

// count records an attempt's outcome in the metrics and reports whether a failure is tried
// again.
func (e *Engine) count(m notify.Message, err error) (retry bool) {
	retry = err != nil && notify.IsRetryable(err) && m.Attempt < e.o.Retry.Attempts
	if e.o.Metrics != nil {
		outcome := "sent"
		switch {
		case retry:
			outcome = "retry"
		case err != nil:
			outcome = "failed"
		}
		e.o.Metrics.Notifications.WithLabelValues(string(m.Method), outcome).Inc()
	}
	return retry
}

// backoff is the wait before attempt n+1: exponential with full jitter.
func (e *Engine) backoff(attempt int) time.Duration {
	d := e.o.Retry.Base << min(attempt-1, 20)
	if d > e.o.Retry.Max || d <= 0 {
		d = e.o.Retry.Max
	}
	return d/2 + rand.N(d/2+1)
}

// batch is one claimed batch of timers with what its timers share, each read once: the
// alerts, the users paged for them so far, and the policies, on-call answers, team members
// and delivery plans they look up. Timers that fall due together mostly share these (an alert
// storm on one source pages the same people by the same policy), so a batch costs a few
// queries however many timers it holds.
type batch struct {
	e      *Engine
	now    time.Time
	alerts map[int64]store.AlertState
	paged  map[int64][]int64

	mu       sync.Mutex
	policies map[int64]*escalation.Policy
	onCall   map[string]map[int64]int64
	members  map[string][]int64
	plans    map[string]map[int64][]Delivery
}

func (e *Engine) newBatch(now time.Time) *batch {
	return &batch{e: e, now: now, paged: map[int64][]int64{}, policies: map[int64]*escalation.Policy{},
		onCall: map[string]map[int64]int64{}, members: map[string][]int64{}, plans: map[string]map[int64][]Delivery{}}
}

// Planned is a notification an alert would send, as a dry run shows it.
type Planned struct {
	UserID int64
	Level  int // from 0
	Round  int // 0 for the first pass over the levels
	Method notify.Method
	Target string
	At     time.Time
}

// maxPlanSteps bounds a plan: the levels of a policy times its repeats, with room.
const maxPlanSteps = 64

// Plan works out whom a new alert in state a, opened at, would notify, when and how, if nobody
// accepted it: the same planning the engine runs on its timers, step by step through the
// escalation, with who is on call at each step. Nothing is written.
func (e *Engine) Plan(ctx context.Context, a store.AlertState, at time.Time) ([]Planned, error) {
	policy, err := e.o.Store.Policy(ctx, a.PolicyID)
	if err != nil {
		return nil, fmt.Errorf("policy of the alert: %w", err)
	}
	var plan []Planned
	t := store.Timer{Kind: store.TimerStart, DueAt: at}
	for range maxPlanSteps {
		out, err := e.newBatch(t.DueAt).plan(ctx, a, policy, t)
		if err != nil {
			return nil, err
		}
		for _, n := range out.Notifications {
			plan = append(plan, Planned{UserID: n.UserID, Level: n.Level, Round: t.Round, Method: notify.Method(n.Method),
				Target: n.Target, At: n.DueAt})
		}
		if out.Next == nil || out.Next.Kind == store.TimerEnd {
			break
		}
		t = *out.Next
	}
	return plan, nil
}

// runTimers works out the outcomes of a batch of timers and commits them together.
func (e *Engine) runTimers(ctx context.Context, timers []store.Timer, now time.Time) {
	if len(timers) == 0 {
		return
	}
	b := e.newBatch(now)
	ids := make([]int64, len(timers))
	for i, t := range timers {
		ids[i] = t.AlertID
		if e.o.Metrics != nil {
			e.o.Metrics.TimerLateness.Observe(max(now.Sub(t.DueAt), 0).Seconds())
		}
	}
	var err error
	if b.alerts, err = e.o.Store.AlertStates(ctx, ids); err == nil {
		b.paged, err = e.o.Store.PagedUsers(ctx, ids)
	}
	if err != nil {
		if ctx.Err() == nil {
			e.o.Log.Error("timers failed; they run again when their lease ends", "timers", len(timers), "err", err)
		}
		return
	}
	// Timers of different alerts are independent: work out several at once, so that the
	// lookups a batch cannot share overlap. Outcomes are committed together, in one commit.
	var wg sync.WaitGroup
	slots := make(chan struct{}, timerWorkers)
	done := make([]*store.TimerDone, len(timers))
	for i, t := range timers {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			out, err := b.outcome(ctx, t)
			if err != nil && ctx.Err() != nil {
				return // shutting down: the timer runs again when its lease ends
			}
			if err != nil {
				e.o.Log.Error("timer failed; it runs again when its lease ends", "timer", t.ID, "alert", t.AlertID, "err", err)
				return
			}
			done[i] = &store.TimerDone{Timer: t, Outcome: out}
		})
	}
	wg.Wait()
	e.completeTimers(ctx, done)
}

// remember returns m[k], loading it with load the first time it is asked for.
func remember[K comparable, V any](mu *sync.Mutex, m map[K]V, k K, load func() (V, error)) (V, error) {
	mu.Lock()
	v, ok := m[k]
	mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := load()
	if err == nil {
		mu.Lock()
		m[k] = v
		mu.Unlock()
	}
	return v, err
}

func (b *batch) policy(ctx context.Context, id int64) (*escalation.Policy, error) {
	return remember(&b.mu, b.policies, id, func() (*escalation.Policy, error) { return b.e.o.Store.Policy(ctx, id) })
}

func (b *batch) onCallAt(ctx context.Context, schedules []int64) (map[int64]int64, error) {
	return remember(&b.mu, b.onCall, fmt.Sprint(schedules), func() (map[int64]int64, error) {
		return b.e.o.Directory.OnCall(ctx, schedules, b.now)
	})
}

func (b *batch) teamMembers(ctx context.Context, teams []int64) ([]int64, error) {
	return remember(&b.mu, b.members, fmt.Sprint(teams), func() ([]int64, error) { return b.e.o.Directory.TeamMembers(ctx, teams) })
}

func (b *batch) deliveries(ctx context.Context, users []int64, pr alert.Priority) (map[int64][]Delivery, error) {
	return remember(&b.mu, b.plans, fmt.Sprint(pr, users), func() (map[int64][]Delivery, error) {
		return b.e.o.Directory.Deliveries(ctx, users, pr)
	})
}

func (b *batch) updateDeliveries(ctx context.Context, users []int64, update string) (map[int64][]Delivery, error) {
	return remember(&b.mu, b.plans, fmt.Sprint(update, users), func() (map[int64][]Delivery, error) {
		return b.e.o.Directory.UpdateDeliveries(ctx, users, update)
	})
}

// timerWorkers is how many timers one replica runs at once.
const timerWorkers = 8

// Log entry types the engine writes.
const (
	LogNotification  = "NotificationLogEntry"
	LogEscalated     = "AlertEscalatedToLevelLogEntry"
	LogNobodyOnCall  = "NobodyOnCallLogEntry"
	LogEscalationEnd = "AlertEscalationEndedLogEntry"
)

// outcome works out what a timer does; nothing is written yet.
func (b *batch) outcome(ctx context.Context, t store.Timer) (store.TimerOutcome, error) {
	out := store.TimerOutcome{}
	a, ok := b.alerts[t.AlertID]
	switch {
	case !ok: // deleted: completing the timer writes nothing
		return out, nil
	case t.Kind == store.TimerUpdate:
		err := b.tell(ctx, b.paged[a.ID], t.Payload, &out)
		return out, err
	case t.Kind == store.TimerAutoResolve:
		if a.Status != alert.Resolved {
			out.Resolve = true
			out.Log = append(out.Log, alert.Entry{Type: store.LogAutoResolved,
				Text: "Alert resolved automatically: no event arrived within the alert source's auto-resolution timeout"})
		}
		return out, nil
	case a.Status == alert.Pending:
		policy, err := b.policy(ctx, a.PolicyID)
		if err != nil {
			return out, fmt.Errorf("policy of alert %d: %w", a.ID, err)
		}
		return b.plan(ctx, a, policy, t)
	}
	return out, nil
}

// completeTimers writes the outcomes of a batch of timers in one transaction, or one by one
// if that fails, and wakes the loop when they scheduled notifications.
func (e *Engine) completeTimers(ctx context.Context, done []*store.TimerDone) {
	var batch []store.TimerDone
	paged := false
	for _, d := range done {
		if d != nil {
			batch = append(batch, *d)
			paged = paged || len(d.Outcome.Notifications) > 0
		}
	}
	if len(batch) == 0 {
		return
	}
	if _, err := e.o.Store.CompleteTimers(ctx, batch); err != nil {
		if ctx.Err() != nil {
			return // shutting down: the timers run again when their lease ends
		}
		for _, d := range batch {
			if _, err := e.o.Store.CompleteTimer(ctx, d.Timer, d.Outcome); err != nil {
				e.o.Log.Error("timer failed; it runs again when its lease ends", "timer", d.Timer.ID, "alert", d.Timer.AlertID, "err", err)
			}
		}
	}
	if paged {
		e.Wake()
	}
}

// tell adds to out the updates that tell users what became of an alert they were paged for.
func (b *batch) tell(ctx context.Context, users []int64, update string, out *store.TimerOutcome) error {
	if len(users) == 0 {
		return nil
	}
	plans, err := b.updateDeliveries(ctx, users, update)
	if err != nil {
		return err
	}
	for _, u := range users {
		for _, d := range plans[u] {
			out.Notifications = append(out.Notifications, store.NewNotification{Purpose: store.PurposeUpdate, UserID: u,
				RuleID: d.RuleID, Method: string(d.Method), Target: d.Target, Secret: d.Secret, DueAt: b.now.Add(d.Delay)})
		}
	}
	return nil
}

// plan decides what a timer does to a pending alert.
func (b *batch) plan(ctx context.Context, a store.AlertState, p *escalation.Policy, t store.Timer) (store.TimerOutcome, error) {
	var out store.TimerOutcome
	switch t.Kind {
	case store.TimerEnd:
		out.Log = append(out.Log, alert.Entry{Type: LogEscalationEnd, Text: "Escalation ended: nobody accepted the alert"})
		return out, nil
	case store.TimerStart:
		if a.Priority == alert.Low { // low priority: the first level's users, by their low rules, no escalation
			return out, b.notifyLevel(ctx, a, p, escalation.Step{}, &out)
		}
		step, delay := escalation.Start(p)
		if delay > 0 {
			out.Next = &store.Timer{Kind: store.TimerEscalate, Level: step.Level, Round: step.Round, DueAt: b.now.Add(delay)}
			return out, nil
		}
	}
	step := escalation.Step{Level: t.Level, Round: t.Round}
	if step.Level < 0 || step.Level >= len(p.EscalationRules) {
		// The policy lost levels while the alert escalated along it.
		out.Log = append(out.Log, alert.Entry{Type: LogEscalationEnd,
			Text: fmt.Sprintf("Escalation ended: the escalation policy no longer has level %d", step.Level+1)})
		return out, nil
	}
	// A level with nobody to page is skipped at once; a policy where every level is empty
	// ends after one pass over its levels and rounds.
	for range (len(p.EscalationRules) + 1) * (p.Frequency + 1) {
		paged := len(out.Notifications)
		if err := b.notifyLevel(ctx, a, p, step, &out); err != nil {
			return out, err
		}
		next, wait, ok := escalation.After(p, step)
		nobody := len(out.Notifications) == paged
		switch {
		case nobody && ok:
			step = next
			continue
		case nobody:
			out.Log = append(out.Log, alert.Entry{Type: LogEscalationEnd, Text: "Escalation ended: nobody was on call on any level"})
		case ok:
			out.Next = &store.Timer{Kind: store.TimerEscalate, Level: next.Level, Round: next.Round, DueAt: b.now.Add(wait)}
		default:
			out.Next = &store.Timer{Kind: store.TimerEnd, DueAt: b.now.Add(wait)}
		}
		return out, nil
	}
	return out, nil
}

// notifyLevel adds the notifications of one level to out, with the level's log entries.
func (b *batch) notifyLevel(ctx context.Context, a store.AlertState, p *escalation.Policy, s escalation.Step, out *store.TimerOutcome) error {
	if s.Level >= len(p.EscalationRules) {
		return errors.New("escalation level out of range")
	}
	rule := p.EscalationRules[s.Level]
	users, err := b.levelUsers(ctx, rule)
	if err != nil {
		return err
	}
	level := fmt.Sprintf("level %d", s.Level+1)
	if s.Round > 0 {
		level += fmt.Sprintf(" (repeat %d)", s.Round)
	}
	if len(users) == 0 {
		out.Log = append(out.Log, alert.Entry{Type: LogNobodyOnCall, Text: "Nobody to notify on escalation " + level})
		return nil
	}
	plans, err := b.deliveries(ctx, users, a.Priority)
	if err != nil {
		return err
	}
	text := "Notifying escalation " + level
	if s.Level > 0 || s.Round > 0 {
		text = "Escalated to " + level
	}
	out.Log = append(out.Log, alert.Entry{Type: LogEscalated, Text: text, Vars: map[string]string{"level": fmt.Sprint(s.Level + 1)}})
	if s.Level > 0 || s.Round > 0 { // tell the people paged before that it went on
		inLevel := map[int64]bool{}
		for _, u := range users {
			inLevel[u] = true
		}
		var earlier []int64
		for _, u := range b.paged[a.ID] {
			if !inLevel[u] {
				earlier = append(earlier, u)
			}
		}
		if err := b.tell(ctx, earlier, "ALERT_ESCALATED", out); err != nil {
			return err
		}
	}
	for _, u := range users {
		for _, d := range plans[u] {
			out.Notifications = append(out.Notifications, store.NewNotification{UserID: u, RuleID: d.RuleID, Level: s.Level,
				Method: string(d.Method), Target: d.Target, Secret: d.Secret, DueAt: b.now.Add(d.Delay)})
		}
	}
	return nil
}

// levelUsers resolves a level's users, on-call users of its schedules and members of its
// teams, in that order, each once.
func (b *batch) levelUsers(ctx context.Context, r escalation.Rule) ([]int64, error) {
	seen := map[int64]bool{}
	var users []int64
	add := func(id int64) {
		if id != 0 && !seen[id] {
			seen[id] = true
			users = append(users, id)
		}
	}
	for _, u := range r.Users {
		add(u.ID)
	}
	if len(r.Schedules) > 0 {
		ids := make([]int64, len(r.Schedules))
		for i, s := range r.Schedules {
			ids[i] = s.ID
		}
		onCall, err := b.onCallAt(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("on call: %w", err)
		}
		for _, id := range ids {
			add(onCall[id])
		}
	}
	if len(r.Teams) > 0 {
		ids := make([]int64, len(r.Teams))
		for i, t := range r.Teams {
			ids[i] = t.ID
		}
		members, err := b.teamMembers(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("team members: %w", err)
		}
		for _, id := range members {
			add(id)
		}
	}
	return users, nil
}
