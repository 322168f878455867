package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// Limits of a maintenance window.
const (
	MaxMaintenanceSources     = 50        // alert sources of one window, as ilert documents
	maxMaintenanceSummary     = 1024      // characters, as an alert's summary
	maxMaintenanceDescription = 128 << 10 // bytes, as an alert's details
)

// MaintenanceState selects maintenance windows by whether they have ended.
type MaintenanceState string

const (
	MaintenanceOpen   MaintenanceState = "OPEN"   // not ended: upcoming or on now
	MaintenanceClosed MaintenanceState = "CLOSED" // ended
)

// MaintenanceWindow is ilert's MaintenanceWindow. From Start up to, not including, End its
// alert sources are in maintenance. Start and End are instants; Timezone is the IANA zone the
// window was planned in, stored for display. CreatedBy is read-only and nil once that user
// is deleted. Notifications are stored as given; nothing is sent for them.
type MaintenanceWindow struct {
	ID            int64                    `json:"id"`
	Timezone      string                   `json:"timezone"`
	Start         time.Time                `json:"start"`
	End           time.Time                `json:"end"`
	Summary       string                   `json:"summary"`
	Description   string                   `json:"description"`
	AlertSources  []alert.SourceRef        `json:"alertSources"`
	CreatedBy     *string                  `json:"createdBy"` // the creator's email, as ilert's read-only string
	Notifications MaintenanceNotifications `json:"notifications"`
}

// MaintenanceNotifications says when the subscribers of a window's services are told about
// it: when it is created, when it starts, when it ends.
type MaintenanceNotifications struct {
	AtCreation bool `json:"atCreation"`
	AtStart    bool `json:"atStart"`
	AtEnd      bool `json:"atEnd"`
}

// MaintenanceFilter selects maintenance windows; the zero filter selects all.
type MaintenanceFilter struct {
	State   MaintenanceState // "" for both
	Sources []int64          // windows with any of these alert sources
	From    *time.Time       // windows on at some moment from From…
	Until   *time.Time       // …to Until, both included
}

// Normalize trims the summary and time zone, defaults the zone to UTC, and keeps start and
// end to the millisecond, as stored.
func (w *MaintenanceWindow) Normalize() {
	w.Summary = strings.TrimSpace(w.Summary)
	w.Timezone = strings.TrimSpace(w.Timezone)
	if w.Timezone == "" {
		w.Timezone = "UTC"
	}
	if !w.Start.IsZero() {
		w.Start = fromMS(ms(w.Start))
	}
	if !w.End.IsZero() {
		w.End = fromMS(ms(w.End))
	}
}

// Validate reports the first rule the window breaks, as Invalid.
func (w *MaintenanceWindow) Validate() error {
	switch {
	case w.Summary == "":
		return fault.Errorf("summary is required")
	case utf8.RuneCountInString(w.Summary) > maxMaintenanceSummary:
		return fault.Errorf("summary must be at most %d characters", maxMaintenanceSummary)
	case len(w.Description) > maxMaintenanceDescription:
		return fault.Errorf("description must be at most %d KiB", maxMaintenanceDescription>>10)
	case w.Start.IsZero():
		return fault.Errorf("start is required")
	case w.End.IsZero():
		return fault.Errorf("end is required")
	case !w.End.After(w.Start):
		return fault.Errorf("end (%s) must be after start (%s)", w.End.UTC().Format(time.RFC3339Nano), w.Start.UTC().Format(time.RFC3339Nano))
	case len(w.AlertSources) > MaxMaintenanceSources:
		return fault.Errorf("alertSources may have at most %d entries", MaxMaintenanceSources)
	}
	for i, s := range w.AlertSources {
		if s.ID <= 0 {
			return fault.Errorf("alertSources[%d].id is required", i)
		}
	}
	_, err := zone.Load(w.Timezone)
	return err
}

// CreateMaintenanceWindow validates w, checks that its alert sources exist and stores it
// with the user createdBy as its creator. It sets w.ID and fills the names of the sources and
// of the creator. Returns Invalid for a bad window or an unknown alert source.
func (db *DB) CreateMaintenanceWindow(ctx context.Context, w *MaintenanceWindow, createdBy int64) error {
	w.Normalize()
	if err := w.Validate(); err != nil {
		return err
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		err := tx.QueryRowContext(ctx, `INSERT INTO maintenance_windows (timezone, start_at, end_at, summary, description,
			created_by, notify_at_creation, notify_at_start, notify_at_end, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id`,
			w.Timezone, ms(w.Start), ms(w.End), w.Summary, w.Description, sql.NullInt64{Int64: createdBy, Valid: createdBy > 0},
			w.Notifications.AtCreation, w.Notifications.AtStart, w.Notifications.AtEnd, now).Scan(&w.ID)
		if err != nil {
			return fmt.Errorf("store: create maintenance window: %w", err)
		}
		if err := insertMaintenanceSources(ctx, tx, w); err != nil {
			return err
		}
		return rereadMaintenanceWindow(ctx, tx, w)
	})
	if err != nil {
		w.ID = 0
	}
	return err
}

