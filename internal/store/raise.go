package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// Log entry types of raising an alert's priority.
const (
	LogRaisedBySystem = "AlertRaisedBySystemLogEntry"
	LogRaisedByUser   = "AlertRaisedByUserLogEntry"
)

// SourceTimer is a claimed auto-raise of an alert source: at DueAt its pending LOW alerts
// become HIGH.
type SourceTimer struct {
	SourceID int64
	DueAt    time.Time
	Lease    int64
}

// setRaise schedules the next auto-raise of a source, or removes it when at is nil.
func setRaise(ctx context.Context, q querier, sourceID int64, at *time.Time) error {
	var err error
	if at == nil {
		_, err = q.ExecContext(ctx, `DELETE FROM source_timers WHERE source_id = $1`, sourceID)
	} else {
		_, err = q.ExecContext(ctx, `INSERT INTO source_timers (source_id, due_at) VALUES ($1, $2)
			ON CONFLICT (source_id) DO UPDATE SET due_at = excluded.due_at, lease_until = NULL`, sourceID, ms(*at))
	}
	if err != nil {
		return fmt.Errorf("store: schedule the auto-raise of alert source %d: %w", sourceID, err)
	}
	return nil
}

// ClaimRaises leases up to limit auto-raises due at now until leaseUntil.
func (db *DB) ClaimRaises(ctx context.Context, now, leaseUntil time.Time, limit int) ([]SourceTimer, error) {
	lease := ms(leaseUntil)
	rows, err := db.engine.QueryContext(ctx, `UPDATE source_timers SET lease_until = $1 WHERE source_id IN (
		SELECT source_id FROM source_timers WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
		ORDER BY due_at LIMIT $3`+db.dialect.skipLocked()+`) RETURNING source_id, due_at`, lease, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: claim auto-raises: %w", err)
	}
	var out []SourceTimer
	err = eachRow(rows, func() error {
		t := SourceTimer{Lease: lease}
		var due int64
		err := rows.Scan(&t.SourceID, &due)
		t.DueAt = fromMS(due)
		out = append(out, t)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim auto-raises: %w", err)
	}
	return out, nil
}

// RaiseSource raises the pending LOW alerts of a claimed auto-raise's source to HIGH, logs it
// on each, starts their high-priority paging from the first level, and moves the auto-raise to
// next (or removes it when next is nil): one transaction, written only while the claim holds.
// It returns the alerts raised. It commits synchronously: raised priorities are what users see.
func (db *DB) RaiseSource(ctx context.Context, t SourceTimer, next *time.Time) ([]int64, error) {
	var raised []int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		raised = nil
		res, err := tx.ExecContext(ctx, `UPDATE source_timers SET lease_until = NULL WHERE source_id = $1 AND lease_until = $2`,
			t.SourceID, t.Lease)
		if err != nil {
			return fmt.Errorf("store: auto-raise of alert source %d: %w", t.SourceID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // another replica took it over, or the source changed its rules
		}
		if err := setRaise(ctx, tx, t.SourceID, next); err != nil {
			return err
		}
		now := db.now()
		rows, err := tx.QueryContext(ctx, `UPDATE alerts SET priority = $1, updated_at = $2
			WHERE source_id = $3 AND status = $4 AND priority = $5 RETURNING id`,
			string(alert.High), now, t.SourceID, string(alert.Pending), string(alert.Low))
		if err != nil {
			return fmt.Errorf("store: auto-raise of alert source %d: %w", t.SourceID, err)
		}
		err = eachRow(rows, func() error {
			var id int64
			err := rows.Scan(&id)
			raised = append(raised, id)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: auto-raise of alert source %d: %w", t.SourceID, err)
		}
		return startRaised(ctx, tx, db.dialect, raised, LogRaisedBySystem, "Alert raised to HIGH priority: support hours changed", now)
	})
	if err != nil {
		return nil, err
	}
	return raised, nil
}

// startRaised logs the raise of alerts now HIGH and starts paging them by the high-priority
// rules from their policy's first level.
func startRaised(ctx context.Context, tx *sql.Tx, d Dialect, ids []int64, logType, text string, now int64) error {
	if len(ids) == 0 {
		return nil
	}
	logs := make([]alertLog, len(ids))
	for i, id := range ids {
		logs[i] = alertLog{id, alert.Entry{Type: logType, Text: text}}
	}
	if err := insertLogs(ctx, tx, d, logs, now); err != nil {
		return err
	}
	if err := stopEscalation(ctx, tx, d, ids, "", now); err != nil {
		return err
	}
	return insertStartTimers(ctx, tx, d, ids, now)
}

// RaiseAlert raises a LOW alert to HIGH for a user; a pending alert then pages by the
// high-priority rules from its policy's first level. Raising a HIGH alert changes nothing.
// Returns NotFound if the alert does not exist and Invalid if it is resolved.
func (db *DB) RaiseAlert(ctx context.Context, id int64, by auth.Account) (alert.Alert, error) {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		status, err := lockAlert(ctx, tx, id)
		if err != nil {
			return err
		}
		if status == alert.Resolved {
			return fault.Errorf("alert %d is resolved and cannot be raised", id)
		}
		var priority string
		if err := tx.QueryRowContext(ctx, `SELECT priority FROM alerts WHERE id = $1`, id).Scan(&priority); err != nil {
			return fmt.Errorf("store: raise alert %d: %w", id, err)
		}
		if alert.Priority(priority) == alert.High {
			return nil
		}
		now := db.now()
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET priority = $2, updated_at = $3 WHERE id = $1`,
			id, string(alert.High), now); err != nil {
			return fmt.Errorf("store: raise alert %d: %w", id, err)
		}
		text := "Alert raised to HIGH priority by " + fullName(by)
		if status != alert.Pending {
			return addLog(ctx, tx, id, now, LogRaisedByUser, text, map[string]string{"userId": strconv.FormatInt(by.ID, 10)})
		}
		return startRaised(ctx, tx, db.dialect, []int64{id}, LogRaisedByUser, text, now)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return alert.Alert{}, fault.NotFoundf("alert %d does not exist", id)
	}
	if err != nil {
		return alert.Alert{}, err
	}
	return db.Alert(ctx, id)
}
