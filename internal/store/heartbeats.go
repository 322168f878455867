package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/heartbeat"
)

const heartbeatColumns = `id, name, state, interval_sec, alert_summary, source_id, integration_key, last_ping_at,
	overdue_source_id, created_at, updated_at`

func scanHeartbeat(row scanner) (heartbeat.Monitor, error) {
	var m heartbeat.Monitor
	var state string
	var lastPing, overdueSource sql.NullInt64
	var created, updated int64
	err := row.Scan(&m.ID, &m.Name, &state, &m.IntervalSec, &m.AlertSummary, &m.SourceID, &m.IntegrationKey, &lastPing,
		&overdueSource, &created, &updated)
	m.State = heartbeat.State(state)
	m.LastPingAt = fromNullMS(lastPing)
	m.OverdueSourceID = overdueSource.Int64
	m.CreatedAt, m.UpdatedAt = fromMS(created), fromMS(updated)
	m.Teams = []auth.TeamRef{}
	return m, err
}

// heartbeatDue is heartbeat.Deadline in SQL: the millisecond at which a monitor last pinged
// at `at` becomes overdue, from its interval_sec. A store test holds the two to each other.
func (d Dialect) heartbeatDue(at string) string {
	greatest := "GREATEST"
	if d == SQLite {
		greatest = "MAX" // SQLite's MAX of several arguments is a scalar function
	}
	return fmt.Sprintf("%s + interval_sec * 1000 + %s(interval_sec * %d, %d)",
		at, greatest, 1000*heartbeat.GracePercent/100, heartbeat.MinGrace.Milliseconds())
}

// CreateHeartbeatMonitor stores a monitor, which the caller has validated (Watcher.Validate),
// in state UNKNOWN with a new integration key, and fills m from the stored rows. Returns
// Invalid if its alert source or a team does not exist, Conflict if the name is taken.
func (db *DB) CreateHeartbeatMonitor(ctx context.Context, m *heartbeat.Monitor) error {
	key := auth.RandomToken(heartbeat.KeyBytes)
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkHeartbeatRefs(ctx, tx, m); err != nil {
			return err
		}
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO heartbeat_monitors (name, interval_sec, alert_summary, source_id,
			integration_key, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
			m.Name, m.IntervalSec, m.AlertSummary, m.SourceID, key, string(heartbeat.Unknown), db.now()).Scan(&id)
		if err != nil {
			return heartbeatWriteError("create heartbeat monitor", m, err)
		}
		if err := replaceHeartbeatTeams(ctx, tx, id, m.Teams); err != nil {
			return err
		}
		*m, err = findHeartbeat(ctx, tx, db.dialect, id)
		return err
	})
}

// UpdateHeartbeatMonitor replaces the name, interval, alert summary, alert source and teams of
// monitor m.ID, which the caller has validated, and fills m from the stored rows. Its key,
// state and last ping stay; its deadline follows the new interval. Returns NotFound if the
// monitor does not exist, and the errors of CreateHeartbeatMonitor.
func (db *DB) UpdateHeartbeatMonitor(ctx context.Context, m *heartbeat.Monitor) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkHeartbeatRefs(ctx, tx, m); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE heartbeat_monitors SET name = $1, interval_sec = $2, alert_summary = $3,
			source_id = $4, updated_at = $5 WHERE id = $6`, m.Name, m.IntervalSec, m.AlertSummary, m.SourceID, db.now(), m.ID)
		what := fmt.Sprintf("update heartbeat monitor %d", m.ID)
		if isUniqueViolation(err) || isForeignKeyViolation(err) {
			return heartbeatWriteError(what, m, err)
		}
		if err := changedOne(res, err, what, fault.NotFoundf("heartbeat monitor %d does not exist", m.ID)); err != nil {
			return err
		}
		// A statement of its own, so that interval_sec is the new one.
		if _, err := tx.ExecContext(ctx, `UPDATE heartbeat_monitors SET due_at = `+db.dialect.heartbeatDue("last_ping_at")+`
			WHERE id = $1`, m.ID); err != nil {
			return fmt.Errorf("store: update heartbeat monitor %d: %w", m.ID, err)
		}
		if err := replaceHeartbeatTeams(ctx, tx, m.ID, m.Teams); err != nil {
			return err
		}
		*m, err = findHeartbeat(ctx, tx, db.dialect, m.ID)
		return err
	})
}

// HeartbeatMonitorExists reports whether the monitor id is there.
func (db *DB) HeartbeatMonitorExists(ctx context.Context, id int64) (bool, error) {
	var one int
	err := db.read.QueryRowContext(ctx, `SELECT 1 FROM heartbeat_monitors WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: heartbeat monitor %d: %w", id, err)
	}
	return true, nil
}

