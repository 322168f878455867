package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/supporthours"
)

// supportHoursColumns are the columns scanSupportHours reads, in order.
const supportHoursColumns = `id, name, timezone, config`

// supportHoursConfig is the part of support hours stored as JSON in support_hours.config.
type supportHoursConfig struct {
	SupportDays map[string]*supporthours.Range `json:"supportDays"`
	Exceptions  []supporthours.Exception       `json:"exceptions"`
}

// CreateSupportHours normalizes and validates h, checks that its teams exist, and stores it.
// It sets h.ID and fills the names of the teams. Returns Invalid for bad hours or an unknown
// team.
func (db *DB) CreateSupportHours(ctx context.Context, h *supporthours.Hours) error {
	config, err := prepareSupportHours(h)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkRuleRefs(ctx, tx, nil, h.Teams); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO support_hours (name, timezone, config, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $4) RETURNING id`, h.Name, h.TimeZone, config, db.now()).Scan(&h.ID)
		if err != nil {
			return fmt.Errorf("store: create support hours: %w", err)
		}
		if err := insertSupportHoursTeams(ctx, tx, h); err != nil {
			return fmt.Errorf("store: create support hours: %w", err)
		}
		return rereadSupportHours(ctx, tx, h)
	})
	if err != nil {
		h.ID = 0
	}
	return err
}

// NextRaise works out the next auto-raise of an alert source (nil: none), given the versions
// of support hours it uses that the calling transaction reads (or writes), which win over
// those stored.
type NextRaise func(ctx context.Context, src *alert.Source, hours []supporthours.Hours) (*time.Time, error)

// UpdateSupportHours replaces the support hours h.ID, teams included, and, in the same
// transaction, moves the next auto-raise of every source that uses them as next says (when
// next is not nil). Returns NotFound if they do not exist, and the errors of
// CreateSupportHours.
func (db *DB) UpdateSupportHours(ctx context.Context, h *supporthours.Hours, next NextRaise) error {
	config, err := prepareSupportHours(h)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		what := fmt.Sprintf("update support hours %d", h.ID)
		res, err := tx.ExecContext(ctx, `UPDATE support_hours SET name = $1, timezone = $2, config = $3, updated_at = $4
			WHERE id = $5`, h.Name, h.TimeZone, config, db.now(), h.ID)
		if err := changedOne(res, err, what, fault.NotFoundf("support hours %d do not exist", h.ID)); err != nil {
			return err
		}
		if err := checkRuleRefs(ctx, tx, nil, h.Teams); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM support_hours_teams WHERE support_hours_id = $1`, h.ID); err != nil {
			return fmt.Errorf("store: %s: clear teams: %w", what, err)
		}
		if err := insertSupportHoursTeams(ctx, tx, h); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
		if err := rereadSupportHours(ctx, tx, h); err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		sources, err := sourcesUsingSupportHours(ctx, tx, h.ID)
		if err != nil {
			return err
		}
		for _, src := range sources {
			at, err := next(ctx, src, []supporthours.Hours{*h})
			if err != nil {
				return err
			}
			if err := setRaise(ctx, tx, src.ID, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteSupportHours deletes support hours. Returns NotFound if they do not exist and
// Conflict while an alert source uses them.
func (db *DB) DeleteSupportHours(ctx context.Context, id int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, `SELECT s.name FROM source_support_hours u JOIN alert_sources s ON s.id = u.source_id
			WHERE u.support_hours_id = $1 ORDER BY s.id LIMIT 1`, id).Scan(&name)
		switch {
		case err == nil:
			return fault.New(fault.Conflict, "support hours %d are used by alert source %q; change the source first", id, name)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: delete support hours %d: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM support_hours WHERE id = $1`, id)
		return changedOne(res, err, fmt.Sprintf("delete support hours %d", id), fault.NotFoundf("support hours %d do not exist", id))
	})
}

// SupportHoursByID returns support hours with their teams. Returns NotFound if they do not
// exist.
func (db *DB) SupportHoursByID(ctx context.Context, id int64) (supporthours.Hours, error) {
	return findSupportHours(ctx, db.read, fmt.Sprintf("support hours %d", id), `id = $1`, id)
}

// SupportHoursByName returns the support hours with exactly this name; of several, the
// oldest. Returns NotFound if there are none.
func (db *DB) SupportHoursByName(ctx context.Context, name string) (supporthours.Hours, error) {
	return findSupportHours(ctx, db.read, fmt.Sprintf("support hours named %q", name),
		`id = (SELECT MIN(id) FROM support_hours WHERE name = $1)`, name)
}

// ListSupportHours returns a page of support hours ordered by id, with their teams.
func (db *DB) ListSupportHours(ctx context.Context, pg Page) ([]supporthours.Hours, error) {
	return listSupportHours(ctx, db.read, `SELECT `+supportHoursColumns+` FROM support_hours ORDER BY id LIMIT $1 OFFSET $2`,
		pg.Max, pg.Start)
}

// AllSupportHours returns every support hours ordered by id, with their teams.
func (db *DB) AllSupportHours(ctx context.Context) ([]supporthours.Hours, error) {
	return listSupportHours(ctx, db.read, `SELECT `+supportHoursColumns+` FROM support_hours ORDER BY id`)
}

func listSupportHours(ctx context.Context, q querier, query string, args ...any) ([]supporthours.Hours, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list support hours: %w", err)
	}
	list, err := scanAll(rows, scanSupportHours)
	if err != nil {
		return nil, fmt.Errorf("store: list support hours: %w", err)
	}
	if err := loadSupportHoursTeams(ctx, q, list); err != nil {
		return nil, err
	}
	return list, nil
}

// prepareSupportHours normalizes and validates h and returns its stored config.
func prepareSupportHours(h *supporthours.Hours) (string, error) {
	h.Normalize()
	if err := h.Validate(); err != nil {
		return "", err
	}
	config, err := json.Marshal(supportHoursConfig{SupportDays: h.SupportDays, Exceptions: h.Exceptions})
	if err != nil {
		return "", fmt.Errorf("store: encode support hours: %w", err)
	}
	return string(config), nil
}

// insertSupportHoursTeams writes the team references of h, whose ID is set.
func insertSupportHoursTeams(ctx context.Context, tx *sql.Tx, h *supporthours.Hours) error {
	for _, t := range h.Teams {
		if _, err := tx.ExecContext(ctx, `INSERT INTO support_hours_teams (support_hours_id, team_id) VALUES ($1, $2)`,
			h.ID, t.ID); err != nil {
			return fmt.Errorf("team %d: %w", t.ID, err)
		}
	}
	return nil
}

// rereadSupportHours replaces h with what is now stored under h.ID, so a write answers with
// exactly what a later read shows.
func rereadSupportHours(ctx context.Context, tx *sql.Tx, h *supporthours.Hours) error {
	stored, err := findSupportHours(ctx, tx, fmt.Sprintf("support hours %d", h.ID), `id = $1`, h.ID)
	if err != nil {
		return err
	}
	*h = stored
	return nil
}

// findSupportHours reads the one support hours matching where (a condition on
// support_hours with $1). what names them in errors ("support hours 5").
func findSupportHours(ctx context.Context, q querier, what, where string, arg any) (supporthours.Hours, error) {
	h, err := scanSupportHours(q.QueryRowContext(ctx, `SELECT `+supportHoursColumns+` FROM support_hours WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return supporthours.Hours{}, fault.NotFoundf("%s do not exist", what)
	}
	if err != nil {
		return supporthours.Hours{}, fmt.Errorf("store: read %s: %w", what, err)
	}
	list := []supporthours.Hours{h}
	if err := loadSupportHoursTeams(ctx, q, list); err != nil {
		return supporthours.Hours{}, err
	}
	return list[0], nil
}

func scanSupportHours(row scanner) (supporthours.Hours, error) {
	var h supporthours.Hours
	var config string
	if err := row.Scan(&h.ID, &h.Name, &h.TimeZone, &config); err != nil {
		return h, err
	}
	var c supportHoursConfig
	if err := json.Unmarshal([]byte(config), &c); err != nil {
		return h, fmt.Errorf("support hours %d: config: %w", h.ID, err)
	}
	h.SupportDays, h.Exceptions = c.SupportDays, c.Exceptions
	h.Normalize()
	return h, nil
}

// loadSupportHoursTeams reads the teams of the support hours in list: one query per 500.
func loadSupportHoursTeams(ctx context.Context, q querier, list []supporthours.Hours) error {
	if len(list) == 0 {
		return nil
	}
	index := make(map[int64]*supporthours.Hours, len(list))
	ids := make([]int64, len(list))
	for i := range list {
		index[list[i].ID], ids[i] = &list[i], list[i].ID
	}
	err := eachChunk(ids, func(in string, args []any) error {
		rows, err := q.QueryContext(ctx, `SELECT st.support_hours_id, t.id, t.name FROM support_hours_teams st
			JOIN teams t ON t.id = st.team_id WHERE st.support_hours_id IN (`+in+`) ORDER BY st.support_hours_id, t.id`, args...)
		if err != nil {
			return err
		}
		return eachRow(rows, func() error {
			var id int64
			var t auth.TeamRef
			if err := rows.Scan(&id, &t.ID, &t.Name); err != nil {
				return err
			}
			index[id].Teams = append(index[id].Teams, t)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: read the teams of support hours %d to %d: %w", ids[0], ids[len(ids)-1], err)
	}
	return nil
}
