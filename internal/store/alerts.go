package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// AlertFilter selects alerts; empty fields select everything.
type AlertFilter struct {
	States     []alert.Status
	Sources    []int64
	Policies   []int64
	Responders []int64 // assigned to, or a responder of, any of these users
	From       *time.Time
	Until      *time.Time
}

// where renders the filter as a WHERE clause over alias a, with its arguments.
func (f AlertFilter) where() (string, []any) {
	var conds []string
	var args []any
	list := func(vals []any) string { // adds vals as arguments and returns "($n, ...)"
		ph := make([]string, len(vals))
		for i, v := range vals {
			args = append(args, v)
			ph[i] = "$" + strconv.Itoa(len(args))
		}
		return "(" + strings.Join(ph, ", ") + ")"
	}
	if len(f.States) > 0 {
		vals := make([]any, len(f.States))
		for i, st := range f.States {
			vals[i] = string(st)
		}
		conds = append(conds, "a.status IN "+list(vals))
	}
	if len(f.Sources) > 0 {
		conds = append(conds, "a.source_id IN "+list(anys(f.Sources)))
	}
	if len(f.Policies) > 0 {
		conds = append(conds, "a.escalation_policy_id IN "+list(anys(f.Policies)))
	}
	if len(f.Responders) > 0 {
		conds = append(conds, "(a.assigned_user_id IN "+list(anys(f.Responders))+
			" OR EXISTS (SELECT 1 FROM alert_responders r WHERE r.alert_id = a.id AND r.user_id IN "+list(anys(f.Responders))+"))")
	}
	if f.From != nil {
		args = append(args, ms(*f.From))
		conds = append(conds, "a.report_time >= $"+strconv.Itoa(len(args)))
	}
	if f.Until != nil {
		args = append(args, ms(*f.Until))
		conds = append(conds, "a.report_time <= $"+strconv.Itoa(len(args)))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func anys(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

const alertSelect = `SELECT a.id, a.summary, a.details, a.report_time, a.resolved_on, a.status, a.source_id, s.name,
	s.integration_type, a.escalation_policy_id, COALESCE(p.name, ''), a.priority, a.alert_key, a.severity, a.images,
	a.links, a.labels, a.custom_details, a.event_count, a.accepted_at, a.updated_at, a.assigned_user_id
	FROM alerts a JOIN alert_sources s ON s.id = a.source_id
	LEFT JOIN escalation_policies p ON p.id = a.escalation_policy_id`

func scanAlert(row scanner) (alert.Alert, sql.NullInt64, error) {
	var a alert.Alert
	var report, updated int64
	var resolved, accepted, assignee, severity sql.NullInt64
	var images, links, labels, custom sql.NullString
	err := row.Scan(&a.ID, &a.Summary, &a.Details, &report, &resolved, &a.Status, &a.AlertSource.ID, &a.AlertSource.Name,
		&a.AlertSource.IntegrationType, &a.EscalationPolicy.ID, &a.EscalationPolicy.Name, &a.Priority, &a.AlertKey,
		&severity, &images, &links, &labels, &custom, &a.EventCount, &accepted, &updated, &assignee)
	if err != nil {
		return a, assignee, err
	}
	a.ReportTime, a.UpdatedAt = fromMS(report), fromMS(updated)
	a.ResolvedOn, a.AcceptedAt = fromNullMS(resolved), fromNullMS(accepted)
	if severity.Valid {
		v := int(severity.Int64)
		a.Severity = &v
	}
	a.Images, a.Links = []alert.Image{}, []alert.Link{}
	if images.Valid {
		json.Unmarshal([]byte(images.String), &a.Images)
	}
	if links.Valid {
		json.Unmarshal([]byte(links.String), &a.Links)
	}
	if labels.Valid {
		json.Unmarshal([]byte(labels.String), &a.Labels)
	}
	if custom.Valid {
		a.CustomDetails = json.RawMessage(custom.String)
	}
	a.MergeState = "NONE"
	a.Responders = []alert.Responder{}
	return a, assignee, nil
}

// Alert returns one alert with its responders. Returns NotFound if it does not exist.
func (db *DB) Alert(ctx context.Context, id int64) (alert.Alert, error) {
	list, err := db.queryAlerts(ctx, db.read, alertSelect+" WHERE a.id = $1", id)
	if err != nil {
		return alert.Alert{}, err
	}
	if len(list) == 0 {
		return alert.Alert{}, fault.NotFoundf("alert %d does not exist", id)
	}
	return list[0], nil
}

// Alerts lists alerts matching the filter, newest first.
func (db *DB) Alerts(ctx context.Context, f AlertFilter, p Page) ([]alert.Alert, error) {
	where, args := f.where()
	args = append(args, p.Max, p.Start)
	q := alertSelect + where + fmt.Sprintf(" ORDER BY a.id DESC LIMIT $%d OFFSET $%d", len(args)-1, len(args))
	return db.queryAlerts(ctx, db.read, q, args...)
}

// CountAlerts counts the alerts matching the filter.
func (db *DB) CountAlerts(ctx context.Context, f AlertFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := db.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM alerts a"+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count alerts: %w", err)
	}
	return n, nil
}

// queryAlerts runs an alertSelect query and fills assignees and responders.
func (db *DB) queryAlerts(ctx context.Context, q querier, query string, args ...any) ([]alert.Alert, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list alerts: %w", err)
	}
	defer rows.Close()
	list := []alert.Alert{}
	assignees := map[int]int64{}
	for rows.Next() {
		a, assignee, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scan alert: %w", err)
		}
		if assignee.Valid {
			assignees[len(list)] = assignee.Int64
		}
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list alerts: %w", err)
	}
	rows.Close()
	if len(list) == 0 {
		return list, nil
	}
	for i, uid := range assignees {
		acc, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM users WHERE id = $1`, uid))
		if err == nil {
			list[i].AssignedTo = &acc
		}
	}
	return list, db.fillResponders(ctx, q, list)
}

func (db *DB) fillResponders(ctx context.Context, q querier, list []alert.Alert) error {
	ph := make([]string, len(list))
	args := make([]any, len(list))
	index := map[int64]int{}
	for i, a := range list {
		ph[i], args[i] = "$"+strconv.Itoa(i+1), a.ID
		index[a.ID] = i
	}
	rows, err := q.QueryContext(ctx, `SELECT r.alert_id, r.user_id, u.first_name, u.last_name, r.status, r.accepted_at
		FROM alert_responders r JOIN users u ON u.id = r.user_id
		WHERE r.alert_id IN (`+strings.Join(ph, ", ")+`) ORDER BY r.created_at, r.user_id`, args...)
	if err != nil {
		return fmt.Errorf("store: alert responders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var alertID int64
		var r alert.Responder
		var accepted sql.NullInt64
		if err := rows.Scan(&alertID, &r.User.ID, &r.User.FirstName, &r.User.LastName, &r.Status, &accepted); err != nil {
			return fmt.Errorf("store: scan responder: %w", err)
		}
		r.AcceptedAt = fromNullMS(accepted)
		i := index[alertID]
		list[i].Responders = append(list[i].Responders, r)
	}
	return rows.Err()
}

// ManualAlert is an alert opened by hand (ilert's ManualAlert).
type ManualAlert struct {
	Summary    string
	Details    string
	SourceID   int64
	PolicyID   int64 // 0: the source's policy
	Priority   alert.Priority
	Images     []alert.Image
	Links      []alert.Link
	Responders []int64
}

// CreateManualAlert opens an alert on behalf of a user. A responder listed twice is added once.
// Returns Invalid for an unknown source, policy or responder.
func (db *DB) CreateManualAlert(ctx context.Context, m ManualAlert, by auth.Account) (alert.Alert, error) {
	var id int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		src, err := findSource(ctx, tx, fmt.Sprintf("alertSource %d", m.SourceID), `id = $1`, m.SourceID)
		if fault.Is(err, fault.NotFound) {
			return fault.Errorf("alertSource %d does not exist", m.SourceID)
		}
		if err != nil {
			return err
		}
		if m.PolicyID == 0 {
			m.PolicyID = src.PolicyID
		} else if err := checkPolicyExists(ctx, tx, m.PolicyID, fault.Invalid); err != nil {
			return err
		}
		if m.Priority == "" {
			m.Priority = alert.PriorityFor(src, &alert.Event{})
		}
		now := db.now()
		key := auth.RandomToken(12)
		err = tx.QueryRowContext(ctx, qInsertAlert, m.SourceID, m.PolicyID, key, alert.KeyOf(key), m.Summary, m.Details,
			string(alert.Pending), string(m.Priority), nil, jsonOrNull(m.Images), jsonOrNull(m.Links), nil, nil, now).Scan(&id)
		if err != nil {
			return fmt.Errorf("store: create manual alert: %w", err)
		}
		if err := addLog(ctx, tx, id, now, alert.LogCreatedByUser, "Alert created by "+fullName(by), nil); err != nil {
			return err
		}
		if err := insertStartTimers(ctx, tx, db.dialect, []int64{id}, now); err != nil {
			return err
		}
		added := map[int64]bool{}
		for _, uid := range m.Responders {
			if added[uid] {
				continue
			}
			added[uid] = true
			if err := addResponder(ctx, tx, id, uid, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return alert.Alert{}, err
	}
	return db.Alert(ctx, id)
}

// SetAlertStatus accepts or resolves an alert on behalf of a user and records the response.
// Accepting an accepted alert or resolving a resolved one changes nothing; changing a resolved
// alert is Invalid.
func (db *DB) SetAlertStatus(ctx context.Context, id int64, to alert.Status, by auth.Account) (alert.Alert, error) {
	err := db.inTx(ctx, func(tx *sql.Tx) error { return db.respond(ctx, tx, id, to, by, "", db.now()) })
	if err != nil {
		return alert.Alert{}, err
	}
	return db.Alert(ctx, id)
}

// respond accepts or resolves an alert for a user; via says how, when not through the API
// ("email link", "SMS", "voice call").
func (db *DB) respond(ctx context.Context, tx *sql.Tx, id int64, to alert.Status, by auth.Account, via string, now int64) error {
	from, err := lockAlert(ctx, tx, id)
	if err != nil {
		return err
	}
	changed, err := alert.CanTransition(from, to)
	if err != nil || !changed {
		return err
	}
	if err := setAlertStatus(ctx, tx, db.dialect, id, to, now); err != nil {
		return err
	}
	if to == alert.Accepted {
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_responders (alert_id, user_id, status, accepted_at, created_at)
			VALUES ($1, $2, $3, $4, $4) ON CONFLICT (alert_id, user_id) DO UPDATE SET status = excluded.status,
			accepted_at = excluded.accepted_at`, id, by.ID, string(alert.Accepted), now); err != nil {
			return fmt.Errorf("store: record responder: %w", err)
		}
	}
	verb := map[alert.Status]string{alert.Accepted: "accepted", alert.Resolved: "resolved"}[to]
	text := "Alert " + verb + " by " + fullName(by)
	vars := map[string]string{"userId": strconv.FormatInt(by.ID, 10)}
	if via != "" {
		text += " by " + via
		vars["via"] = via
	}
	return addLog(ctx, tx, id, now, alert.LogUserResponse, text, vars)
}

