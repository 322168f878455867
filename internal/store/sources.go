package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/heartbeat"
	"github.com/tocsinhq/tocsin/internal/supporthours"
)

// Alert source statuses (ilert's AlertSource.status), derived on read.
const (
	SourcePending       = "PENDING"
	SourceAllAccepted   = "ALL_ACCEPTED"
	SourceAllResolved   = "ALL_RESOLVED"
	SourceDisabled      = "DISABLED"
	SourceInMaintenance = "IN_MAINTENANCE"
)

// integrationKeyBytes is the randomness of a generated integration key: 192 bits.
const integrationKeyBytes = 24

// sourceColumns are the columns scanSource reads, in order. The config column holds the JSON
// of the whole alert.Source as written, so every ilert field round-trips; the other columns
// are what tocsin queries by and win over the copy inside config.
const sourceColumns = `id, name, integration_type, integration_key, escalation_policy_id, active, config,
	created_at, updated_at`

// CreateSource validates s, checks that its escalation policy and teams exist and stores it.
// It generates an integration key unless s carries one. It sets the id, key and timestamps
// of s. Status, IntegrationURL and the full EscalationPolicy are left to the caller.
// Returns Invalid for a bad source or an unknown policy or team, Conflict if the integration
// key is taken.
//
// When next is not nil, the source's next auto-raise is worked out by it in the transaction,
// from the support hours of s.HoursRefs as they are then (locked, so that an update of them
// waits, and then moves this raise too); otherwise s.RaiseAt is stored as it is.
func (db *DB) CreateSource(ctx context.Context, s *alert.Source, next NextRaise) error {
	s.Normalize()
	s.IntegrationKey = strings.TrimSpace(s.IntegrationKey)
	if err := s.Validate(); err != nil {
		return err
	}
	if s.IntegrationKey == "" {
		s.IntegrationKey = auth.RandomToken(integrationKeyBytes)
	}
	now := db.Now().UTC().Truncate(time.Millisecond)
	s.CreatedAt, s.UpdatedAt = now, now
	return db.inTx(ctx, func(tx *sql.Tx) error {
		// Support hours first, then teams: the order support hours' own updates lock them in.
		if err := lockRows(ctx, tx, "support_hours", s.HoursRefs); err != nil {
			return err
		}
		if err := checkSourceRefs(ctx, tx, s); err != nil {
			return err
		}
		config, err := sourceConfig(s)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO alert_sources (name, integration_type, integration_key,
			escalation_policy_id, active, config, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
			s.Name, s.IntegrationType, s.IntegrationKey, s.PolicyID, s.IsActive(), config, ms(now)).Scan(&s.ID)
		if err != nil {
			return sourceWriteError("create alert source", err)
		}
		return saveSourceRules(ctx, tx, s, next)
	})
}

// UpdateSource replaces the source s.ID. It keeps the integration key unless s carries a new
// one. Returns NotFound if the source does not exist, and the errors of CreateSource; next is
// as there.
func (db *DB) UpdateSource(ctx context.Context, s *alert.Source, next NextRaise) error {
	s.Normalize()
	s.IntegrationKey = strings.TrimSpace(s.IntegrationKey)
	if err := s.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := lockRows(ctx, tx, "support_hours", s.HoursRefs); err != nil {
			return err
		}
		var key string
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT integration_key, created_at FROM alert_sources WHERE id = $1`,
			s.ID).Scan(&key, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.NotFoundf("alert source %d does not exist", s.ID)
		}
		if err != nil {
			return fmt.Errorf("store: update alert source %d: %w", s.ID, err)
		}
		if err := checkSourceRefs(ctx, tx, s); err != nil {
			return err
		}
		if s.IntegrationKey == "" {
			s.IntegrationKey = key
		}
		s.CreatedAt = fromMS(created)
		s.UpdatedAt = db.Now().UTC().Truncate(time.Millisecond)
		config, err := sourceConfig(s)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE alert_sources SET name = $1, integration_type = $2, integration_key = $3,
			escalation_policy_id = $4, active = $5, config = $6, updated_at = $7 WHERE id = $8`,
			s.Name, s.IntegrationType, s.IntegrationKey, s.PolicyID, s.IsActive(), config, ms(s.UpdatedAt), s.ID)
		if err != nil {
			return sourceWriteError(fmt.Sprintf("update alert source %d", s.ID), err)
		}
		return saveSourceRules(ctx, tx, s, next)
	})
}

