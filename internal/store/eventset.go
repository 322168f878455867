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
	// What grouping compares (loaded for the candidates of grouping sources only).
	summary, details string
	openedAt         int64
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
	// A grouping source's events are applied one batch at a time, across replicas too: its
	// row is locked first (sources in id order, then alerts), so two batches cannot both find
	// no alert to group into and both open one, nor lock its alerts in opposite orders.
	var grouping []int64
	for _, w := range works {
		if w.Source.Groups() {
			grouping = append(grouping, w.Source.ID)
		}
	}
	if err := lockRows(ctx, tx, "alert_sources", grouping); err != nil {
		return nil, err
	}
	open, err := loadOpenAlerts(ctx, tx, d, works, openKeys)
	if err != nil {
		return nil, err
	}
	routes, err := loadRoutes(ctx, tx, d, routingKeys)
	if err != nil {
		return nil, err
	}
	groups, err := loadGroups(ctx, tx, d, works, open, now)
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
		if action == alert.ActOpen && src.Groups() {
			if g := groupInto(src, ev, groups[src.ID], now); g != nil {
				st, action, code = g, alert.ActAppend, alert.CodeAppended
			}
		}
		if action == alert.ActOpen && w.InMaintenance { // what would open an alert opens none
			action, code = alert.ActNone, alert.CodeInMaintenance
		}
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
			st = &openState{sourceID: src.ID, openKey: openKeys[i], alertKey: keys[i], status: alert.Pending, eventCount: 1,
				summary: ev.Summary, details: ev.Details, openedAt: now}
			if src.Groups() { // later events of the batch may be grouped into it
				groups[src.ID] = append([]*openState{st}, groups[src.ID]...)
			}
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
	entries := make([]alertLog, len(logs))
	for i, l := range logs {
		entries[i] = alertLog{l.alert.id, l.entry}
	}
	if err := insertLogs(ctx, tx, d, entries, now); err != nil {
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
	sources := map[int64]*alert.Source{}
	for _, w := range works {
		sources[w.Source.ID] = w.Source
	}
	var fresh, appended []EventWork
	var freshIDs, appendedIDs []int64
	for _, na := range inserts {
		if !na.state.resolved {
			fresh, freshIDs = append(fresh, na.work), append(freshIDs, na.state.id)
		}
	}
	for _, st := range touched {
		if st.added > 0 && !st.resolved {
			appended, appendedIDs = append(appended, EventWork{Source: sources[st.sourceID]}), append(appendedIDs, st.id)
		}
	}
	if err := autoResolve(ctx, tx, d, fresh, appended, freshIDs, appendedIDs, now); err != nil {
		return nil, err
	}
	if err := stopEscalation(ctx, tx, d, accepted, UpdateFor(alert.Accepted), now); err != nil {
		return nil, err
	}
	if err := stopEscalation(ctx, tx, d, resolved, UpdateFor(alert.Resolved), now); err != nil {
		return nil, err
	}
	for i, st := range states {
		if st != nil {
			results[i].AlertID = st.id
		}
	}
	return results, nil
}

// groupInto returns the open alert an event that would open a new alert is added to
// instead, by its source's alert creation mode, or nil. candidates are newest first.
func groupInto(src *alert.Source, ev *alert.Event, candidates []*openState, now int64) *openState {
	var open []*openState
	var cs []alert.Candidate
	for _, st := range candidates {
		if !st.resolved {
			open = append(open, st)
			cs = append(cs, alert.Candidate{Status: st.status, OpenedAt: fromMS(st.openedAt), Summary: st.summary, Details: st.details})
		}
	}
	if i := src.GroupInto(ev, cs, fromMS(now)); i >= 0 {
		return open[i]
	}
	return nil
}

// maxCandidates bounds the open alerts INTELLIGENT_GROUPING compares an event with.
const maxCandidates = 50

// loadGroups finds, for each grouping source of the batch, the open alerts its events may be
// grouped into, newest first, and locks them like loadOpenAlerts. An alert also found by its
// key keeps one state.
func loadGroups(ctx context.Context, tx *sql.Tx, d Dialect, works []EventWork, open map[sourceKey]*openState, now int64) (map[int64][]*openState, error) {
	sources := map[int64]*alert.Source{}
	for _, w := range works {
		if w.Source.Groups() && w.Event.Type == alert.EventAlert {
			sources[w.Source.ID] = w.Source
		}
	}
	groups := map[int64][]*openState{}
	for _, id := range slices.Sorted(maps.Keys(sources)) {
		src := sources[id]
		statuses := []any{string(alert.Pending), string(alert.Accepted)}
		if src.AlertCreation == alert.OnePendingAlertAllowed {
			statuses[1] = string(alert.Pending)
		}
		// A few candidates even where one is grouped into (the newest open one): the batch may
		// resolve or accept the newest before an event of it comes to group, and the event
		// then joins the next, as it would in a batch of its own.
		since, limit := int64(0), 5
		if w := src.GroupWindow(); w > 0 {
			since = now - w.Milliseconds()
		}
		if src.AlertCreation == alert.IntelligentGrouping {
			limit = maxCandidates
		}
		rows, err := tx.QueryContext(ctx, `UPDATE alerts SET updated_at = updated_at WHERE id IN (
			SELECT id FROM alerts WHERE source_id = $1 AND status IN ($2, $3) AND report_time >= $4 ORDER BY id DESC LIMIT $5)
			RETURNING id, source_id, open_key, alert_key, status, event_count, summary, details, report_time`,
			append([]any{id}, append(statuses, since, limit)...)...)
		if err != nil {
			return nil, fmt.Errorf("store: find alerts to group into: %w", err)
		}
		var found []*openState
		err = eachRow(rows, func() error {
			st := &openState{}
			err := rows.Scan(&st.id, &st.sourceID, &st.openKey, &st.alertKey, &st.status, &st.eventCount, &st.summary, &st.details, &st.openedAt)
			found = append(found, st)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("store: find alerts to group into: %w", err)
		}
		slices.SortFunc(found, func(a, b *openState) int { return cmp.Compare(b.id, a.id) })
		for _, st := range found {
			k := sourceKey{st.sourceID, st.openKey}
			if known, ok := open[k]; ok {
				known.summary, known.details, known.openedAt = st.summary, st.details, st.openedAt
				st = known
			} else {
				open[k] = st
			}
			groups[id] = append(groups[id], st)
		}
	}
	return groups, nil
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
				string(na.work.priority()), nullInt(ev.Severity), jsonOrNull(ev.Images), jsonOrNull(ev.Links),
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

// alertLog is a log entry to write on an alert's timeline.
type alertLog struct {
	alertID int64
	entry   alert.Entry
}

// insertLogs writes log entries, all at time now.
func insertLogs(ctx context.Context, tx *sql.Tx, d Dialect, logs []alertLog, now int64) error {
	rows := make([][]any, len(logs))
	for i, l := range logs {
		rows[i] = []any{l.alertID, now, l.entry.Type, l.entry.Text, jsonOrNull(l.entry.Vars)}
	}
	if err := d.insertAll(ctx, tx, "log_entries", logColumns, rows); err != nil {
		return fmt.Errorf("store: write log entries: %w", err)
	}
	return nil
}
