package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Preview is what an event would do, as a dry run found: the Events API's result, and the
// alert it would open or touch as it would then be.
type Preview struct {
	Result     EventResult
	Alert      AlertState // zero when the event touches no alert
	Summary    string
	PolicyName string
}

// errDryRun rolls a dry run's transaction back.
var errDryRun = errors.New("store: dry run")

// DryRun applies an event at the given time exactly as ApplyEvents would, in a transaction it
// then rolls back, so nothing is written and nobody is paged.
func (db *DB) DryRun(ctx context.Context, w EventWork, at time.Time) (Preview, error) {
	var p Preview
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := applyEach(ctx, tx, db.dialect, []EventWork{w}, ms(at))
		if err != nil {
			return err
		}
		p = Preview{Result: res[0]}
		if p.Result.AlertID == 0 {
			return errDryRun
		}
		a := &p.Alert
		err = tx.QueryRowContext(ctx, `SELECT a.id, a.status, a.priority, a.escalation_policy_id, a.summary, COALESCE(e.name, '')
			FROM alerts a LEFT JOIN escalation_policies e ON e.id = a.escalation_policy_id WHERE a.id = $1`, p.Result.AlertID).
			Scan(&a.ID, &a.Status, &a.Priority, &a.PolicyID, &p.Summary, &p.PolicyName)
		if err != nil {
			return fmt.Errorf("store: dry run: read the alert: %w", err)
		}
		return errDryRun
	})
	if errors.Is(err, errDryRun) {
		return p, nil
	}
	if isForeignKeyViolation(err) {
		return Preview{}, fmt.Errorf("store: dry run: %w", errors.Join(err, errors.New("the alert source or its escalation policy no longer exists")))
	}
	return Preview{}, err
}
