package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
)

// errEventByEvent says a batch must be applied event by event (see ApplyEvents).
var errEventByEvent = errors.New("store: batch needs event-by-event application")

// openState is what the set-wise application knows of one open alert while it decides a
// batch: its state before the batch plus the batch's changes so far.
type openState struct {
	id         int64 // 0 for an alert this batch opens, until it is inserted
	sourceID   int64
	openKey    string
	alertKey   string
	status     alert.Status
	eventCount int
	added      int // events added by this batch to an existing alert
	accepted   bool
	resolved   bool
	insert     *newAlert // set when this batch opens the alert
}

type newAlert struct {
	work     EventWork
	policyID int64
	state    *openState
}

type logRow struct {
	alert *openState
	entry alert.Entry
}

type sourceKey struct {
	sourceID int64
	openKey  string
}

// applySet applies a batch with a handful of statements whatever its size.
func applySet(ctx context.Context, tx *sql.Tx, d Dialect, works []EventWork, now int64) ([]EventResult, error) {
	keys := make([]string, len(works))
	var openKeys, routingKeys []string
	for i, w := range works {
		keys[i] = w.Event.AlertKey
		if keys[i] == "" { // ALERT without a key always opens a new alert; give it a key to act on later
			keys[i] = auth.RandomToken(12)
		}
		openKeys = append(openKeys, alert.KeyOf(keys[i]))
		if w.Event.Type == alert.EventAlert && w.Event.RoutingKey != "" {
			routingKeys = append(routingKeys, w.Event.RoutingKey)
		}
	}
	open, err := loadOpenAlerts(ctx, tx, d, works, openKeys)
	if err != nil {
		return nil, err
	}
	routes, err := loadRoutes(ctx, tx, d, routingKeys)
	if err != nil {
		return nil, err
	}

	results := make([]EventResult, len(works))
	states := make([]*openState, len(works))
	var inserts []*newAlert
	var touched []*openState
	var logs []logRow
	opened := map[sourceKey]bool{}
	for i, w := range works {
		ev, src := w.Event, w.Source
		k := sourceKey{src.ID, openKeys[i]}
		st := open[k]
		var current *alert.Alert
		if st != nil {
			current = &alert.Alert{Status: st.status}
		}
		action, code := alert.Decide(ev, current)
		results[i] = EventResult{AlertKey: keys[i], Code: code}
		if st != nil { // the answer names the open alert, as stored, even when nothing changes
			states[i] = st
			results[i].AlertKey = st.alertKey
		}
		var route []alert.Entry
		switch action {
		case alert.ActNone:
			continue
		case alert.ActOpen:
			if opened[k] { // the batch reopens a key it opened: the insert would clash with itself
				return nil, errEventByEvent
			}
			opened[k] = true
			st = &openState{sourceID: src.ID, openKey: openKeys[i], alertKey: keys[i], status: alert.Pending, eventCount: 1}
			na := &newAlert{work: w, policyID: src.PolicyID, state: st}
			st.insert = na
			inserts = append(inserts, na)
			open[k] = st
			results[i].Opened = true
			if ev.RoutingKey != "" {
				r, ok := routes[ev.RoutingKey]
				if ok {
					na.policyID = r.id
				}
				route = append(route, alert.RouteEntry(ev.RoutingKey, r.name))
			}
		case alert.ActAppend:
			st.eventCount++
			if st.insert == nil {
				st.added++
			}
		case alert.ActAccept:
			st.status, st.accepted = alert.Accepted, true
		case alert.ActResolve:
			st.status, st.resolved = alert.Resolved, true
			delete(open, k) // resolved: the next ALERT with this key opens a new alert
		}
		if e, ok := alert.EventEntry(action, src.Name, ev, st.eventCount); ok {
			logs = append(logs, logRow{st, e})
		}
		for _, e := range append(route, alert.CommentEntries(ev)...) {
			logs = append(logs, logRow{st, e})
		}
		if st.insert == nil && !containsState(touched, st) {
			touched = append(touched, st)
		}
		states[i] = st
		results[i].AlertKey = st.alertKey
	}

	// New keys in a fixed order too: PostgreSQL makes an insert wait for another transaction
	// inserting the same key, and two batches waiting on each other would deadlock.
	slices.SortFunc(inserts, func(a, b *newAlert) int {
		return cmp.Or(cmp.Compare(a.state.openKey, b.state.openKey), cmp.Compare(a.state.sourceID, b.state.sourceID))
	})
	// Existing alerts first, so an alert resolved here frees its key before a new one takes it.
	for _, st := range touched {
		if err := updateOpenAlert(ctx, tx, st, now); err != nil {
			return nil, err
		}
	}
	if err := insertAlerts(ctx, tx, d, inserts, now); err != nil {
		return nil, err
	}
	for _, na := range inserts {
		if na.state.resolved { // opened and resolved in one batch
			if err := updateOpenAlert(ctx, tx, na.state, now); err != nil {
				return nil, err
			}
		}
	}
	if err := insertLogs(ctx, tx, d, logs, now); err != nil {
		return nil, err
	}
	var started, accepted, resolved []int64
	for _, na := range inserts {
		if na.state.status == alert.Pending {
			started = append(started, na.state.id)
		}
	}
	for _, st := range touched {
		switch {
		case st.resolved:
			resolved = append(resolved, st.id)
		case st.accepted:
			accepted = append(accepted, st.id)
		}
	}
	if err := insertStartTimers(ctx, tx, d, started, now); err != nil {
		return nil, err
	}
	if err := stopEscalation(ctx, tx, accepted, UpdateFor(alert.Accepted), now); err != nil {
		return nil, err
	}
	if err := stopEscalation(ctx, tx, resolved, UpdateFor(alert.Resolved), now); err != nil {
		return nil, err
	}
	for i, st := range states {
		if st != nil {
			results[i].AlertID = st.id
		}
	}
	return results, nil
}

