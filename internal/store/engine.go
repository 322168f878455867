package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// Timer kinds.
const (
	TimerStart    = "START"    // an alert opened: start notifying
	TimerEscalate = "ESCALATE" // notify a policy level (and schedule the next)
	TimerEnd      = "END"      // the last level's timeout ran out: nobody accepted
	TimerUpdate   = "UPDATE"   // tell the people paged that the alert changed (Payload: the update)
)

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

// skipLocked is the row-locking clause of a claim: PostgreSQL replicas skip the rows another
// replica is claiming; SQLite has one writer and no such clause.
func (d Dialect) skipLocked() string {
	if d == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
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
// many timers fell due). It reports, per timer, whether its outcome was written. On error
// nothing is written; the caller may retry the timers one by one.
func (db *DB) CompleteTimers(ctx context.Context, done []TimerDone) ([]bool, error) {
	written := make([]bool, len(done))
	order := make([]int, len(done)) // by alert, so concurrent batches lock alerts in one order
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(done[a].Timer.AlertID, done[b].Timer.AlertID) })
	err := db.inEngineTx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		for _, i := range order {
			ok, err := completeTimer(ctx, tx, db.dialect, done[i].Timer, done[i].Outcome, now)
			if err != nil {
				return err
			}
			written[i] = ok
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return written, nil
}

