package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// NewMessage is a message to one person that is not about an alert: a reminder before an
// on-call shift (PurposeDuty), a request to cover a shift or its answer (COVERAGE).
type NewMessage struct {
	UserID  int64
	Purpose string // what it is for, in upper case: DUTY, COVERAGE; never ALERT or UPDATE
	RuleID  int64  // the notification rule it follows, or 0
	Method  string // EMAIL, SMS, VOICE, WEBHOOK, …
	Target  string // email address, E.164 number or URL
	Secret  string // WEBHOOK: the key the body is signed with
	Subject string // one line
	Body    string // plain text
	DueAt   time.Time
	// DedupKey, when not empty, names the message: while a message with the same key exists,
	// in whatever status, scheduling another does nothing. Keys are shared by every purpose;
	// start them with the purpose ("coverage:<request>:<change>:<user>").
	DedupKey string
}

func (m NewMessage) validate() error {
	switch p := m.Purpose; {
	case p == "" || strings.ToUpper(p) != p:
		return fault.Errorf("a message needs a purpose in upper case, such as %s", PurposeDuty)
	case p == PurposeAlert || p == PurposeUpdate:
		return fault.Errorf("messages about an alert are scheduled by the engine, not as %s messages", p)
	case m.UserID <= 0:
		return fault.Errorf("a message needs a user")
	case m.Method == "":
		return fault.Errorf("a message needs a method")
	case strings.TrimSpace(m.Subject) == "":
		return fault.Errorf("a message needs a subject")
	case m.DueAt.IsZero():
		return fault.Errorf("a message needs a due time")
	}
	return nil
}

// ScheduleMessages puts messages that are not about an alert in the outbox, in one
// transaction, and returns how many it scheduled.
//
// The contract:
//   - Each message becomes one notification, SCHEDULED, due at DueAt (a time in the past means
//     at once). The engine sends it like a page: by its Method to its Target, with the same
//     retries and backoff, at least once (a replica dying mid-send may send it once more). A
//     replica notices a message due now within its idle bound (a second) unless woken.
//   - Channels render it as Subject and Body alone: no alert, no accept or resolve links, no
//     reply menu. The Subject and Body are final: write them, with times on the recipient's
//     clock, before scheduling.
//   - A message with a DedupKey that an existing notification already has (sent, failed or
//     waiting) is skipped, so a caller that retries, or two replicas doing the same work, do
//     not send it twice. A message without a key is always scheduled.
//   - Its outcome is recorded on the notification only (status, error); there is no alert
//     timeline for it, and no alert's notification list shows it.
//   - Nothing here checks whether the user muted notifications or still has the contact: the
//     caller decides whom to tell and how. A message whose user is deleted before it is sent
//     fails instead of going out.
//
// Returns Invalid, naming the message, when one lacks a user, an upper-case purpose other
// than ALERT or UPDATE, a method, a subject or a due time; then nothing is scheduled. Inside
// another store transaction, call scheduleMessages with its tx so the messages exist if and
// only if their cause is committed.
func (db *DB) ScheduleMessages(ctx context.Context, msgs []NewMessage) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = scheduleMessages(ctx, tx, msgs, db.now())
		return err
	})
	return n, err
}

