package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
)

// Timer kinds.
const (
	TimerStart    = "START"    // an alert opened: start notifying
	TimerEscalate = "ESCALATE" // notify a policy level (and schedule the next)
	TimerEnd      = "END"      // the last level's timeout ran out: nobody accepted
	TimerUpdate   = "UPDATE"   // tell the people paged that the alert changed (Payload: the update)
	// TimerAutoResolve resolves an open alert that received no event for its source's
	// autoResolutionTimeout; each event to the alert moves it.
	TimerAutoResolve = "AUTO_RESOLVE"
)

// LogAutoResolved is the log entry of an alert resolved by its auto-resolution timeout.
const LogAutoResolved = "AlertAutoResolvedLogEntry"

// Notification purposes. ALERT and UPDATE are about an alert; the others (DUTY here,
// COVERAGE for requests to cover a shift) stand alone: no alert, a subject and a body
// written when they are scheduled (see ScheduleMessages).
const (
	PurposeAlert  = "ALERT"  // paging someone about an alert
	PurposeUpdate = "UPDATE" // telling someone paged earlier what became of it
	PurposeDuty   = "DUTY"   // reminding someone that their on-call shift starts soon
)

// Notification statuses (ilert's).
const (
	NotificationScheduled = "SCHEDULED"
	NotificationSuccess   = "SUCCESS"
	NotificationError     = "ERROR"
)

// Timer is a claimed future action of the engine.
type Timer struct {
	ID      int64
	Kind    string
	AlertID int64
	Level   int
	Round   int
	Payload string // UPDATE: ALERT_ACCEPTED, ALERT_RESOLVED or ALERT_ESCALATED
	DueAt   time.Time
	Lease   int64 // the lease this claim holds; completing needs it
}

// ClaimTimers leases up to limit timers due at now until leaseUntil, oldest first. A timer
// whose lease ran out (its replica died) can be claimed again.
func (db *DB) ClaimTimers(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Timer, error) {
	lease := ms(leaseUntil)
	rows, err := db.engine.QueryContext(ctx, `UPDATE timers SET lease_until = $1 WHERE id IN (
		SELECT id FROM timers WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
		ORDER BY due_at LIMIT $3`+db.dialect.skipLocked()+`)
		RETURNING id, kind, alert_id, level, round, COALESCE(payload, ''), due_at`, lease, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: claim timers: %w", err)
	}
	defer rows.Close()
	var out []Timer
	for rows.Next() {
		t := Timer{Lease: lease}
		var due int64
		if err := rows.Scan(&t.ID, &t.Kind, &t.AlertID, &t.Level, &t.Round, &t.Payload, &due); err != nil {
			return nil, fmt.Errorf("store: scan timer: %w", err)
		}
		t.DueAt = fromMS(due)
		out = append(out, t)
	}
	return out, rows.Err()
}