// AssignAlert assigns an open alert to a user (who becomes a responder) and/or moves it to
// another escalation policy. Returns Invalid for an unknown user or policy or a resolved alert.
func (db *DB) AssignAlert(ctx context.Context, id, userID, policyID int64, by auth.Account) (alert.Alert, error) {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		from, err := lockAlert(ctx, tx, id)
		if err != nil {
			return err
		}
		if from == alert.Resolved {
			return fault.Errorf("alert %d is resolved and cannot be assigned", id)
		}
		now := db.now()
		if userID != 0 {
			var first, last string
			err := tx.QueryRowContext(ctx, `SELECT first_name, last_name FROM users WHERE id = $1`, userID).Scan(&first, &last)
			if errors.Is(err, sql.ErrNoRows) {
				return fault.Errorf("user %d does not exist", userID)
			}
			if err != nil {
				return fmt.Errorf("store: assign alert: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE alerts SET assigned_user_id = $2, updated_at = $3 WHERE id = $1`, id, userID, now); err != nil {
				return fmt.Errorf("store: assign alert %d: %w", id, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO alert_responders (alert_id, user_id, status, created_at)
				VALUES ($1, $2, $3, $4) ON CONFLICT (alert_id, user_id) DO NOTHING`, id, userID, string(alert.Pending), now); err != nil {
				return fmt.Errorf("store: assign alert %d: %w", id, err)
			}
			if err := addLog(ctx, tx, id, now, alert.LogAssignedByUser, fmt.Sprintf("Alert assigned to %s %s by %s", first, last, fullName(by)),
				map[string]string{"userId": strconv.FormatInt(userID, 10)}); err != nil {
				return err
			}
		}
		if policyID != 0 {
			var name string
			err := tx.QueryRowContext(ctx, `SELECT name FROM escalation_policies WHERE id = $1`, policyID).Scan(&name)
			if errors.Is(err, sql.ErrNoRows) {
				return fault.Errorf("escalation policy %d does not exist", policyID)
			}
			if err != nil {
				return fmt.Errorf("store: assign alert: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE alerts SET escalation_policy_id = $2, updated_at = $3 WHERE id = $1`, id, policyID, now); err != nil {
				return fmt.Errorf("store: assign alert %d: %w", id, err)
			}
			if err := addLog(ctx, tx, id, now, "AlertAssignedToPolicyLogEntry", fmt.Sprintf("Alert assigned to escalation policy %s by %s", name, fullName(by)),
				map[string]string{"policyId": strconv.FormatInt(policyID, 10)}); err != nil {
				return err
			}
			if from == alert.Pending { // escalate along the new policy from its first level
				if err := stopEscalation(ctx, tx, db.dialect, []int64{id}, "", now); err != nil {
					return err
				}
				if err := insertStartTimers(ctx, tx, db.dialect, []int64{id}, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return alert.Alert{}, err
	}
	return db.Alert(ctx, id)
}

// CommentAlert adds a user's comment to an alert's timeline.
func (db *DB) CommentAlert(ctx context.Context, id int64, text string, by auth.Account) (alert.LogEntry, error) {
	var e alert.LogEntry
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := alertStatus(ctx, tx, id); err != nil {
			return err
		}
		now := db.now()
		vars := map[string]string{"userId": strconv.FormatInt(by.ID, 10)}
		if err := tx.QueryRowContext(ctx, qInsertLog+" RETURNING id", id, now, alert.LogCommentByUser, text, jsonOrNull(vars)).Scan(&e.ID); err != nil {
			return fmt.Errorf("store: comment on alert %d: %w", id, err)
		}
		e = alert.LogEntry{ID: e.ID, Timestamp: fromMS(now), LogEntryType: alert.LogCommentByUser, Text: text, AlertID: id,
			FilterTypes: alert.FilterTypes(alert.LogCommentByUser), Vars: vars}
		return nil
	})
	return e, err
}

// AddResponder adds a user as a responder of an alert. Returns NotFound if the alert does not
// exist, Invalid if the user does not, and Conflict if they already are a responder.
func (db *DB) AddResponder(ctx context.Context, id, userID int64, by auth.Account) (alert.Responder, error) {
	var r alert.Responder
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// Locked, the alert cannot be deleted (with its source) before the insert, so a
		// foreign-key failure there can only mean the user is gone.
		if _, err := lockAlert(ctx, tx, id); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT id, first_name, last_name FROM users WHERE id = $1`, userID).
			Scan(&r.User.ID, &r.User.FirstName, &r.User.LastName)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.Errorf("user %d does not exist", userID)
		}
		if err != nil {
			return fmt.Errorf("store: add responder: %w", err)
		}
		now := db.now()
		if err := addResponder(ctx, tx, id, userID, now); err != nil {
			return err
		}
		r.Status = alert.Pending
		return addLog(ctx, tx, id, now, alert.LogAssignedByUser,
			fmt.Sprintf("%s %s added as responder by %s", r.User.FirstName, r.User.LastName, fullName(by)),
			map[string]string{"userId": strconv.FormatInt(userID, 10)})
	})
	return r, err
}

// RemoveResponder removes a responder from an alert. Returns NotFound if they are not one.
func (db *DB) RemoveResponder(ctx context.Context, id, userID int64, by auth.Account) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM alert_responders WHERE alert_id = $1 AND user_id = $2`, id, userID)
		if err != nil {
			return fmt.Errorf("store: remove responder: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.NotFoundf("user %d is not a responder of alert %d", userID, id)
		}
		return addLog(ctx, tx, id, db.now(), alert.LogResponderRemoved, fmt.Sprintf("Responder %d removed by %s", userID, fullName(by)),
			map[string]string{"userId": strconv.FormatInt(userID, 10)})
	})
}