// UpdateMaintenanceWindow replaces the window w.ID, alert sources included; its creator
// stays. Setting End to now ends a window early. Returns NotFound if it does not exist, and
// the errors of CreateMaintenanceWindow.
func (db *DB) UpdateMaintenanceWindow(ctx context.Context, w *MaintenanceWindow) error {
	w.Normalize()
	if err := w.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		what := fmt.Sprintf("update maintenance window %d", w.ID)
		res, err := tx.ExecContext(ctx, `UPDATE maintenance_windows SET timezone = $1, start_at = $2, end_at = $3,
			summary = $4, description = $5, notify_at_creation = $6, notify_at_start = $7, notify_at_end = $8,
			updated_at = $9 WHERE id = $10`,
			w.Timezone, ms(w.Start), ms(w.End), w.Summary, w.Description,
			w.Notifications.AtCreation, w.Notifications.AtStart, w.Notifications.AtEnd, db.now(), w.ID)
		if err := changedOne(res, err, what, fault.NotFoundf("maintenance window %d does not exist", w.ID)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM maintenance_window_sources WHERE window_id = $1`, w.ID); err != nil {
			return fmt.Errorf("store: %s: clear alert sources: %w", what, err)
		}
		if err := insertMaintenanceSources(ctx, tx, w); err != nil {
			return err
		}
		return rereadMaintenanceWindow(ctx, tx, w)
	})
}

// DeleteMaintenanceWindow deletes a window; its alert sources leave maintenance at once if
// it was on. Returns NotFound if it does not exist.
func (db *DB) DeleteMaintenanceWindow(ctx context.Context, id int64) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM maintenance_windows WHERE id = $1`, id)
	return changedOne(res, err, fmt.Sprintf("delete maintenance window %d", id),
		fault.NotFoundf("maintenance window %d does not exist", id))
}

// MaintenanceWindow returns a window with its alert sources. Returns NotFound if it does not
// exist.
func (db *DB) MaintenanceWindow(ctx context.Context, id int64) (*MaintenanceWindow, error) {
	return findMaintenanceWindow(ctx, db.read, id)
}

// MaintenanceWindows returns a page of the windows f selects, latest start first, with their
// alert sources. OPEN and CLOSED are judged by the store's clock. Returns Invalid for an
// unknown state.
func (db *DB) MaintenanceWindows(ctx context.Context, f MaintenanceFilter, pg Page) ([]*MaintenanceWindow, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	switch f.State {
	case "":
	case MaintenanceOpen:
		where = append(where, "w.end_at > "+arg(db.now()))
	case MaintenanceClosed:
		where = append(where, "w.end_at <= "+arg(db.now()))
	default:
		return nil, fault.Errorf("state %q is not one of OPEN, CLOSED", f.State)
	}
	if f.From != nil {
		where = append(where, "w.end_at > "+arg(ms(*f.From)))
	}
	if f.Until != nil {
		where = append(where, "w.start_at <= "+arg(ms(*f.Until)))
	}
	if len(f.Sources) > 0 {
		where = append(where, `EXISTS (SELECT 1 FROM maintenance_window_sources l WHERE l.window_id = w.id
			AND l.source_id IN (`+placeholders(len(args)+1, len(f.Sources))+`))`)
		args = append(args, anys(f.Sources)...)
	}
	query := `SELECT ` + maintenanceColumns + maintenanceFrom
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY w.start_at DESC, w.id DESC LIMIT ` + arg(pg.Max) + ` OFFSET ` + arg(pg.Start)
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list maintenance windows: %w", err)
	}
	list, err := scanAll(rows, scanMaintenanceWindow)
	if err != nil {
		return nil, fmt.Errorf("store: list maintenance windows: %w", err)
	}
	if err := loadMaintenanceSources(ctx, db.read, list); err != nil {
		return nil, err
	}
	return list, nil
}

// SourcesInMaintenance returns the ids of the alert sources in a maintenance window at t.
func (db *DB) SourcesInMaintenance(ctx context.Context, at time.Time) (map[int64]bool, error) {
	return sourcesInMaintenance(ctx, db.read, at)
}

// InMaintenance reports whether one alert source is in a maintenance window at t, inside a
// transaction or not: inMaintenance is the same question within a transaction.
func (db *DB) InMaintenance(ctx context.Context, sourceID int64, at time.Time) (bool, error) {
	return inMaintenance(ctx, db.read, sourceID, at)
}

// sourcesInMaintenance is SourcesInMaintenance on q (a *sql.DB or a *sql.Tx). The windows
// index leads with end_at and the query starts from it (SQLite keeps the order of an IN
// subquery, where it would scan every link for a join), so it reads only the windows that
// have not ended, however long the history.
func sourcesInMaintenance(ctx context.Context, q querier, at time.Time) (map[int64]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT source_id FROM maintenance_window_sources WHERE window_id IN
		(SELECT id FROM maintenance_windows WHERE end_at > $1 AND start_at <= $1)`, ms(at))
	if err != nil {
		return nil, fmt.Errorf("store: alert sources in maintenance: %w", err)
	}
	out := map[int64]bool{}
	err = eachRow(rows, func() error {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		out[id] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: alert sources in maintenance: %w", err)
	}
	return out, nil
}