// DeleteSource deletes a source and, through the foreign keys, its alerts. Returns NotFound
// if it does not exist.
//
// Its heartbeat monitors go with it. It returns those that were OVERDUE with their alert on
// another source (they were moved here after it opened): no ping can resolve that alert any
// more, so the caller resolves it.
func (db *DB) DeleteSource(ctx context.Context, id int64) ([]heartbeat.Monitor, error) {
	var orphans []heartbeat.Monitor
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		orphans = nil
		rows, err := tx.QueryContext(ctx, `SELECT id, overdue_source_id FROM heartbeat_monitors
			WHERE source_id = $1 AND state = $2 AND overdue_source_id IS NOT NULL AND overdue_source_id <> $1 ORDER BY id`,
			id, string(heartbeat.Overdue))
		if err != nil {
			return fmt.Errorf("store: heartbeat monitors of alert source %d: %w", id, err)
		}
		err = eachRow(rows, func() error {
			m := heartbeat.Monitor{State: heartbeat.Overdue}
			err := rows.Scan(&m.ID, &m.OverdueSourceID)
			orphans = append(orphans, m)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: heartbeat monitors of alert source %d: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM alert_sources WHERE id = $1`, id)
		return changedOne(res, err, fmt.Sprintf("delete alert source %d", id), fault.NotFoundf("alert source %d does not exist", id))
	})
	if err != nil {
		return nil, err
	}
	return orphans, nil
}

// SourceByID returns a source without its status. Returns NotFound if it does not exist.
func (db *DB) SourceByID(ctx context.Context, id int64) (*alert.Source, error) {
	return findSource(ctx, db.read, fmt.Sprintf("alert source %d", id), `id = $1`, id)
}

// SourceByIntegrationKey returns the source with this integration key, without its status,
// in one indexed query: it is on the path of every event. Returns NotFound for an unknown key.
func (db *DB) SourceByIntegrationKey(ctx context.Context, key string) (*alert.Source, error) {
	return findSource(ctx, db.read, "the alert source with this integration key", `integration_key = $1`, key)
}

// SourceByName returns the source with exactly this name; of several, the oldest. Its status
// is not set. Returns NotFound if there is none.
func (db *DB) SourceByName(ctx context.Context, name string) (*alert.Source, error) {
	return findSource(ctx, db.read, fmt.Sprintf("alert source named %q", name),
		`id = (SELECT MIN(id) FROM alert_sources WHERE name = $1)`, name)
}

// SourceByIDOrKey returns the source with this id when ref is a number and one has it, else
// the source with ref as integration key. Its status is not set. Returns NotFound if neither
// exists.
func (db *DB) SourceByIDOrKey(ctx context.Context, ref string) (*alert.Source, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil && id > 0 {
		s, err := db.SourceByID(ctx, id)
		if !fault.Is(err, fault.NotFound) {
			return s, err
		}
	}
	s, err := db.SourceByIntegrationKey(ctx, ref)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.NotFoundf("alert source %q does not exist", ref)
	}
	return s, err
}

// Sources returns a page of sources ordered by id, statuses set.
func (db *DB) Sources(ctx context.Context, pg Page) ([]*alert.Source, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+sourceColumns+` FROM alert_sources ORDER BY id LIMIT $1 OFFSET $2`,
		pg.Max, pg.Start)
	if err != nil {
		return nil, fmt.Errorf("store: list alert sources: %w", err)
	}
	sources := []*alert.Source{}
	err = eachRow(rows, func() error {
		s, err := scanSource(rows)
		if err != nil {
			return err
		}
		sources = append(sources, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list alert sources: %w", err)
	}
	if err := db.SetSourceStatus(ctx, sources...); err != nil {
		return nil, err
	}
	return sources, nil
}

// SetSourceStatus derives the status of sources, which must be ordered by id, from their open
// alerts: DISABLED when inactive, else IN_MAINTENANCE in a maintenance window, else PENDING if
// any alert is pending, else ALL_ACCEPTED if any is accepted, else ALL_RESOLVED. Two queries
// serve the whole list.
func (db *DB) SetSourceStatus(ctx context.Context, sources ...*alert.Source) error {
	if len(sources) == 0 {
		return nil
	}
	lo, hi := sources[0].ID, sources[len(sources)-1].ID
	// open_key is NULL once an alert is resolved, so the (source_id, open_key) index finds the
	// open alerts without reading the resolved ones.
	rows, err := db.read.QueryContext(ctx, `SELECT source_id, status FROM alerts
		WHERE source_id BETWEEN $1 AND $2 AND open_key IS NOT NULL AND status <> $3
		GROUP BY source_id, status`, lo, hi, string(alert.Resolved))
	if err != nil {
		return fmt.Errorf("store: alert source status: %w", err)
	}
	open := map[int64]map[alert.Status]bool{}
	err = eachRow(rows, func() error {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return err
		}
		if open[id] == nil {
			open[id] = map[alert.Status]bool{}
		}
		open[id][alert.Status(st)] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: alert source status: %w", err)
	}
	maintenance, err := db.SourcesInMaintenance(ctx, db.Now())
	if err != nil {
		return err
	}
	for _, s := range sources {
		switch {
		case !s.IsActive():
			s.Status = SourceDisabled
		case maintenance[s.ID]:
			s.Status = SourceInMaintenance
		case open[s.ID][alert.Pending]:
			s.Status = SourcePending
		case open[s.ID][alert.Accepted]:
			s.Status = SourceAllAccepted
		default:
			s.Status = SourceAllResolved
		}
	}
	return nil
}

// findSource reads the one source matching where (a condition on alert_sources with $1).
// what names the source in errors.
func findSource(ctx context.Context, q querier, what, where string, arg any) (*alert.Source, error) {
	row := q.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM alert_sources WHERE `+where, arg)
	s, err := scanSource(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("%s does not exist", what)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", what, err)
	}
	return s, nil
}

// scanSource reads sourceColumns. EscalationPolicy comes back as a reference {"id": n}.
func scanSource(row scanner) (*alert.Source, error) {
	var (
		id, policyID, created, updated int64
		name, typ, key, config         string
		active                         bool
	)
	if err := row.Scan(&id, &name, &typ, &key, &policyID, &active, &config, &created, &updated); err != nil {
		return nil, err
	}
	s := &alert.Source{}
	if err := json.Unmarshal([]byte(config), s); err != nil {
		return nil, fmt.Errorf("alert source %d: stored config: %w", id, err)
	}
	s.ID, s.Name, s.IntegrationType, s.IntegrationKey = id, name, typ, key
	s.PolicyID = policyID
	s.EscalationPolicy = json.RawMessage(fmt.Sprintf(`{"id":%d}`, policyID))
	s.Active = &active
	s.CreatedAt, s.UpdatedAt = fromMS(created), fromMS(updated)
	if s.Teams == nil {
		s.Teams = []auth.TeamRef{}
	}
	return s, nil
}

// sourceConfig returns the JSON stored in the config column: the source as written, less the
// fields that are derived on read.
func sourceConfig(s *alert.Source) (string, error) {
	c := *s
	c.ID, c.IntegrationURL, c.Status = 0, "", ""
	c.EscalationPolicy = json.RawMessage(fmt.Sprintf(`{"id":%d}`, s.PolicyID))
	b, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("store: encode alert source: %w", err)
	}
	return string(b), nil
}