// LogEntries returns one page of an alert's timeline, oldest first: every entry, or only those
// of the given log filter types (see alert.LogFilterFor). Returns NotFound if the alert does
// not exist.
func (db *DB) LogEntries(ctx context.Context, id int64, filterTypes []string, p Page) ([]alert.LogEntry, error) {
	if _, err := alertStatus(ctx, db.read, id); err != nil {
		return nil, err
	}
	f := alert.LogFilterFor(filterTypes)
	if !f.Except && len(f.Types) == 0 {
		return []alert.LogEntry{}, nil
	}
	q := `SELECT id, created_at, type, text, vars FROM log_entries WHERE alert_id = $1`
	args := []any{id}
	if len(f.Types) > 0 {
		in := " IN "
		if f.Except {
			in = " NOT IN "
		}
		q += " AND type" + in + "(" + placeholders(2, len(f.Types)) + ")"
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	args = append(args, p.Max, p.Start)
	q += fmt.Sprintf(" ORDER BY id LIMIT $%d OFFSET $%d", len(args)-1, len(args))
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: log entries of alert %d: %w", id, err)
	}
	defer rows.Close()
	out := []alert.LogEntry{}
	for rows.Next() {
		var e alert.LogEntry
		var at int64
		var vars sql.NullString
		if err := rows.Scan(&e.ID, &at, &e.LogEntryType, &e.Text, &vars); err != nil {
			return nil, fmt.Errorf("store: scan log entry: %w", err)
		}
		e.AlertID, e.Timestamp, e.FilterTypes = id, fromMS(at), alert.FilterTypes(e.LogEntryType)
		if vars.Valid {
			if err := json.Unmarshal([]byte(vars.String), &e.Vars); err != nil {
				return nil, fmt.Errorf("store: vars of log entry %d: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: log entries of alert %d: %w", id, err)
	}
	return out, nil
}

// lockAlert returns an alert's status and locks the alert until the transaction ends, so the
// status cannot change between this check and the caller's update (an event resolving it on
// another connection, say).
func lockAlert(ctx context.Context, tx *sql.Tx, id int64) (alert.Status, error) {
	var st alert.Status
	err := tx.QueryRowContext(ctx, `UPDATE alerts SET updated_at = updated_at WHERE id = $1 RETURNING status`, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fault.NotFoundf("alert %d does not exist", id)
	}
	if err != nil {
		return "", fmt.Errorf("store: lock alert %d: %w", id, err)
	}
	return st, nil
}

func alertStatus(ctx context.Context, q querier, id int64) (alert.Status, error) {
	var st alert.Status
	err := q.QueryRowContext(ctx, `SELECT status FROM alerts WHERE id = $1`, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fault.NotFoundf("alert %d does not exist", id)
	}
	if err != nil {
		return "", fmt.Errorf("store: alert %d: %w", id, err)
	}
	return st, nil
}

func addLog(ctx context.Context, q querier, alertID, now int64, typ, text string, vars map[string]string) error {
	if _, err := q.ExecContext(ctx, qInsertLog, alertID, now, typ, text, jsonOrNull(vars)); err != nil {
		return fmt.Errorf("store: log on alert %d: %w", alertID, err)
	}
	return nil
}

// addResponder adds a pending responder to an alert the caller's transaction has created or
// locked, so a foreign-key failure means the user does not exist.
func addResponder(ctx context.Context, q querier, alertID, userID, now int64) error {
	_, err := q.ExecContext(ctx, `INSERT INTO alert_responders (alert_id, user_id, status, created_at) VALUES ($1, $2, $3, $4)`,
		alertID, userID, string(alert.Pending), now)
	switch {
	case isUniqueViolation(err):
		return fault.New(fault.Conflict, "user %d is already a responder of alert %d", userID, alertID)
	case isForeignKeyViolation(err):
		return fault.Errorf("user %d does not exist", userID)
	case err != nil:
		return fmt.Errorf("store: add responder: %w", err)
	}
	return nil
}

func fullName(a auth.Account) string {
	if name := strings.TrimSpace(a.FirstName + " " + a.LastName); name != "" {
		return name
	}
	return a.Email
}
