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

// Alert source statuses (ilert's AlertSource.status), derived on read.
const (
	SourcePending     = "PENDING"
	SourceAllAccepted = "ALL_ACCEPTED"
	SourceAllResolved = "ALL_RESOLVED"
	SourceDisabled    = "DISABLED"
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
func (db *DB) CreateSource(ctx context.Context, s *alert.Source) error {
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
		return sourceWriteError("create alert source", err)
	})
}

// UpdateSource replaces the source s.ID. It keeps the integration key unless s carries a new
// one. Returns NotFound if the source does not exist, and the errors of CreateSource.
func (db *DB) UpdateSource(ctx context.Context, s *alert.Source) error {
	s.Normalize()
	s.IntegrationKey = strings.TrimSpace(s.IntegrationKey)
	if err := s.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
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
		return sourceWriteError(fmt.Sprintf("update alert source %d", s.ID), err)
	})
}

// DeleteSource deletes a source and, through the foreign keys, its alerts. Returns NotFound
// if it does not exist.
func (db *DB) DeleteSource(ctx context.Context, id int64) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM alert_sources WHERE id = $1`, id)
	return changedOne(res, err, fmt.Sprintf("delete alert source %d", id), fault.NotFoundf("alert source %d does not exist", id))
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
// alerts: DISABLED when inactive, else PENDING if any alert is pending, else ALL_ACCEPTED if
// any is accepted, else ALL_RESOLVED. One query serves the whole list.
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
	for _, s := range sources {
		switch {
		case !s.IsActive():
			s.Status = SourceDisabled
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
	names, err := lookupNames(ctx, q, "teams", "name", "team", ids)
	if err != nil {
		return err
	}
	for i := range s.Teams {
		s.Teams[i].Name = names[s.Teams[i].ID]
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