// NextDue returns when the earliest timer or scheduled notification falls due, or the zero
// time when nothing is waiting. Leased work counts from its lease's end.
func (db *DB) NextDue(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT MIN(t) FROM (
		SELECT MIN(COALESCE(lease_until, due_at)) AS t FROM timers
		UNION ALL
		SELECT MIN(COALESCE(lease_until, due_at)) AS t FROM source_timers
		UNION ALL
		SELECT MIN(COALESCE(lease_until, due_at)) AS t FROM notifications WHERE status = $1) AS due`,
		NotificationScheduled).Scan(&next)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: next due: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return fromMS(next.Int64), nil
}

// NewNotification is a message the engine schedules.
type NewNotification struct {
	Purpose string // PurposeAlert (the default) or PurposeUpdate
	UserID  int64
	RuleID  int64 // 0 for a default rule
	Level   int
	Method  string
	Target  string
	Secret  string
	DueAt   time.Time
}

// TimerOutcome is what completing a timer writes, atomically.
type TimerOutcome struct {
	Notifications []NewNotification
	Log           []alert.Entry
	Next          *Timer // the follow-up timer (Kind, Level, Round, DueAt), if any
	Resolve       bool   // resolve the alert (an AUTO_RESOLVE timer)
}

// CompleteTimer consumes a claimed timer and writes its outcome in one transaction, but only
// while the claim's lease is still the timer's (no other replica took it over) and, except for
// an UPDATE, the alert is still PENDING; otherwise it writes nothing. It reports whether the
// outcome was written.
func (db *DB) CompleteTimer(ctx context.Context, t Timer, out TimerOutcome) (bool, error) {
	written, err := db.CompleteTimers(ctx, []TimerDone{{Timer: t, Outcome: out}})
	if err != nil {
		return false, err
	}
	return written[0], nil
}

// TimerDone is a claimed timer with its outcome.
type TimerDone struct {
	Timer   Timer
	Outcome TimerOutcome
}

// CompleteTimers is CompleteTimer for many timers in one transaction (one commit, however
// many timers fell due) and a handful of statements, however many timers there are. It
// reports, per timer, whether its outcome was written. On error nothing is written; the
// caller may retry the timers one by one.
func (db *DB) CompleteTimers(ctx context.Context, done []TimerDone) ([]bool, error) {
	var written []bool
	// An auto-resolution changes what users see: it commits synchronously, as a user's
	// change does; the rest is the engine's bookkeeping.
	inTx := db.inEngineTx
	if slices.ContainsFunc(done, func(d TimerDone) bool { return d.Outcome.Resolve }) {
		inTx = db.inTx
	}
	err := inTx(ctx, func(tx *sql.Tx) error {
		written = make([]bool, len(done))
		now := db.now()
		// The alerts first, then their timers: the order accepting and resolving take them in,
		// so the two cannot deadlock.
		alertIDs := make([]int64, 0, len(done))
		for _, d := range done {
			alertIDs = append(alertIDs, d.Timer.AlertID)
		}
		status, err := lockAlerts(ctx, tx, db.dialect, alertIDs)
		if err != nil {
			return err
		}
		consumed, err := consumeTimers(ctx, tx, db.dialect, done)
		if err != nil {
			return err
		}
		// Resolutions first: a timer of an alert resolved in this batch (an escalation due
		// at the same time, after a restart) then pages nobody.
		order := make([]int, 0, len(done))
		for i, d := range done {
			if d.Outcome.Resolve {
				order = append(order, i)
			}
		}
		for i, d := range done {
			if !d.Outcome.Resolve {
				order = append(order, i)
			}
		}
		var notes, next [][]any
		var logs []alertLog
		for _, i := range order {
			d := done[i]
			t, out := d.Timer, d.Outcome
			st, ok := status[t.AlertID]
			if !consumed[t.ID] || !ok || st == alert.Resolved && t.Kind != TimerUpdate ||
				st == alert.Accepted && t.Kind != TimerUpdate && t.Kind != TimerAutoResolve {
				continue // cancelled (the alert was accepted), taken over by another replica, or deleted
			}
			written[i] = true
			if out.Resolve {
				if err := setAlertStatus(ctx, tx, db.dialect, t.AlertID, alert.Resolved, now); err != nil {
					return err
				}
				status[t.AlertID] = alert.Resolved
			}
			for _, n := range out.Notifications {
				notes = append(notes, notificationRow(t.AlertID, n, now))
			}
			for _, e := range out.Log {
				logs = append(logs, alertLog{t.AlertID, e})
			}
			if n := out.Next; n != nil {
				next = append(next, []any{n.Kind, t.AlertID, n.Level, n.Round, nullString(n.Payload), ms(n.DueAt), now})
			}
		}
		if err := db.dialect.insertAll(ctx, tx, "notifications", notificationColumns, notes); err != nil {
			return fmt.Errorf("store: schedule notifications: %w", err)
		}
		if err := insertLogs(ctx, tx, db.dialect, logs, now); err != nil {
			return err
		}
		if err := db.dialect.insertAll(ctx, tx, "timers", timerColumns, next); err != nil {
			return fmt.Errorf("store: next timers: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return written, nil
}

// consumeTimers deletes the claimed timers whose claim still holds and returns their ids. A
// timer that is gone was cancelled or taken over by another replica after its lease ran out.
func consumeTimers(ctx context.Context, tx *sql.Tx, d Dialect, done []TimerDone) (map[int64]bool, error) {
	byLease := map[int64][]int64{} // a batch claimed at once shares one lease
	for _, t := range done {
		byLease[t.Timer.Lease] = append(byLease[t.Timer.Lease], t.Timer.ID)
	}
	consumed := make(map[int64]bool, len(done))
	for lease, ids := range byLease {
		for start := 0; start < len(ids); start += chunk {
			in, args := d.inIDs("id", 2, ids[start:min(start+chunk, len(ids))])
			rows, err := tx.QueryContext(ctx, `DELETE FROM timers WHERE lease_until = `+d.params(1, 1)+` AND `+in+` RETURNING id`,
				append([]any{lease}, args...)...)
			if err != nil {
				return nil, fmt.Errorf("store: complete timers: %w", err)
			}
			err = eachRow(rows, func() error {
				var id int64
				err := rows.Scan(&id)
				consumed[id] = true
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("store: complete timers: %w", err)
			}
		}
	}
	return consumed, nil
}

// lockAlerts locks the alerts, in id order so that transactions locking several alerts
// cannot deadlock, and returns the status of each that exists.
func lockAlerts(ctx context.Context, tx *sql.Tx, d Dialect, ids []int64) (map[int64]alert.Status, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	out := make(map[int64]alert.Status, len(ids))
	for start := 0; start < len(ids); start += chunk {
		in, args := d.inIDs("id", 1, ids[start:min(start+chunk, len(ids))])
		rows, err := tx.QueryContext(ctx, `SELECT id, status FROM alerts WHERE `+in+` ORDER BY id`+d.forUpdate(), args...)
		if err != nil {
			return nil, fmt.Errorf("store: lock alerts: %w", err)
		}
		err = eachRow(rows, func() error {
			var id int64
			var st alert.Status
			err := rows.Scan(&id, &st)
			out[id] = st
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("store: lock alerts: %w", err)
		}
	}
	return out, nil
}

var notificationColumns = []column{{"alert_id", "bigint"}, {"purpose", "text"}, {"user_id", "bigint"}, {"rule_id", "bigint"}, {"level", "bigint"},
	{"method", "text"}, {"target", "text"}, {"secret", "text"}, {"status", "text"}, {"due_at", "bigint"},
	{"attempt", "bigint"}, {"created_at", "bigint"}}

// notificationRow is the row of notificationColumns that schedules n about an alert.
func notificationRow(alertID int64, n NewNotification, now int64) []any {
	purpose := n.Purpose
	if purpose == "" {
		purpose = PurposeAlert
	}
	rule := sql.NullInt64{Int64: n.RuleID, Valid: n.RuleID != 0}
	return []any{alertID, purpose, n.UserID, rule, n.Level, n.Method, n.Target, nullString(n.Secret),
		NotificationScheduled, ms(n.DueAt), 0, now}
}

// insertStartTimers starts the engine on newly opened alerts.
func insertStartTimers(ctx context.Context, tx *sql.Tx, d Dialect, alertIDs []int64, now int64) error {
	rows := make([][]any, len(alertIDs))
	for i, id := range alertIDs {
		rows[i] = []any{TimerStart, id, 0, 0, sql.NullString{}, now, now}
	}
	if err := d.insertAll(ctx, tx, "timers", timerColumns, rows); err != nil {
		return fmt.Errorf("store: start timers: %w", err)
	}
	return nil
}

var timerColumns = []column{{"kind", "text"}, {"alert_id", "bigint"}, {"level", "bigint"}, {"round", "bigint"},
	{"payload", "text"}, {"due_at", "bigint"}, {"created_at", "bigint"}}

// stopEscalation cancels the future of alerts that were accepted or resolved: their timers
// (but not the updates about them, nor, unless they were resolved, their auto-resolution)
// and the pages not yet being sent. The people paged so far
// are then told, by an UPDATE timer, what became of the alert (update: ALERT_ACCEPTED or
// ALERT_RESOLVED).
func stopEscalation(ctx context.Context, q querier, d Dialect, alertIDs []int64, update string, now int64) error {
	for start := 0; start < len(alertIDs); start += chunk {
		part := anys(alertIDs[start:min(start+chunk, len(alertIDs))])
		in := placeholders(1, len(part))
		n := len(part)
		kept := TimerAutoResolve // an accepted alert still resolves itself when its events stop
		if update == UpdateFor(alert.Resolved) {
			kept = TimerUpdate
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM timers WHERE alert_id IN (`+in+`) AND kind <> $`+fmt.Sprint(n+1)+
			` AND kind <> $`+fmt.Sprint(n+2), append(part, TimerUpdate, kept)...); err != nil {
			return fmt.Errorf("store: stop timers: %w", err)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM notifications WHERE alert_id IN (`+in+`) AND purpose = $`+fmt.Sprint(n+1)+
			` AND status = $`+fmt.Sprint(n+2)+` AND (lease_until IS NULL OR lease_until < $`+fmt.Sprint(n+3)+`)`,
			append(part, PurposeAlert, NotificationScheduled, now)...); err != nil {
			return fmt.Errorf("store: cancel notifications: %w", err)
		}
	}
	if update == "" {
		return nil
	}
	rows := make([][]any, len(alertIDs))
	for i, id := range alertIDs {
		rows[i] = []any{TimerUpdate, id, 0, 0, update, now, now}
	}
	if err := d.insertAll(ctx, q, "timers", timerColumns, rows); err != nil {
		return fmt.Errorf("store: update timers: %w", err)
	}
	return nil
}

// PagedUsers returns, for each of the alerts, the users it was successfully paged to, each
// once, in id order. An alert nobody was paged for is absent.
func (db *DB) PagedUsers(ctx context.Context, alertIDs []int64) (map[int64][]int64, error) {
	out := map[int64][]int64{}
	for start := 0; start < len(alertIDs); start += chunk {
		in, args := db.dialect.inIDs("alert_id", 3, alertIDs[start:min(start+chunk, len(alertIDs))])
		rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT alert_id, user_id FROM notifications
			WHERE purpose = `+db.dialect.params(1, 1)+` AND status = `+db.dialect.params(2, 1)+
			` AND user_id IS NOT NULL AND `+in+` ORDER BY alert_id, user_id`, append([]any{PurposeAlert, NotificationSuccess}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("store: paged users: %w", err)
		}
		err = eachRow(rows, func() error {
			var alertID, userID int64
			err := rows.Scan(&alertID, &userID)
			out[alertID] = append(out[alertID], userID)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("store: paged users: %w", err)
		}
	}
	return out, nil
}