// checkSourceRefs returns Invalid if the policy or a team of s does not exist, and fills the
// names of its teams.
func checkSourceRefs(ctx context.Context, q querier, s *alert.Source) error {
	if err := checkPolicyExists(ctx, q, s.PolicyID, fault.Invalid); err != nil {
		return err
	}
	seen := map[int64]bool{}
	ids := make([]int64, 0, len(s.Teams))
	for _, t := range s.Teams {
		if t.ID <= 0 {
			return fault.Errorf("teams[].id is required")
		}
		if seen[t.ID] {
			return fault.Errorf("team %d is listed twice in teams", t.ID)
		}
		seen[t.ID] = true
		ids = append(ids, t.ID)
	}
	// Locked, so that a team deleted or renamed meanwhile waits for this write and then
	// finds it (refreshSourceTeams).
	if err := lockRows(ctx, q, "teams", ids); err != nil {
		return err
	}
	names, err := lookupNames(ctx, q, "teams", "name", "team", ids)
	if err != nil {
		return err
	}
	for i := range s.Teams {
		s.Teams[i].Name = names[s.Teams[i].ID]
	}
	return nil
}

// refreshSourceTeams keeps the teams that alert sources list (kept in their config, which the
// Events API reads on every event without a join) true to team id: renamed to name, or
// removed from every source when deleted. The caller holds the team's row lock.
func refreshSourceTeams(ctx context.Context, tx *sql.Tx, id int64, name string, deleted bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, config FROM alert_sources`)
	if err != nil {
		return fmt.Errorf("store: read alert sources for team %d: %w", id, err)
	}
	changed := map[int64]string{}
	err = eachRow(rows, func() error {
		var sourceID int64
		var config string
		if err := rows.Scan(&sourceID, &config); err != nil {
			return err
		}
		var c map[string]json.RawMessage
		if err := json.Unmarshal([]byte(config), &c); err != nil {
			return fmt.Errorf("alert source %d: stored config: %w", sourceID, err)
		}
		var teams []auth.TeamRef
		if len(c["teams"]) > 0 {
			if err := json.Unmarshal(c["teams"], &teams); err != nil {
				return fmt.Errorf("alert source %d: stored teams: %w", sourceID, err)
			}
		}
		i := slices.IndexFunc(teams, func(t auth.TeamRef) bool { return t.ID == id })
		switch {
		case i < 0 || (!deleted && teams[i].Name == name):
			return nil
		case deleted:
			teams = slices.Delete(teams, i, i+1)
		default:
			teams[i].Name = name
		}
		b, err := json.Marshal(teams)
		if err != nil {
			return err
		}
		c["teams"] = b
		if b, err = json.Marshal(c); err != nil {
			return err
		}
		changed[sourceID] = string(b)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: alert sources of team %d: %w", id, err)
	}
	for sourceID, config := range changed {
		if _, err := tx.ExecContext(ctx, `UPDATE alert_sources SET config = $1 WHERE id = $2`, config, sourceID); err != nil {
			return fmt.Errorf("store: update the teams of alert source %d: %w", sourceID, err)
		}
	}
	return nil
}

// sourceWriteError turns a failed write into a Conflict when the integration key is taken.
func sourceWriteError(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return fault.New(fault.Conflict, "another alert source already has this integrationKey")
	case isForeignKeyViolation(err):
		return fault.Errorf("the escalation policy does not exist")
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// saveSourceRules writes what a source's rules need beyond its row: its next auto-raise
// (worked out by next, when not nil, from the support hours as the transaction reads them)
// and the support hours it uses.
func saveSourceRules(ctx context.Context, tx *sql.Tx, s *alert.Source, next NextRaise) error {
	if next != nil && len(s.HoursRefs) > 0 {
		hours := make([]supporthours.Hours, 0, len(s.HoursRefs))
		for _, id := range s.HoursRefs {
			h, err := findSupportHours(ctx, tx, fmt.Sprintf("support hours %d", id), `id = $1`, id)
			if fault.Is(err, fault.NotFound) {
				return fault.Errorf("support hours %d do not exist", id)
			}
			if err != nil {
				return err
			}
			hours = append(hours, h)
		}
		at, err := next(ctx, s, hours)
		if err != nil {
			return err
		}
		s.RaiseAt = at
	}
	if err := setRaise(ctx, tx, s.ID, s.RaiseAt); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM source_support_hours WHERE source_id = $1`, s.ID); err != nil {
		return fmt.Errorf("store: support hours of alert source %d: %w", s.ID, err)
	}
	for _, id := range s.HoursRefs {
		_, err := tx.ExecContext(ctx, `INSERT INTO source_support_hours (source_id, support_hours_id) VALUES ($1, $2)`, s.ID, id)
		if isForeignKeyViolation(err) {
			return fault.Errorf("support hours %d do not exist", id)
		}
		if err != nil {
			return fmt.Errorf("store: support hours of alert source %d: %w", s.ID, err)
		}
	}
	return nil
}

// sourcesUsingSupportHours returns the alert sources whose rules use the support hours.
func sourcesUsingSupportHours(ctx context.Context, q querier, hoursID int64) ([]*alert.Source, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+sourceColumns+` FROM alert_sources WHERE id IN (
		SELECT source_id FROM source_support_hours WHERE support_hours_id = $1) ORDER BY id`, hoursID)
	if err != nil {
		return nil, fmt.Errorf("store: sources using support hours %d: %w", hoursID, err)
	}
	defer rows.Close()
	var out []*alert.Source
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, fmt.Errorf("store: sources using support hours %d: %w", hoursID, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SetRaise schedules the next auto-raise of a source, or removes it when at is nil.
func (db *DB) SetRaise(ctx context.Context, sourceID int64, at *time.Time) error {
	return setRaise(ctx, db.write, sourceID, at)
}