// DeleteHeartbeatMonitor deletes a monitor and returns it as it was. Returns NotFound if it
// does not exist.
func (db *DB) DeleteHeartbeatMonitor(ctx context.Context, id int64) (heartbeat.Monitor, error) {
	var m heartbeat.Monitor
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if m, err = findHeartbeat(ctx, tx, db.dialect, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM heartbeat_monitors WHERE id = $1`, id)
		return changedOne(res, err, fmt.Sprintf("delete heartbeat monitor %d", id), fault.NotFoundf("heartbeat monitor %d does not exist", id))
	})
	return m, err
}

// HeartbeatMonitor returns a monitor with its teams. Returns NotFound if there is none.
func (db *DB) HeartbeatMonitor(ctx context.Context, id int64) (heartbeat.Monitor, error) {
	return findHeartbeat(ctx, db.read, db.dialect, id)
}

func findHeartbeat(ctx context.Context, q querier, d Dialect, id int64) (heartbeat.Monitor, error) {
	return oneHeartbeat(ctx, q, d, `id = $1`, id, fmt.Sprintf("heartbeat monitor %d does not exist", id))
}

// HeartbeatMonitorByName returns the monitor with exactly this name, with its teams. Returns
// NotFound if there is none.
func (db *DB) HeartbeatMonitorByName(ctx context.Context, name string) (heartbeat.Monitor, error) {
	return oneHeartbeat(ctx, db.read, db.dialect, `name = $1`, name, fmt.Sprintf("no heartbeat monitor is named %q", name))
}

// HeartbeatMonitorByKey returns the monitor with this integration key, without its teams, in
// one indexed query: it is on the path of pings. Returns NotFound for an unknown key.
func (db *DB) HeartbeatMonitorByKey(ctx context.Context, key string) (heartbeat.Monitor, error) {
	m, err := scanHeartbeat(db.read.QueryRowContext(ctx, `SELECT `+heartbeatColumns+` FROM heartbeat_monitors
		WHERE integration_key = $1`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return heartbeat.Monitor{}, fault.NotFoundf("no heartbeat monitor has this key")
	}
	if err != nil {
		return heartbeat.Monitor{}, fmt.Errorf("store: find heartbeat monitor by key: %w", err)
	}
	return m, nil
}

func oneHeartbeat(ctx context.Context, q querier, d Dialect, where string, arg any, notFound string) (heartbeat.Monitor, error) {
	m, err := scanHeartbeat(q.QueryRowContext(ctx, `SELECT `+heartbeatColumns+` FROM heartbeat_monitors WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return heartbeat.Monitor{}, fault.New(fault.NotFound, "%s", notFound)
	}
	if err != nil {
		return heartbeat.Monitor{}, fmt.Errorf("store: find heartbeat monitor: %w", err)
	}
	list := []heartbeat.Monitor{m}
	if err := loadHeartbeatTeams(ctx, q, d, list); err != nil {
		return heartbeat.Monitor{}, err
	}
	return list[0], nil
}

