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
		o.Batch = 100
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

// work runs the timers and notifications due now, once, and reports whether it found a full
// batch of either.
func (e *Engine) work(ctx context.Context) bool {
	now := e.o.Now()
	timers, err := e.o.Store.ClaimTimers(ctx, now, now.Add(e.o.Lease), e.o.Batch)
	if err != nil && ctx.Err() == nil {
		e.o.Log.Error("claim timers", "err", err)
	}
	// Timers of different alerts are independent: run several at once, so that the database's
	// round trips and commits overlap (on PostgreSQL they dominate a timer's cost).
	// Outcomes are worked out concurrently and committed together: one commit for the batch.
	var wg sync.WaitGroup
	slots := make(chan struct{}, timerWorkers)
	done := make([]*store.TimerDone, len(timers))
	ctx = context.WithValue(ctx, memoKey{}, &memo{policies: map[int64]*escalation.Policy{}, plans: map[string]map[int64][]Delivery{}})
	for i, t := range timers {
		if e.o.Metrics != nil {
			e.o.Metrics.TimerLateness.Observe(max(now.Sub(t.DueAt), 0).Seconds())
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			out, err := e.timerOutcome(ctx, t, now)
			if err != nil {
				e.o.Log.Error("timer failed; it runs again when its lease ends", "timer", t.ID, "alert", t.AlertID, "err", err)
				return
			}
			done[i] = &store.TimerDone{Timer: t, Outcome: out}
		})
	}
	wg.Wait()
	e.completeTimers(ctx, done)
	outs, err := e.o.Store.ClaimNotifications(ctx, now, now.Add(e.o.Lease), e.o.Batch)
	if err != nil && ctx.Err() == nil {
		e.o.Log.Error("claim notifications", "err", err)
	}
	e.send(ctx, outs, now)
	return len(timers) == e.o.Batch || len(outs) == e.o.Batch
}

// send delivers claimed notifications, concurrently, and records each outcome.
func (e *Engine) send(ctx context.Context, outs []store.Outgoing, now time.Time) {
	done := make([]store.Finished, len(outs))
	var wg sync.WaitGroup
	for i, o := range outs {
		wg.Go(func() {
			var out store.SendOutcome
			if wait := e.limits.wait(notify.Method(o.Method), o.UserID, now); wait > 0 {
				out = store.SendOutcome{Err: fmt.Errorf("held back by the %s rate limit", o.Method), RetryAt: now.Add(wait), Deferred: true}
			} else {
				out = e.deliver(ctx, o, now)
			}
			done[i] = store.Finished{Outgoing: o, Outcome: out}
		})
	}
	wg.Wait()
	if len(done) == 0 {
		return
	}
	// One commit records the whole batch; if it fails, each is recorded on its own.
	ctx = context.WithoutCancel(ctx)
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
			Text: fmt.Sprintf("Notified %s by %s at %s", who, m.Method, o.Target)}}
	}
	if retry {
		return store.SendOutcome{Err: err, RetryAt: now.Add(e.backoff(o.Attempt))}
	}
	return store.SendOutcome{Err: err, LogEntry: &alert.Entry{Type: LogNotification,
		Text: fmt.Sprintf("Notifying %s by %s at %s failed after %d attempts: %v", who, m.Method, o.Target, o.Attempt, err)}}
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

// memo keeps, for one batch of timers, the policies and delivery plans already read: timers
// that fall due together mostly share them (an alert storm on one source pages the same
// people by the same policy).
type memo struct {
	mu       sync.Mutex
	policies map[int64]*escalation.Policy
	plans    map[string]map[int64][]Delivery
}

type memoKey struct{}

func (e *Engine) policy(ctx context.Context, id int64) (*escalation.Policy, error) {
	m, _ := ctx.Value(memoKey{}).(*memo)
	if m != nil {
		m.mu.Lock()
		p, ok := m.policies[id]
		m.mu.Unlock()
		if ok {
			return p, nil
		}
	}
	p, err := e.o.Store.Policy(ctx, id)
	if err == nil && m != nil {
		m.mu.Lock()
		m.policies[id] = p
		m.mu.Unlock()
	}
	return p, err
}