// inMaintenance is InMaintenance on q (a *sql.DB or a *sql.Tx). Like sourcesInMaintenance it
// starts from the windows that have not ended, not from the source's whole history.
func inMaintenance(ctx context.Context, q querier, sourceID int64, at time.Time) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM maintenance_window_sources WHERE source_id = $1 AND window_id IN
		(SELECT id FROM maintenance_windows WHERE end_at > $2 AND start_at <= $2) LIMIT 1`, sourceID, ms(at)).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store: is alert source %d in maintenance: %w", sourceID, err)
	}
	return true, nil
}

// maintenanceColumns, read from maintenanceFrom, are what scanMaintenanceWindow reads.
const (
	maintenanceColumns = `w.id, w.timezone, w.start_at, w.end_at, w.summary, w.description,
		w.notify_at_creation, w.notify_at_start, w.notify_at_end, u.email`
	maintenanceFrom = ` FROM maintenance_windows w LEFT JOIN users u ON u.id = w.created_by`
)

func scanMaintenanceWindow(row scanner) (*MaintenanceWindow, error) {
	w := &MaintenanceWindow{AlertSources: []alert.SourceRef{}}
	var start, end int64
	var email sql.NullString
	err := row.Scan(&w.ID, &w.Timezone, &start, &end, &w.Summary, &w.Description,
		&w.Notifications.AtCreation, &w.Notifications.AtStart, &w.Notifications.AtEnd, &email)
	w.Start, w.End = fromMS(start), fromMS(end)
	if email.Valid {
		w.CreatedBy = &email.String
	}
	return w, err
}

func findMaintenanceWindow(ctx context.Context, q querier, id int64) (*MaintenanceWindow, error) {
	w, err := scanMaintenanceWindow(q.QueryRowContext(ctx, `SELECT `+maintenanceColumns+maintenanceFrom+` WHERE w.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("maintenance window %d does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read maintenance window %d: %w", id, err)
	}
	if err := loadMaintenanceSources(ctx, q, []*MaintenanceWindow{w}); err != nil {
		return nil, err
	}
	return w, nil
}

// rereadMaintenanceWindow replaces w with what is now stored under w.ID, so a write answers
// with exactly what a later read shows.
func rereadMaintenanceWindow(ctx context.Context, tx *sql.Tx, w *MaintenanceWindow) error {
	stored, err := findMaintenanceWindow(ctx, tx, w.ID)
	if err != nil {
		return err
	}
	*w = *stored
	return nil
}

// insertMaintenanceSources links the window w.ID to its alert sources, once each. It locks
// the sources first, so none can be deleted before the commit, and returns Invalid naming the
// first that does not exist.
func insertMaintenanceSources(ctx context.Context, tx *sql.Tx, w *MaintenanceWindow) error {
	ids := make([]int64, len(w.AlertSources))
	for i, s := range w.AlertSources {
		ids[i] = s.ID
	}
	ids = dedupe(ids)
	if err := lockRows(ctx, tx, "alert_sources", ids); err != nil {
		return err
	}
	if err := checkExist(ctx, tx, "alert_sources", "alert source", ids); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `INSERT INTO maintenance_window_sources (window_id, source_id) VALUES ($1, $2)`,
			w.ID, id); err != nil {
			return fmt.Errorf("store: maintenance window %d: add alert source %d: %w", w.ID, id, err)
		}
	}
	return nil
}

// loadMaintenanceSources fills the alert sources of windows, in id order, with one query per
// 500 windows.
func loadMaintenanceSources(ctx context.Context, q querier, list []*MaintenanceWindow) error {
	if len(list) == 0 {
		return nil
	}
	index := make(map[int64]*MaintenanceWindow, len(list))
	ids := make([]int64, len(list))
	for i, w := range list {
		index[w.ID], ids[i] = w, w.ID
	}
	err := eachChunk(ids, func(in string, args []any) error {
		rows, err := q.QueryContext(ctx, `SELECT l.window_id, s.id, s.name, s.integration_type
			FROM maintenance_window_sources l JOIN alert_sources s ON s.id = l.source_id
			WHERE l.window_id IN (`+in+`) ORDER BY l.window_id, s.id`, args...)
		if err != nil {
			return err
		}
		return eachRow(rows, func() error {
			var wid int64
			var s alert.SourceRef
			if err := rows.Scan(&wid, &s.ID, &s.Name, &s.IntegrationType); err != nil {
				return err
			}
			index[wid].AlertSources = append(index[wid].AlertSources, s)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: read alert sources of maintenance windows: %w", err)
	}
	return nil
}