func completeTimer(ctx context.Context, tx *sql.Tx, d Dialect, t Timer, out TimerOutcome, now int64) (bool, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM timers WHERE id = $1 AND lease_until = $2`, t.ID, t.Lease)
	if err != nil {
		return false, fmt.Errorf("store: complete timer %d: %w", t.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil // cancelled (the alert was accepted) or taken over by another replica
	}
	status, err := lockAlert(ctx, tx, t.AlertID)
	if fault.Is(err, fault.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if status != alert.Pending && t.Kind != TimerUpdate {
		return false, nil
	}
	if err := insertNotifications(ctx, tx, d, t.AlertID, out.Notifications, now); err != nil {
		return false, err
	}
	for _, e := range out.Log {
		if err := addLog(ctx, tx, t.AlertID, now, e.Type, e.Text, e.Vars); err != nil {
			return false, err
		}
	}
	if n := out.Next; n != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO timers (kind, alert_id, level, round, payload, due_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, n.Kind, t.AlertID, n.Level, n.Round, nullString(n.Payload), ms(n.DueAt), now); err != nil {
			return false, fmt.Errorf("store: next timer: %w", err)
		}
	}
	return true, nil
}

var notificationColumns = []column{{"alert_id", "bigint"}, {"purpose", "text"}, {"user_id", "bigint"}, {"rule_id", "bigint"}, {"level", "bigint"},
	{"method", "text"}, {"target", "text"}, {"secret", "text"}, {"status", "text"}, {"due_at", "bigint"},
	{"attempt", "bigint"}, {"created_at", "bigint"}}

func insertNotifications(ctx context.Context, tx *sql.Tx, d Dialect, alertID int64, ns []NewNotification, now int64) error {
	for start := 0; start < len(ns); start += chunk {
		part := ns[start:min(start+chunk, len(ns))]
		rows := make([][]any, len(part))
		for i, n := range part {
			rule := sql.NullInt64{Int64: n.RuleID, Valid: n.RuleID != 0}
			purpose := n.Purpose
			if purpose == "" {
				purpose = PurposeAlert
			}
			rows[i] = []any{alertID, purpose, n.UserID, rule, n.Level, n.Method, n.Target, nullString(n.Secret),
				NotificationScheduled, ms(n.DueAt), 0, now}
		}
		query, args := d.insertRows("notifications", notificationColumns, rows, "")
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("store: schedule notifications: %w", err)
		}
	}
	return nil
}

// insertStartTimers starts the engine on newly opened alerts.
func insertStartTimers(ctx context.Context, tx *sql.Tx, d Dialect, alertIDs []int64, now int64) error {
	for start := 0; start < len(alertIDs); start += chunk {
		part := alertIDs[start:min(start+chunk, len(alertIDs))]
		rows := make([][]any, len(part))
		for i, id := range part {
			rows[i] = []any{TimerStart, id, 0, 0, now, now}
		}
		query, args := d.insertRows("timers", timerColumns, rows, "")
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("store: start timers: %w", err)
		}
	}
	return nil
}

var timerColumns = []column{{"kind", "text"}, {"alert_id", "bigint"}, {"level", "bigint"}, {"round", "bigint"},
	{"due_at", "bigint"}, {"created_at", "bigint"}}

// stopEscalation cancels the future of alerts that were accepted or resolved: their timers
// (but not the updates about them) and the pages not yet being sent. The people paged so far
// are then told, by an UPDATE timer, what became of the alert (update: ALERT_ACCEPTED or
// ALERT_RESOLVED).
func stopEscalation(ctx context.Context, q querier, alertIDs []int64, update string, now int64) error {
	for start := 0; start < len(alertIDs); start += chunk {
		part := anys(alertIDs[start:min(start+chunk, len(alertIDs))])
		in := placeholders(1, len(part))
		n := len(part)
		if _, err := q.ExecContext(ctx, `DELETE FROM timers WHERE alert_id IN (`+in+`) AND kind <> $`+fmt.Sprint(n+1),
			append(part, TimerUpdate)...); err != nil {
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
	for _, id := range alertIDs {
		if _, err := q.ExecContext(ctx, `INSERT INTO timers (kind, alert_id, level, round, payload, due_at, created_at)
			VALUES ($1, $2, 0, 0, $3, $4, $4)`, TimerUpdate, id, update, now); err != nil {
			return fmt.Errorf("store: update timer: %w", err)
		}
	}
	return nil
}

// PagedUsers returns the users an alert was successfully paged to, each once.
func (db *DB) PagedUsers(ctx context.Context, alertID int64) ([]int64, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT user_id FROM notifications
		WHERE alert_id = $1 AND purpose = $2 AND status = $3 AND user_id IS NOT NULL ORDER BY user_id`,
		alertID, PurposeAlert, NotificationSuccess)
	if err != nil {
		return nil, fmt.Errorf("store: paged users of alert %d: %w", alertID, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: scan paged user: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
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
	for i := range out {
		o := &out[i]
		if o.AlertID == 0 {
			err := db.read.QueryRowContext(ctx, `SELECT COALESCE((SELECT first_name || ' ' || last_name FROM users WHERE id = $1), '')`,
				o.UserID).Scan(&o.UserName)
			if err != nil {
				return nil, fmt.Errorf("store: notification %d's user: %w", o.ID, err)
			}
			continue
		}
		var report int64
		err := db.read.QueryRowContext(ctx, `SELECT a.summary, a.details, a.priority, a.status, s.name, a.alert_key, a.report_time,
			COALESCE((SELECT first_name || ' ' || last_name FROM users WHERE id = $2), '')
			FROM alerts a JOIN alert_sources s ON s.id = a.source_id WHERE a.id = $1`, o.AlertID, o.UserID).
			Scan(&o.Summary, &o.Details, &o.Priority, &o.Status, &o.Source, &o.AlertKey, &report, &o.UserName)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("store: notification %d's alert: %w", o.ID, err)
		}
		o.ReportAt = fromMS(report)
	}
	return out, nil
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

// FinishNotifications is FinishNotification for many in one transaction. On error nothing is
// written; the caller may retry them one by one.
func (db *DB) FinishNotifications(ctx context.Context, done []Finished) error {
	slices.SortFunc(done, func(a, b Finished) int { return cmp.Compare(a.Outgoing.ID, b.Outgoing.ID) })
	return db.inEngineTx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		for _, f := range done {
			if err := finishNotification(ctx, tx, f.Outgoing, f.Outcome, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func finishNotification(ctx context.Context, tx *sql.Tx, o Outgoing, out SendOutcome, now int64) error {
	var res sql.Result
	var err error
	switch {
	case out.Err == nil:
		res, err = tx.ExecContext(ctx, `UPDATE notifications SET status = $3, sent_at = $4, error = NULL, lease_until = NULL
			WHERE id = $1 AND lease_until = $2`, o.ID, o.Lease, NotificationSuccess, now)
	case !out.RetryAt.IsZero():
		uncount := 0
		if out.Deferred {
			uncount = 1
		}
		res, err = tx.ExecContext(ctx, `UPDATE notifications SET due_at = $3, error = $4, lease_until = NULL, attempt = attempt - $5
			WHERE id = $1 AND lease_until = $2`, o.ID, o.Lease, ms(out.RetryAt), truncate(out.Err.Error(), 1000), uncount)
	default:
		res, err = tx.ExecContext(ctx, `UPDATE notifications SET status = $3, error = $4, lease_until = NULL
			WHERE id = $1 AND lease_until = $2`, o.ID, o.Lease, NotificationError, truncate(out.Err.Error(), 1000))
	}
	if err != nil {
		return fmt.Errorf("store: finish notification %d: %w", o.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 || out.LogEntry == nil || o.AlertID == 0 {
		return nil
	}
	return addLog(ctx, tx, o.AlertID, now, out.LogEntry.Type, out.LogEntry.Text, out.LogEntry.Vars)
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
