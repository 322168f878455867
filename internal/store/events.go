package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// EventWork is one validated event for a known alert source.
type EventWork struct {
	Source *alert.Source
	Event  *alert.Event
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

// applyEach applies the events one at a time, with a statement or two per event.
func applyEach(ctx context.Context, tx *sql.Tx, d Dialect, works []EventWork, now int64) ([]EventResult, error) {
	results := make([]EventResult, len(works))
	b := &batch{tx: tx, dialect: d, stmts: map[string]*sql.Stmt{}}
	defer b.close()
	for i := range works {
		r, err := b.apply(ctx, works[i], now)
		if err != nil {
			return nil, err
		}
		results[i] = r
	}
	return results, nil
}

// batch holds the statements of one group-commit transaction, each prepared once.
type batch struct {
	tx      *sql.Tx
	dialect Dialect
	stmts   map[string]*sql.Stmt
}

func (b *batch) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := b.stmts[query]; ok {
		return s, nil
	}
	s, err := b.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	b.stmts[query] = s
	return s, nil
}

func (b *batch) close() {
	for _, s := range b.stmts {
		s.Close()
	}
}

func (b *batch) exec(ctx context.Context, query string, args ...any) error {
	s, err := b.stmt(ctx, query)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(ctx, args...)
	return err
}

func (b *batch) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := b.stmt(ctx, query)
	if err != nil {
		// A failed prepare shows up as the row's error.
		return b.tx.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

const (
	qOpenAlert = `UPDATE alerts SET updated_at = updated_at WHERE source_id = $1 AND open_key = $2
		RETURNING id, status, alert_key, event_count` // finds and locks; see loadOpenAlerts
	qInsertAlert = `INSERT INTO alerts (source_id, escalation_policy_id, alert_key, open_key, summary, details, status,
		priority, severity, images, links, labels, custom_details, event_count, report_time, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14, $14)
		ON CONFLICT (source_id, open_key) DO NOTHING RETURNING id`
	qAppendEvent = `UPDATE alerts SET event_count = event_count + 1, updated_at = $2 WHERE id = $1`
	qInsertLog   = `INSERT INTO log_entries (alert_id, created_at, type, text, vars) VALUES ($1, $2, $3, $4, $5)`
)

// apply applies one event inside the batch's transaction.
func (b *batch) apply(ctx context.Context, w EventWork, now int64) (EventResult, error) {
	ev, src := w.Event, w.Source
	key := ev.AlertKey
	if key == "" { // ALERT without a key always opens a new alert; give it a key to act on later
		key = auth.RandomToken(12)
	}
	open, err := b.openAlert(ctx, src.ID, key)
	if err != nil {
		return EventResult{}, err
	}
	action, code := alert.Decide(ev, open)
	res := EventResult{AlertKey: key, Code: code}
	if open != nil {
		res.AlertID, res.AlertKey = open.ID, open.AlertKey
	}
	var entries []alert.Entry
	count := 0
	switch action {
	case alert.ActNone:
		return res, nil
	case alert.ActOpen:
		id, route, err := b.openNew(ctx, src, ev, key, now)
		if err != nil {
			return EventResult{}, err
		}
		if id == 0 { // another replica opened the same key first: add to its alert
			if open, err = b.openAlert(ctx, src.ID, key); err != nil {
				return EventResult{}, err
			}
			if open == nil {
				return EventResult{}, fmt.Errorf("store: alert key %q conflicted but no open alert has it", key)
			}
			action, res.AlertID, res.AlertKey, res.Code = alert.ActAppend, open.ID, open.AlertKey, alert.CodeAppended
			break
		}
		res.AlertID, res.Opened, count = id, true, 1
		entries = append(entries, route...)
	}
	switch action {
	case alert.ActAppend:
		if err := b.exec(ctx, qAppendEvent, open.ID, now); err != nil {
			return EventResult{}, fmt.Errorf("store: add event to alert %d: %w", open.ID, err)
		}
		count = open.EventCount + 1
	case alert.ActAccept:
		err = setAlertStatus(ctx, b.tx, open.ID, alert.Accepted, now)
	case alert.ActResolve:
		err = setAlertStatus(ctx, b.tx, open.ID, alert.Resolved, now)
	}
	if err == nil && res.Opened {
		err = insertStartTimers(ctx, b.tx, b.dialect, []int64{res.AlertID}, now)
	}
	if err != nil {
		return EventResult{}, err
	}
	if e, ok := alert.EventEntry(action, src.Name, ev, count); ok {
		entries = append([]alert.Entry{e}, entries...)
	}
	for _, e := range append(entries, alert.CommentEntries(ev)...) {
		if err := b.exec(ctx, qInsertLog, res.AlertID, now, e.Type, e.Text, jsonOrNull(e.Vars)); err != nil {
			return EventResult{}, fmt.Errorf("store: log on alert %d: %w", res.AlertID, err)
		}
	}
	return res, nil
}

func (b *batch) openAlert(ctx context.Context, sourceID int64, key string) (*alert.Alert, error) {
	var a alert.Alert
	err := b.queryRow(ctx, qOpenAlert, sourceID, alert.KeyOf(key)).Scan(&a.ID, &a.Status, &a.AlertKey, &a.EventCount)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: find open alert: %w", err)
	}
	return &a, nil
}

// openNew inserts a new alert and returns its id with the timeline entry of its routing key,
// if it has one. The id is 0 when an open alert with the key appeared concurrently (the
// unique index on open keys said no).
func (b *batch) openNew(ctx context.Context, src *alert.Source, ev *alert.Event, key string, now int64) (int64, []alert.Entry, error) {
	policyID := src.PolicyID
	var route []alert.Entry
	if ev.RoutingKey != "" {
		var name string
		err := b.queryRow(ctx, `SELECT id, name FROM escalation_policies WHERE routing_key = $1`, ev.RoutingKey).Scan(&policyID, &name)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, nil, fmt.Errorf("store: policy by routing key: %w", err)
		}
		if err != nil {
			policyID = src.PolicyID
		}
		route = append(route, alert.RouteEntry(ev.RoutingKey, name))
	}
	var id int64
	err := b.queryRow(ctx, qInsertAlert, src.ID, policyID, key, alert.KeyOf(key), ev.Summary, ev.Details, string(alert.Pending),
		string(alert.PriorityFor(src, ev)), nullInt(ev.Severity), jsonOrNull(ev.Images), jsonOrNull(ev.Links),
		jsonOrNull(ev.Labels), rawOrNull(ev.CustomDetails), now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("store: open alert: %w", err)
	}
	return id, route, nil
}

// setAlertStatus moves an open alert to ACCEPTED or RESOLVED. Resolving clears the open key,
// so the next ALERT with that key opens a new alert.
func setAlertStatus(ctx context.Context, q querier, alertID int64, to alert.Status, now int64) error {
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
	return stopEscalation(ctx, q, []int64{alertID}, UpdateFor(to), now)
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