func containsState(list []*openState, st *openState) bool {
	for _, s := range list {
		if s == st {
			return true
		}
	}
	return false
}

// chunk is the most rows one multi-row statement carries, well inside both engines' limits
// on statement parameters.
const chunk = 200

// loadOpenAlerts finds the open alerts of the batch's keys, one query per alert source so
// that each uses the (source_id, open_key) index.
func loadOpenAlerts(ctx context.Context, tx *sql.Tx, d Dialect, works []EventWork, openKeys []string) (map[sourceKey]*openState, error) {
	bySource := map[int64][]string{}
	seen := map[sourceKey]bool{}
	for i, k := range openKeys {
		sk := sourceKey{works[i].Source.ID, k}
		if !seen[sk] {
			seen[sk] = true
			bySource[sk.sourceID] = append(bySource[sk.sourceID], k)
		}
	}
	open := map[sourceKey]*openState{}
	// Sources and keys in a fixed order, so that two replicas' batches lock the same alerts in
	// the same order and cannot deadlock.
	sources := slices.Sorted(maps.Keys(bySource))
	for _, sourceID := range sources {
		keys := bySource[sourceID]
		slices.Sort(keys)
		for start := 0; start < len(keys); start += chunk {
			part := keys[start:min(start+chunk, len(keys))]
			in, args := d.inText("open_key", 2, part)
			// The no-op update locks the rows it returns until the commit, on both engines: an
			// alert resolved meanwhile by another transaction is not returned (PostgreSQL
			// checks the row again after waiting), and none can change it before this commits.
			rows, err := tx.QueryContext(ctx, `UPDATE alerts SET updated_at = updated_at
				WHERE source_id = `+d.params(1, 1)+` AND `+in+` RETURNING id, source_id, open_key, alert_key, status, event_count`,
				append([]any{sourceID}, args...)...)
			if err != nil {
				return nil, fmt.Errorf("store: find open alerts: %w", err)
			}
			for rows.Next() {
				st := &openState{}
				if err := rows.Scan(&st.id, &st.sourceID, &st.openKey, &st.alertKey, &st.status, &st.eventCount); err != nil {
					rows.Close()
					return nil, fmt.Errorf("store: scan open alert: %w", err)
				}
				open[sourceKey{st.sourceID, st.openKey}] = st
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("store: find open alerts: %w", err)
			}
		}
	}
	return open, nil
}

type route struct {
	id   int64
	name string
}