// scheduleMessages is ScheduleMessages inside tx; now is the creation time in milliseconds.
func scheduleMessages(ctx context.Context, tx *sql.Tx, msgs []NewMessage, now int64) (int, error) {
	for i, m := range msgs {
		if err := m.validate(); err != nil {
			return 0, fault.Errorf("message %d: %s", i, fault.MessageOf(err))
		}
	}
	n := 0
	for _, m := range msgs {
		rule := sql.NullInt64{Int64: m.RuleID, Valid: m.RuleID != 0}
		res, err := tx.ExecContext(ctx, `INSERT INTO notifications (alert_id, purpose, user_id, rule_id, method, target, secret,
			status, due_at, attempt, created_at, subject, body, dedup_key)
			VALUES (NULL, $1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $11, $12) ON CONFLICT (dedup_key) DO NOTHING`,
			m.Purpose, m.UserID, rule, m.Method, m.Target, nullString(m.Secret), NotificationScheduled, ms(m.DueAt), now,
			m.Subject, m.Body, nullString(m.DedupKey))
		if isForeignKeyViolation(err) {
			return 0, fault.NotFoundf("user %d does not exist", m.UserID)
		}
		if err != nil {
			return 0, fmt.Errorf("store: schedule %s message for user %d: %w", m.Purpose, m.UserID, err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	return n, nil
}

// The reminder scan: one row of engine_scans, claimed by one replica at a time.
const scanReminders = "REMINDERS"

// ScanClaim is a claimed run of the reminder scan; completing it needs the lease.
type ScanClaim struct {
	Lease int64
}

// ClaimReminderScan leases the reminder scan until leaseUntil if it is due at now and no other
// replica holds it, and reports whether it did. A lease that ran out (its replica died)
// can be claimed again.
func (db *DB) ClaimReminderScan(ctx context.Context, now, leaseUntil time.Time) (ScanClaim, bool, error) {
	lease := ms(leaseUntil)
	res, err := db.write.ExecContext(ctx, `UPDATE engine_scans SET lease_until = $1
		WHERE name = $2 AND due_at <= $3 AND (lease_until IS NULL OR lease_until < $3)`, lease, scanReminders, ms(now))
	if err != nil {
		return ScanClaim{}, false, fmt.Errorf("store: claim the reminder scan: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return ScanClaim{}, false, fmt.Errorf("store: claim the reminder scan: %w", err)
	}
	return ScanClaim{Lease: lease}, n == 1, nil
}

// PendingReminder is a reminder (PurposeDuty) not tried yet, due after now: one the reminder
// scan may still change or cancel.
type PendingReminder struct {
	ID       int64
	DedupKey string
	Method   string
	Target   string
	Secret   string
	DueAt    time.Time
}

// PendingReminders returns the reminders due after now that no attempt has been made at.
func (db *DB) PendingReminders(ctx context.Context, now time.Time) ([]PendingReminder, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, dedup_key, method, target, COALESCE(secret, ''), due_at FROM notifications
		WHERE status = $1 AND due_at > $2 AND purpose = $3 AND attempt = 0 AND dedup_key IS NOT NULL ORDER BY id`,
		NotificationScheduled, ms(now), PurposeDuty)
	if err != nil {
		return nil, fmt.Errorf("store: pending reminders: %w", err)
	}
	out, err := scanAll(rows, func(row scanner) (PendingReminder, error) {
		var r PendingReminder
		var due int64
		err := row.Scan(&r.ID, &r.DedupKey, &r.Method, &r.Target, &r.Secret, &due)
		r.DueAt = fromMS(due)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending reminders: %w", err)
	}
	return out, nil
}

// ScanOutcome is what a run of the reminder scan writes, atomically.
type ScanOutcome struct {
	Cancel   []int64      // pending reminders (PendingReminders) that no longer hold
	Messages []NewMessage // reminders to schedule; those whose key exists are skipped
	Next     time.Time    // when the scan is due again
}

// CompleteReminderScan writes a scan's outcome in one transaction, but only while the
// claim's lease is still the scan's (no other replica took it over); otherwise it writes
// nothing. Cancelling removes a reminder only while it is still pending (scheduled, not
// tried, not claimed); it happens before the new messages are scheduled, so a reminder that
// changed (another time, method or contact) can be replaced under the same key. It reports
// whether the outcome was written.
func (db *DB) CompleteReminderScan(ctx context.Context, c ScanClaim, out ScanOutcome) (bool, error) {
	written := false
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE engine_scans SET due_at = $1, lease_until = NULL WHERE name = $2 AND lease_until = $3`,
			ms(out.Next), scanReminders, c.Lease)
		if err != nil {
			return fmt.Errorf("store: complete the reminder scan: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // another replica took the scan over
		}
		now := db.now()
		for start := 0; start < len(out.Cancel); start += chunk {
			part := anys(out.Cancel[start:min(start+chunk, len(out.Cancel))])
			n := len(part)
			if _, err := tx.ExecContext(ctx, `DELETE FROM notifications WHERE id IN (`+placeholders(1, n)+`)
				AND purpose = $`+fmt.Sprint(n+1)+` AND status = $`+fmt.Sprint(n+2)+` AND attempt = 0
				AND (lease_until IS NULL OR lease_until < $`+fmt.Sprint(n+3)+`)`,
				append(part, PurposeDuty, NotificationScheduled, now)...); err != nil {
				return fmt.Errorf("store: cancel reminders: %w", err)
			}
		}
		if _, err := scheduleMessages(ctx, tx, out.Messages, now); err != nil {
			return err
		}
		written = true
		return nil
	})
	return written, err
}