func (e *Engine) deliveries(ctx context.Context, users []int64, pr alert.Priority) (map[int64][]Delivery, error) {
	m, _ := ctx.Value(memoKey{}).(*memo)
	key := fmt.Sprint(pr, users)
	if m != nil {
		m.mu.Lock()
		d, ok := m.plans[key]
		m.mu.Unlock()
		if ok {
			return d, nil
		}
	}
	d, err := e.o.Directory.Deliveries(ctx, users, pr)
	if err == nil && m != nil {
		m.mu.Lock()
		m.plans[key] = d
		m.mu.Unlock()
	}
	return d, err
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

// timerOutcome works out what a timer does; nothing is written yet.
func (e *Engine) timerOutcome(ctx context.Context, t store.Timer, now time.Time) (store.TimerOutcome, error) {
	out := store.TimerOutcome{}
	a, err := e.o.Store.Alert(ctx, t.AlertID)
	if err != nil {
		return out, err
	}
	switch {
	case t.Kind == store.TimerUpdate:
		paged, err := e.o.Store.PagedUsers(ctx, a.ID)
		if err != nil {
			return out, err
		}
		err = e.tell(ctx, paged, t.Payload, now, &out)
		return out, err
	case a.Status == alert.Pending:
		policy, err := e.policy(ctx, a.EscalationPolicy.ID)
		if err != nil {
			return out, fmt.Errorf("policy of alert %d: %w", a.ID, err)
		}
		return e.plan(ctx, &a, policy, t, now)
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
func (e *Engine) tell(ctx context.Context, users []int64, update string, now time.Time, out *store.TimerOutcome) error {
	if len(users) == 0 {
		return nil
	}
	plans, err := e.o.Directory.UpdateDeliveries(ctx, users, update)
	if err != nil {
		return err
	}
	for _, u := range users {
		for _, d := range plans[u] {
			out.Notifications = append(out.Notifications, store.NewNotification{Purpose: store.PurposeUpdate, UserID: u,
				RuleID: d.RuleID, Method: string(d.Method), Target: d.Target, Secret: d.Secret, DueAt: now.Add(d.Delay)})
		}
	}
	return nil
}

// plan decides what a timer does to a pending alert.
func (e *Engine) plan(ctx context.Context, a *alert.Alert, p *escalation.Policy, t store.Timer, now time.Time) (store.TimerOutcome, error) {
	var out store.TimerOutcome
	switch t.Kind {
	case store.TimerEnd:
		out.Log = append(out.Log, alert.Entry{Type: LogEscalationEnd, Text: "Escalation ended: nobody accepted the alert"})
		return out, nil
	case store.TimerStart:
		if a.Priority == alert.Low { // low priority: the first level's users, by their low rules, no escalation
			return out, e.notifyLevel(ctx, a, p, escalation.Step{}, now, &out)
		}
		step, delay := escalation.Start(p)
		if delay > 0 {
			out.Next = &store.Timer{Kind: store.TimerEscalate, Level: step.Level, Round: step.Round, DueAt: now.Add(delay)}
			return out, nil
		}
	}
	step := escalation.Step{Level: t.Level, Round: t.Round}
	// A level with nobody to page is skipped at once; a policy where every level is empty
	// ends after one pass over its levels and rounds.
	for range (len(p.EscalationRules) + 1) * (p.Frequency + 1) {
		paged := len(out.Notifications)
		if err := e.notifyLevel(ctx, a, p, step, now, &out); err != nil {
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
			out.Next = &store.Timer{Kind: store.TimerEscalate, Level: next.Level, Round: next.Round, DueAt: now.Add(wait)}
		default:
			out.Next = &store.Timer{Kind: store.TimerEnd, DueAt: now.Add(wait)}
		}
		return out, nil
	}
	return out, nil
}

// notifyLevel adds the notifications of one level to out, with the level's log entries.
func (e *Engine) notifyLevel(ctx context.Context, a *alert.Alert, p *escalation.Policy, s escalation.Step, now time.Time, out *store.TimerOutcome) error {
	if s.Level >= len(p.EscalationRules) {
		return errors.New("escalation level out of range")
	}
	rule := p.EscalationRules[s.Level]
	users, err := e.levelUsers(ctx, rule, now)
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
	plans, err := e.deliveries(ctx, users, a.Priority)
	if err != nil {
		return err
	}
	text := "Notifying escalation " + level
	if s.Level > 0 || s.Round > 0 {
		text = "Escalated to " + level
	}
	out.Log = append(out.Log, alert.Entry{Type: LogEscalated, Text: text, Vars: map[string]string{"level": fmt.Sprint(s.Level + 1)}})
	if s.Level > 0 || s.Round > 0 { // tell the people paged before that it went on
		paged, err := e.o.Store.PagedUsers(ctx, a.ID)
		if err != nil {
			return err
		}
		inLevel := map[int64]bool{}
		for _, u := range users {
			inLevel[u] = true
		}
		var earlier []int64
		for _, u := range paged {
			if !inLevel[u] {
				earlier = append(earlier, u)
			}
		}
		if err := e.tell(ctx, earlier, "ALERT_ESCALATED", now, out); err != nil {
			return err
		}
	}
	for _, u := range users {
		for _, d := range plans[u] {
			out.Notifications = append(out.Notifications, store.NewNotification{UserID: u, RuleID: d.RuleID, Level: s.Level,
				Method: string(d.Method), Target: d.Target, Secret: d.Secret, DueAt: now.Add(d.Delay)})
		}
	}
	return nil
}

// levelUsers resolves a level's users, on-call users of its schedules and members of its
// teams, in that order, each once.
func (e *Engine) levelUsers(ctx context.Context, r escalation.Rule, now time.Time) ([]int64, error) {
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
		onCall, err := e.o.Directory.OnCall(ctx, ids, now)
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
		members, err := e.o.Directory.TeamMembers(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("team members: %w", err)
		}
		for _, id := range members {
			add(id)
		}
	}
	return users, nil
}
