package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// EventWork is one validated event for a known alert source.
type EventWork struct {
	Source *alert.Source
	Event  *alert.Event
	// Priority is the priority of an alert the event opens, as the source's rules decided;
	// empty means alert.PriorityFor.
	Priority alert.Priority
	// InMaintenance is true when the source is in a maintenance window: the event opens no
	// alert (it may still change open ones).
	InMaintenance bool
}

// priority is the priority of an alert w opens.
func (w EventWork) priority() alert.Priority {
	if w.Priority != "" {
		return w.Priority
	}
	return alert.PriorityFor(w.Source, w.Event)
}

// EventResult is what an event did: the alert it touched (0 when none) and the response code.
type EventResult struct {
	AlertID  int64
	AlertKey string
	Code     string
	Opened   bool
}

// ApplyEvents applies events in order in a single transaction: the group commit. Either
// every event is committed or, on error, none is.
//
// The batch is applied set-wise: one query finds the open alerts of all its keys, the alert
// core decides each event in order in memory, and the writes go out as a few multi-row
// statements. Two rare cases go event by event instead: a key opened twice within the batch,
// and a key another replica opened at the same moment.
func (db *DB) ApplyEvents(ctx context.Context, works []EventWork) ([]EventResult, error) {
	now := db.now()
	var results []EventResult
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		results, err = applySet(ctx, tx, db.dialect, works, now)
		return err
	})
	if errors.Is(err, errEventByEvent) {
		err = db.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			results, err = applyEach(ctx, tx, db.dialect, works, now)
			return err
		})
	}
	if isForeignKeyViolation(err) {
		return nil, fault.NotFoundf("the alert source or its escalation policy no longer exists")
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}

// applyEach applies the events one at a time, each as a batch of its own. An event whose key
// another replica opened at the same moment is applied again: by then that alert is
// committed (the insert waited for it) and the event is added to it.
func applyEach(ctx context.Context, tx *sql.Tx, d Dialect, works []EventWork, now int64) ([]EventResult, error) {
	results := make([]EventResult, len(works))
	for i := range works {
		var err error
		for range 3 {
			var res []EventResult
			if res, err = applySet(ctx, tx, d, works[i:i+1], now); err == nil {
				results[i] = res[0]
				break
			}
			if !errors.Is(err, errEventByEvent) {
				return nil, err
			}
		}
		if err != nil {
			return nil, fmt.Errorf("store: the alert key %q of an event kept conflicting: %w", works[i].Event.AlertKey, err)
		}
	}
	return results, nil
}

const (
	qInsertAlert = `INSERT INTO alerts (source_id, escalation_policy_id, alert_key, open_key, summary, details, status,
		priority, severity, images, links, labels, custom_details, event_count, report_time, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14, $14)
		ON CONFLICT (source_id, open_key) DO NOTHING RETURNING id`
	qInsertLog = `INSERT INTO log_entries (alert_id, created_at, type, text, vars) VALUES ($1, $2, $3, $4, $5)`
)

// setAlertStatus moves an open alert to ACCEPTED or RESOLVED. Resolving clears the open key,
// so the next ALERT with that key opens a new alert.
func setAlertStatus(ctx context.Context, q querier, d Dialect, alertID int64, to alert.Status, now int64) error {
	var err error
	switch to {
	case alert.Accepted:
		_, err = q.ExecContext(ctx, `UPDATE alerts SET status = $2, accepted_at = $3, updated_at = $3 WHERE id = $1`,
			alertID, string(to), now)
	case alert.Resolved:
		_, err = q.ExecContext(ctx, `UPDATE alerts SET status = $2, open_key = NULL, resolved_on = $3, updated_at = $3 WHERE id = $1`,
			alertID, string(to), now)
	default:
		return fault.Errorf("cannot set an alert to %s", to)
	}
	if err != nil {
		return fmt.Errorf("store: set alert %d to %s: %w", alertID, to, err)
	}
	return stopEscalation(ctx, q, d, []int64{alertID}, UpdateFor(to), now)
}

// UpdateFor is the update rule type that tells paged people an alert reached status to.
func UpdateFor(to alert.Status) string {
	if to == alert.Resolved {
		return "ALERT_RESOLVED"
	}
	return "ALERT_ACCEPTED"
}

// jsonOrNull encodes v, or returns NULL for an empty value.
func jsonOrNull(v any) sql.NullString {
	switch x := v.(type) {
	case []alert.Image:
		if len(x) == 0 {
			return sql.NullString{}
		}
	case []alert.Link:
		if len(x) == 0 {
			return sql.NullString{}
		}
	case map[string]string:
		if len(x) == 0 {
			return sql.NullString{}
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

func rawOrNull(raw json.RawMessage) sql.NullString {
	return sql.NullString{String: string(raw), Valid: len(raw) > 0}
}

func nullInt(v *int) sql.NullInt64 {
	if v == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*v), Valid: true}
}