// HeartbeatMonitors returns one page of the monitors whose id is above afterID (ilert's
// cursor; 0 for the first page), in id order, with their teams.
func (db *DB) HeartbeatMonitors(ctx context.Context, pg Page, afterID int64) ([]heartbeat.Monitor, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+heartbeatColumns+` FROM heartbeat_monitors WHERE id > $1
		ORDER BY id LIMIT $2 OFFSET $3`, afterID, pg.Max, pg.Start)
	if err != nil {
		return nil, fmt.Errorf("store: list heartbeat monitors: %w", err)
	}
	list := []heartbeat.Monitor{}
	err = eachRow(rows, func() error {
		m, err := scanHeartbeat(rows)
		list = append(list, m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list heartbeat monitors: %w", err)
	}
	if err := loadHeartbeatTeams(ctx, db.read, db.dialect, list); err != nil {
		return nil, err
	}
	return list, nil
}

// loadHeartbeatTeams fills the teams of monitors, with one query.
func loadHeartbeatTeams(ctx context.Context, q querier, d Dialect, list []heartbeat.Monitor) error {
	if len(list) == 0 {
		return nil
	}
	index := make(map[int64]int, len(list))
	ids := make([]int64, len(list))
	for i, m := range list {
		index[m.ID], ids[i] = i, m.ID
	}
	in, args := d.inIDs("mt.monitor_id", 1, ids)
	rows, err := q.QueryContext(ctx, `SELECT mt.monitor_id, t.id, t.name FROM heartbeat_monitor_teams mt
		JOIN teams t ON t.id = mt.team_id WHERE `+in+` ORDER BY mt.monitor_id, t.id`, args...)
	if err != nil {
		return fmt.Errorf("store: teams of heartbeat monitors: %w", err)
	}
	err = eachRow(rows, func() error {
		var id int64
		var t auth.TeamRef
		if err := rows.Scan(&id, &t.ID, &t.Name); err != nil {
			return err
		}
		m := &list[index[id]]
		m.Teams = append(m.Teams, t)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: teams of heartbeat monitors: %w", err)
	}
	return nil
}

// checkHeartbeatRefs returns Invalid if the alert source or a team of m does not exist.
func checkHeartbeatRefs(ctx context.Context, q querier, m *heartbeat.Monitor) error {
	if err := checkExist(ctx, q, "alert_sources", "alert source", []int64{m.SourceID}); err != nil {
		return err
	}
	ids := make([]int64, len(m.Teams))
	for i, t := range m.Teams {
		ids[i] = t.ID
	}
	return checkExist(ctx, q, "teams", "team", ids)
}

// replaceHeartbeatTeams makes teams the whole team list of a monitor.
func replaceHeartbeatTeams(ctx context.Context, tx *sql.Tx, id int64, teams []auth.TeamRef) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM heartbeat_monitor_teams WHERE monitor_id = $1`, id); err != nil {
		return fmt.Errorf("store: clear teams of heartbeat monitor %d: %w", id, err)
	}
	for _, t := range teams {
		if _, err := tx.ExecContext(ctx, `INSERT INTO heartbeat_monitor_teams (monitor_id, team_id) VALUES ($1, $2)`,
			id, t.ID); err != nil {
			return fmt.Errorf("store: add team %d to heartbeat monitor %d: %w", t.ID, id, err)
		}
	}
	return nil
}

// heartbeatWriteError turns a failed write of m into a Conflict when its name is taken (its
// integration key, 256 random bits, cannot be).
func heartbeatWriteError(what string, m *heartbeat.Monitor, err error) error {
	switch {
	case isUniqueViolation(err):
		return fault.New(fault.Conflict, "a heartbeat monitor named %q already exists", m.Name)
	case isForeignKeyViolation(err):
		return fault.Errorf("alert source %d does not exist", m.SourceID)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// pingChunk is the pings one SQLite statement writes (two parameters each).
const pingChunk = 500

// RecordPings writes the latest ping of each monitor: a monitor's last ping only moves
// forward, its deadline follows, and its first ping makes it HEALTHY. An OVERDUE monitor stays
// OVERDUE until its RESOLVE has gone out (see ClaimHeartbeats). Monitors deleted meanwhile are
// skipped. It returns the state of each monitor written. On PostgreSQL the pings travel as two
// arrays, so the statement is the same for any number of them; the monitors are locked in id
// order first, so that two replicas writing the same monitors cannot deadlock.
func (db *DB) RecordPings(ctx context.Context, pings []heartbeat.Ping) (map[int64]heartbeat.State, error) {
	states := make(map[int64]heartbeat.State, len(pings))
	set := `SET last_ping_at = v.at, due_at = ` + db.dialect.heartbeatDue("v.at") + `,
		state = CASE WHEN state = '` + string(heartbeat.Unknown) + `' THEN '` + string(heartbeat.Healthy) + `' ELSE state END`
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		type statement struct {
			query string
			args  []any
		}
		var statements []statement
		if db.dialect == Postgres {
			ids, ats := make([]int64, len(pings)), make([]int64, len(pings))
			for i, p := range pings {
				ids[i], ats[i] = p.MonitorID, ms(p.At)
			}
			if _, err := tx.ExecContext(ctx, `SELECT id FROM heartbeat_monitors WHERE id = ANY($1::bigint[])
				ORDER BY id FOR UPDATE`, ids); err != nil {
				return fmt.Errorf("store: lock heartbeat monitors: %w", err)
			}
			statements = append(statements, statement{`UPDATE heartbeat_monitors AS m ` + set + `
				FROM unnest($1::bigint[], $2::bigint[]) AS v (id, at)
				WHERE m.id = v.id AND (m.last_ping_at IS NULL OR m.last_ping_at < v.at)
				RETURNING m.id, m.state`, []any{ids, ats}})
		} else {
			for start := 0; start < len(pings); start += pingChunk {
				part := pings[start:min(start+pingChunk, len(pings))]
				args := make([]any, 0, 2*len(part))
				values := ""
				for i, p := range part {
					if i > 0 {
						values += ", "
					}
					values += "(?, ?)"
					args = append(args, p.MonitorID, ms(p.At))
				}
				statements = append(statements, statement{`WITH v (id, at) AS (VALUES ` + values + `)
					UPDATE heartbeat_monitors ` + set + ` FROM v
					WHERE heartbeat_monitors.id = v.id
					AND (heartbeat_monitors.last_ping_at IS NULL OR heartbeat_monitors.last_ping_at < v.at)
					RETURNING id, state`, args})
			}
		}
		for _, st := range statements {
			rows, err := tx.QueryContext(ctx, st.query, st.args...)
			if err != nil {
				return fmt.Errorf("store: record heartbeat pings: %w", err)
			}
			err = eachRow(rows, func() error {
				var id int64
				var s string
				err := rows.Scan(&id, &s)
				states[id] = heartbeat.State(s)
				return err
			})
			if err != nil {
				return fmt.Errorf("store: record heartbeat pings: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return states, nil
}

// ClaimHeartbeats leases, until leaseUntil, up to limit monitors whose state disagrees with
// their deadline at now and that no unexpired claim holds: HEALTHY monitors whose deadline has
// passed (they need an ALERT) and OVERDUE monitors whose deadline is ahead again, because a
// ping came (they need a RESOLVE). PostgreSQL replicas skip the monitors another replica is
// claiming. Claims are bookkeeping (see openPostgres): a claim lost in a crash is made again.
func (db *DB) ClaimHeartbeats(ctx context.Context, now, leaseUntil time.Time, limit int) ([]heartbeat.Claim, error) {
	lease := ms(leaseUntil)
	rows, err := db.engine.QueryContext(ctx, `UPDATE heartbeat_monitors SET lease_until = $1 WHERE id IN (
		SELECT id FROM heartbeat_monitors
		WHERE ((state = $2 AND due_at <= $3) OR (state = $4 AND due_at > $3)) AND (lease_until IS NULL OR lease_until < $3)
		ORDER BY due_at LIMIT $5`+db.dialect.skipLocked()+`)
		RETURNING id, name, alert_summary, interval_sec, state, source_id, overdue_source_id, last_ping_at`,
		lease, string(heartbeat.Healthy), ms(now), string(heartbeat.Overdue), limit)
	if err != nil {
		return nil, fmt.Errorf("store: claim heartbeat monitors: %w", err)
	}
	var out []heartbeat.Claim
	err = eachRow(rows, func() error {
		c := heartbeat.Claim{Lease: fromMS(lease)}
		var state string
		var overdueSource sql.NullInt64
		var lastPing int64
		if err := rows.Scan(&c.MonitorID, &c.Name, &c.AlertSummary, &c.IntervalSec, &state, &c.SourceID, &overdueSource,
			&lastPing); err != nil {
			return err
		}
		c.State, c.LastPingAt = heartbeat.State(state), fromMS(lastPing)
		if c.State == heartbeat.Overdue && overdueSource.Valid {
			c.SourceID = overdueSource.Int64
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim heartbeat monitors: %w", err)
	}
	return out, nil
}

// SetHeartbeatState moves a claimed monitor from the state it was claimed in to to, notes the
// alert source of an OVERDUE monitor's alert, and ends the claim, in one conditional update:
// when the claim no longer holds (it lapsed and another replica took the monitor over, or the
// monitor was deleted) nothing is written and it reports false.
func (db *DB) SetHeartbeatState(ctx context.Context, c heartbeat.Claim, to heartbeat.State) (bool, error) {
	var overdueSource sql.NullInt64
	if to == heartbeat.Overdue {
		overdueSource = sql.NullInt64{Int64: c.SourceID, Valid: true}
	}
	res, err := db.engine.ExecContext(ctx, `UPDATE heartbeat_monitors SET state = $1, overdue_source_id = $2, lease_until = NULL
		WHERE id = $3 AND state = $4 AND lease_until = $5`, string(to), overdueSource, c.MonitorID, string(c.State), ms(c.Lease))
	if err != nil {
		return false, fmt.Errorf("store: set state of heartbeat monitor %d: %w", c.MonitorID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: set state of heartbeat monitor %d: %w", c.MonitorID, err)
	}
	return n == 1, nil
}