// AlertState is what the engine needs to know of an alert to run its timers.
type AlertState struct {
	ID       int64
	Status   alert.Status
	Priority alert.Priority
	PolicyID int64
}

// AlertStates returns the state of each of the alerts that exists.
func (db *DB) AlertStates(ctx context.Context, ids []int64) (map[int64]AlertState, error) {
	out := make(map[int64]AlertState, len(ids))
	for start := 0; start < len(ids); start += chunk {
		in, args := db.dialect.inIDs("id", 1, ids[start:min(start+chunk, len(ids))])
		rows, err := db.read.QueryContext(ctx, `SELECT id, status, priority, COALESCE(escalation_policy_id, 0) FROM alerts WHERE `+in, args...)
		if err != nil {
			return nil, fmt.Errorf("store: alert states: %w", err)
		}
		err = eachRow(rows, func() error {
			var a AlertState
			err := rows.Scan(&a.ID, &a.Status, &a.Priority, &a.PolicyID)
			out[a.ID] = a
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("store: alert states: %w", err)
		}
	}
	return out, nil
}

// Outgoing is a claimed notification with what its message needs: the alert's fields for a
// message about an alert, or, for one that stands alone (AlertID 0), its Subject and Body.
type Outgoing struct {
	ID       int64
	AlertID  int64 // 0: a message not about an alert
	Purpose  string
	UserID   int64 // 0 when the user was deleted
	UserName string
	Method   string
	Target   string
	Secret   string
	Attempt  int
	Lease    int64

	Subject string // a standalone message's
	Body    string

	Summary  string
	Details  string
	Priority string
	Status   string
	Source   string
	AlertKey string
	ReportAt time.Time
}

// ClaimNotifications leases up to limit notifications due at now until leaseUntil and counts
// the attempt. A notification whose lease ran out (its replica died mid-send) is claimed
// again: a crash between sending and recording sends it at most once more.
func (db *DB) ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Outgoing, error) {
	lease := ms(leaseUntil)
	rows, err := db.engine.QueryContext(ctx, `UPDATE notifications SET lease_until = $1, attempt = attempt + 1 WHERE id IN (
		SELECT id FROM notifications WHERE status = $2 AND due_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
		ORDER BY due_at LIMIT $4`+db.dialect.skipLocked()+`)
		RETURNING id, COALESCE(alert_id, 0), purpose, COALESCE(user_id, 0), method, target, COALESCE(secret, ''), attempt,
			COALESCE(subject, ''), COALESCE(body, '')`,
		lease, NotificationScheduled, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: claim notifications: %w", err)
	}
	var out []Outgoing
	for rows.Next() {
		o := Outgoing{Lease: lease}
		if err := rows.Scan(&o.ID, &o.AlertID, &o.Purpose, &o.UserID, &o.Method, &o.Target, &o.Secret, &o.Attempt,
			&o.Subject, &o.Body); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: scan notification: %w", err)
		}
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: claim notifications: %w", err)
	}
	if err := db.describe(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// describe fills in what the messages of claimed notifications say: the alert's fields and
// the user's name, read for the whole batch at once.
func (db *DB) describe(ctx context.Context, out []Outgoing) error {
	var alertIDs, userIDs []int64
	for _, o := range out {
		if o.AlertID != 0 {
			alertIDs = append(alertIDs, o.AlertID)
		}
		if o.UserID != 0 {
			userIDs = append(userIDs, o.UserID)
		}
	}
	alertIDs = slices.Compact(slices.Sorted(slices.Values(alertIDs)))
	userIDs = slices.Compact(slices.Sorted(slices.Values(userIDs)))
	alerts := make(map[int64]Outgoing, len(alertIDs))
	for start := 0; start < len(alertIDs); start += chunk {
		in, args := db.dialect.inIDs("a.id", 1, alertIDs[start:min(start+chunk, len(alertIDs))])
		rows, err := db.read.QueryContext(ctx, `SELECT a.id, a.summary, a.details, a.priority, a.status, s.name, a.alert_key, a.report_time
			FROM alerts a JOIN alert_sources s ON s.id = a.source_id WHERE `+in, args...)
		if err != nil {
			return fmt.Errorf("store: notifications' alerts: %w", err)
		}
		err = eachRow(rows, func() error {
			var a Outgoing
			var report int64
			err := rows.Scan(&a.AlertID, &a.Summary, &a.Details, &a.Priority, &a.Status, &a.Source, &a.AlertKey, &report)
			a.ReportAt = fromMS(report)
			alerts[a.AlertID] = a
			return err
		})
		if err != nil {
			return fmt.Errorf("store: notifications' alerts: %w", err)
		}
	}
	names := make(map[int64]string, len(userIDs))
	for start := 0; start < len(userIDs); start += chunk {
		in, args := db.dialect.inIDs("id", 1, userIDs[start:min(start+chunk, len(userIDs))])
		rows, err := db.read.QueryContext(ctx, `SELECT id, first_name || ' ' || last_name FROM users WHERE `+in, args...)
		if err != nil {
			return fmt.Errorf("store: notifications' users: %w", err)
		}
		err = eachRow(rows, func() error {
			var id int64
			var name string
			err := rows.Scan(&id, &name)
			names[id] = name
			return err
		})
		if err != nil {
			return fmt.Errorf("store: notifications' users: %w", err)
		}
	}
	for i := range out {
		o := &out[i]
		o.UserName = names[o.UserID]
		if a, ok := alerts[o.AlertID]; ok {
			o.Summary, o.Details, o.Priority, o.Status, o.Source, o.AlertKey, o.ReportAt =
				a.Summary, a.Details, a.Priority, a.Status, a.Source, a.AlertKey, a.ReportAt
		}
	}
	return nil
}

// SendOutcome is what became of one attempt.
type SendOutcome struct {
	Err      error     // nil: delivered
	RetryAt  time.Time // non-zero: try again then
	Deferred bool      // not tried at all (held back by a rate limit): the attempt does not count
	LogEntry *alert.Entry
}

// FinishNotification records an attempt's outcome, if the claim's lease still holds. The log
// entry goes on the alert's timeline; a message without an alert has none, and LogEntry is
// ignored.
func (db *DB) FinishNotification(ctx context.Context, o Outgoing, out SendOutcome) error {
	return db.FinishNotifications(ctx, []Finished{{Outgoing: o, Outcome: out}})
}

// Finished is a claimed notification with the outcome of its attempt.
type Finished struct {
	Outgoing Outgoing
	Outcome  SendOutcome
}

// FinishNotifications is FinishNotification for many in one transaction: the attempts that
// ended alike (delivered, or failed for good with the same error) in one statement, each retry
// in its own, the log entries in one. On error nothing is written; the caller may retry them
// one by one.
func (db *DB) FinishNotifications(ctx context.Context, done []Finished) error {
	slices.SortFunc(done, func(a, b Finished) int { return cmp.Compare(a.Outgoing.ID, b.Outgoing.ID) })
	return db.inEngineTx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		recorded, err := recordEnds(ctx, tx, db.dialect, done, now)
		if err != nil {
			return err
		}
		var logs []alertLog
		for _, f := range done {
			o, out := f.Outgoing, f.Outcome
			if !out.RetryAt.IsZero() {
				ok, err := recordRetry(ctx, tx, o, out)
				if err != nil {
					return err
				}
				recorded[o.ID] = ok
			}
			if recorded[o.ID] && out.LogEntry != nil && o.AlertID != 0 {
				logs = append(logs, alertLog{o.AlertID, *out.LogEntry})
			}
		}
		return insertLogs(ctx, tx, db.dialect, logs, now)
	})
}