// loadRoutes finds the escalation policies of the batch's routing keys.
func loadRoutes(ctx context.Context, tx *sql.Tx, d Dialect, routingKeys []string) (map[string]route, error) {
	routes := map[string]route{}
	if len(routingKeys) == 0 {
		return routes, nil
	}
	in, args := d.inText("routing_key", 1, routingKeys)
	rows, err := tx.QueryContext(ctx, `SELECT id, name, routing_key FROM escalation_policies WHERE `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("store: policies by routing key: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r route
		var key string
		if err := rows.Scan(&r.id, &r.name, &key); err != nil {
			return nil, fmt.Errorf("store: scan policy: %w", err)
		}
		routes[key] = r
	}
	return routes, rows.Err()
}

// updateOpenAlert writes the batch's changes to one alert.
func updateOpenAlert(ctx context.Context, tx *sql.Tx, st *openState, now int64) error {
	var acceptedAt, resolvedOn sql.NullInt64
	openKey := sql.NullString{String: st.openKey, Valid: true}
	if st.accepted {
		acceptedAt = sql.NullInt64{Int64: now, Valid: true}
	}
	if st.resolved {
		resolvedOn = sql.NullInt64{Int64: now, Valid: true}
		openKey = sql.NullString{}
	}
	_, err := tx.ExecContext(ctx, `UPDATE alerts SET event_count = event_count + $2, status = $3,
		accepted_at = COALESCE(accepted_at, $4), resolved_on = COALESCE(resolved_on, $5), open_key = $6, updated_at = $7
		WHERE id = $1`, st.id, st.added, string(st.status), acceptedAt, resolvedOn, openKey, now)
	if err != nil {
		return fmt.Errorf("store: update alert %d: %w", st.id, err)
	}
	return nil
}

var alertColumns = []column{{"source_id", "bigint"}, {"escalation_policy_id", "bigint"}, {"alert_key", "text"},
	{"open_key", "text"}, {"summary", "text"}, {"details", "text"}, {"status", "text"}, {"priority", "text"},
	{"severity", "bigint"}, {"images", "text"}, {"links", "text"}, {"labels", "text"}, {"custom_details", "text"},
	{"event_count", "bigint"}, {"report_time", "bigint"}, {"updated_at", "bigint"}, {"accepted_at", "bigint"}}

// insertAlerts inserts the alerts the batch opens and learns their ids. If another replica
// opened one of their keys meanwhile, the batch must go event by event.
func insertAlerts(ctx context.Context, tx *sql.Tx, d Dialect, inserts []*newAlert, now int64) error {
	for start := 0; start < len(inserts); start += chunk {
		part := inserts[start:min(start+chunk, len(inserts))]
		rows := make([][]any, len(part))
		byKey := make(map[sourceKey]*openState, len(part))
		for i, na := range part {
			ev, src, st := na.work.Event, na.work.Source, na.state
			var acceptedAt sql.NullInt64
			if st.accepted {
				acceptedAt = sql.NullInt64{Int64: now, Valid: true}
			}
			rows[i] = []any{src.ID, na.policyID, st.alertKey, st.openKey, ev.Summary, ev.Details, string(st.status),
				string(alert.PriorityFor(src, ev)), nullInt(ev.Severity), jsonOrNull(ev.Images), jsonOrNull(ev.Links),
				jsonOrNull(ev.Labels), rawOrNull(ev.CustomDetails), st.eventCount, now, now, acceptedAt}
			byKey[sourceKey{src.ID, st.openKey}] = st
		}
		query, args := d.insertRows("alerts", alertColumns, rows,
			"ON CONFLICT (source_id, open_key) DO NOTHING RETURNING id, source_id, open_key")
		result, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("store: open alerts: %w", err)
		}
		n := 0
		for result.Next() {
			var id, sourceID int64
			var openKey string
			if err := result.Scan(&id, &sourceID, &openKey); err != nil {
				result.Close()
				return fmt.Errorf("store: scan new alert: %w", err)
			}
			if st := byKey[sourceKey{sourceID, openKey}]; st != nil {
				st.id = id
				n++
			}
		}
		result.Close()
		if err := result.Err(); err != nil {
			return fmt.Errorf("store: open alerts: %w", err)
		}
		if n != len(part) {
			return errEventByEvent
		}
	}
	return nil
}

var logColumns = []column{{"alert_id", "bigint"}, {"created_at", "bigint"}, {"type", "text"}, {"text", "text"}, {"vars", "text"}}

// insertLogs writes the batch's log entries.
func insertLogs(ctx context.Context, tx *sql.Tx, d Dialect, logs []logRow, now int64) error {
	for start := 0; start < len(logs); start += chunk {
		part := logs[start:min(start+chunk, len(logs))]
		rows := make([][]any, len(part))
		for i, l := range part {
			rows[i] = []any{l.alert.id, now, l.entry.Type, l.entry.Text, jsonOrNull(l.entry.Vars)}
		}
		query, args := d.insertRows("log_entries", logColumns, rows, "")
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("store: write log entries: %w", err)
		}
	}
	return nil
}