// recordEnds records the attempts that end their notification, delivered or failed for good,
// if their claim still holds, and returns the ids of those recorded. Attempts that ended
// alike are recorded by one statement: a batch claimed at once shares its lease, and the
// failures of an alert storm mostly share their error.
func recordEnds(ctx context.Context, tx *sql.Tx, d Dialect, done []Finished, now int64) (map[int64]bool, error) {
	type end struct {
		lease int64
		err   string // "": delivered
	}
	var ends []end
	ids := map[end][]int64{}
	for _, f := range done {
		if !f.Outcome.RetryAt.IsZero() {
			continue
		}
		e := end{lease: f.Outgoing.Lease}
		if f.Outcome.Err != nil {
			e.err = truncate(f.Outcome.Err.Error(), 1000)
			if e.err == "" {
				e.err = "failed"
			}
		}
		if ids[e] == nil {
			ends = append(ends, e)
		}
		ids[e] = append(ids[e], f.Outgoing.ID)
	}
	recorded := make(map[int64]bool, len(done))
	for _, e := range ends {
		status, sent := NotificationSuccess, sql.NullInt64{Int64: now, Valid: true}
		if e.err != "" {
			status, sent = NotificationError, sql.NullInt64{}
		}
		all := ids[e]
		for start := 0; start < len(all); start += chunk {
			in, args := d.inIDs("id", 5, all[start:min(start+chunk, len(all))])
			rows, err := tx.QueryContext(ctx, `UPDATE notifications SET status = `+d.params(1, 1)+`, sent_at = `+d.params(2, 1)+
				`, error = `+d.params(3, 1)+`, lease_until = NULL WHERE lease_until = `+d.params(4, 1)+` AND `+in+` RETURNING id`,
				append([]any{status, sent, nullString(e.err), e.lease}, args...)...)
			if err != nil {
				return nil, fmt.Errorf("store: finish notifications: %w", err)
			}
			err = eachRow(rows, func() error {
				var id int64
				err := rows.Scan(&id)
				recorded[id] = true
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("store: finish notifications: %w", err)
			}
		}
	}
	return recorded, nil
}

// recordRetry records a failed attempt to be tried again at out.RetryAt, if the claim still
// holds. A deferred attempt (held back by a rate limit) does not count. A page about an alert
// that was accepted or resolved while the attempt was under way is not tried again: it is
// cancelled, as the pages not yet under way were.
func recordRetry(ctx context.Context, tx *sql.Tx, o Outgoing, out SendOutcome) (bool, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM notifications WHERE id = $1 AND lease_until = $2 AND purpose = $3
		AND alert_id IN (SELECT id FROM alerts WHERE status <> $4)`, o.ID, o.Lease, PurposeAlert, alert.Pending)
	if err != nil {
		return false, fmt.Errorf("store: cancel notification %d: %w", o.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return false, err
	}
	uncount := 0
	if out.Deferred {
		uncount = 1
	}
	res, err = tx.ExecContext(ctx, `UPDATE notifications SET due_at = $3, error = $4, lease_until = NULL, attempt = attempt - $5
		WHERE id = $1 AND lease_until = $2`, o.ID, o.Lease, ms(out.RetryAt), truncate(out.Err.Error(), 1000), uncount)
	if err != nil {
		return false, fmt.Errorf("store: finish notification %d: %w", o.ID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Notification is one row of GET /api/alerts/{id}/notifications (ilert's Notification).
type Notification struct {
	ID               int64     `json:"id"`
	Method           string    `json:"method"`
	Target           string    `json:"target"`
	AlertID          int64     `json:"alertId"`
	User             *userRef  `json:"user,omitempty"`
	NotificationTime time.Time `json:"notificationTime"`
	Status           string    `json:"status"`
	ErrorMessage     string    `json:"errorMessage,omitempty"`
	Attempt          int       `json:"attempt"`
}

type userRef struct {
	ID        int64  `json:"id"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
}

// Notifications lists what tocsin sent, or will send, about an alert, oldest first. The time
// is when it was sent, or for one not sent yet, when it is due.
func (db *DB) Notifications(ctx context.Context, alertID int64) ([]Notification, error) {
	if _, err := alertStatus(ctx, db.read, alertID); err != nil {
		return nil, err
	}
	rows, err := db.read.QueryContext(ctx, `SELECT n.id, n.method, n.target, n.status, COALESCE(n.sent_at, n.due_at),
		COALESCE(n.error, ''), n.attempt, u.id, u.first_name, u.last_name
		FROM notifications n LEFT JOIN users u ON u.id = n.user_id WHERE n.alert_id = $1 ORDER BY n.id`, alertID)
	if err != nil {
		return nil, fmt.Errorf("store: notifications of alert %d: %w", alertID, err)
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		n := Notification{AlertID: alertID}
		var at int64
		var uid sql.NullInt64
		var first, last sql.NullString
		if err := rows.Scan(&n.ID, &n.Method, &n.Target, &n.Status, &at, &n.ErrorMessage, &n.Attempt, &uid, &first, &last); err != nil {
			return nil, fmt.Errorf("store: scan notification: %w", err)
		}
		n.NotificationTime = fromMS(at)
		if uid.Valid {
			n.User = &userRef{ID: uid.Int64, FirstName: first.String, LastName: last.String}
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// TeamMemberIDs returns the members of the teams, by team and then user id, each once.
func (db *DB) TeamMemberIDs(ctx context.Context, teamIDs []int64) ([]int64, error) {
	if len(teamIDs) == 0 {
		return nil, nil
	}
	rows, err := db.read.QueryContext(ctx, `SELECT user_id FROM team_members WHERE team_id IN (`+
		placeholders(1, len(teamIDs))+`) ORDER BY team_id, user_id`, anys(teamIDs)...)
	if err != nil {
		return nil, fmt.Errorf("store: team members: %w", err)
	}
	defer rows.Close()
	seen := map[int64]bool{}
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: scan team member: %w", err)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// autoResolve starts or moves the auto-resolution of alerts that received an event at now:
// each resolves after its source's autoResolutionTimeout without another event. Alerts of
// sources without one are skipped.
func autoResolve(ctx context.Context, tx *sql.Tx, d Dialect, opened, appended []EventWork, openedIDs, appendedIDs []int64, now int64) error {
	due := func(w EventWork) (int64, bool) {
		if w.Source.AutoResolutionTimeout == "" {
			return 0, false
		}
		p, err := alert.ParsePeriod(w.Source.AutoResolutionTimeout)
		if err != nil || p <= 0 {
			return 0, false
		}
		return now + p.Milliseconds(), true
	}
	var rows [][]any
	for i, w := range opened {
		if at, ok := due(w); ok {
			rows = append(rows, []any{TimerAutoResolve, openedIDs[i], 0, 0, sql.NullString{}, at, now})
		}
	}
	if err := d.insertAll(ctx, tx, "timers", timerColumns, rows); err != nil {
		return fmt.Errorf("store: auto-resolution timers: %w", err)
	}
	// An event restarts its alert's auto-resolution with the source's timeout as it is now:
	// the alert's timer goes, and a new one comes if the source has a timeout (one set since
	// the alert opened counts; one removed since stops).
	latest := map[int64]int64{} // alert → due; 0: none
	for i, w := range appended {
		at, _ := due(w)
		latest[appendedIDs[i]] = at
	}
	ids := slices.Sorted(maps.Keys(latest))
	for start := 0; start < len(ids); start += chunk {
		in, args := d.inIDs("alert_id", 2, ids[start:min(start+chunk, len(ids))])
		if _, err := tx.ExecContext(ctx, `DELETE FROM timers WHERE kind = `+d.params(1, 1)+` AND `+in,
			append([]any{TimerAutoResolve}, args...)...); err != nil {
			return fmt.Errorf("store: move auto-resolution timers: %w", err)
		}
	}
	rows = rows[:0]
	for _, id := range ids {
		if at := latest[id]; at != 0 {
			rows = append(rows, []any{TimerAutoResolve, id, 0, 0, sql.NullString{}, at, now})
		}
	}
	if err := d.insertAll(ctx, tx, "timers", timerColumns, rows); err != nil {
		return fmt.Errorf("store: move auto-resolution timers: %w", err)
	}
	return nil
}
