package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// scheduleColumns are the columns scanSchedule reads, in order.
const scheduleColumns = `id, name, timezone, type, show_gaps, default_shift_duration`

// icalTokenBytes is the randomness in a calendar-feed token: 256 bits.
const icalTokenBytes = 32

// ScheduleWithOverrides is a schedule with the overrides that touch a range of time, ready
// for schedule.Compile.
type ScheduleWithOverrides struct {
	Schedule  *schedule.Schedule
	Overrides []schedule.Override
}

// Compile prepares the schedule and its overrides for computing shifts.
func (s ScheduleWithOverrides) Compile() (*schedule.Plan, error) {
	return schedule.Compile(s.Schedule, s.Overrides)
}

// CreateSchedule validates s, checks that the users and teams it names exist, and stores it
// with its layers, shifts and teams in one transaction. With abortOnGaps it refuses a
// schedule that leaves nobody on call (see schedule.FirstGap). It sets s.ID and fills the
// names of users and teams. Returns Invalid for a bad schedule, an unknown user or team, or
// a gap.
func (db *DB) CreateSchedule(ctx context.Context, s *schedule.Schedule, abortOnGaps bool) error {
	if err := prepareSchedule(s, abortOnGaps, db.Now()); err != nil {
		return err
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkScheduleRefs(ctx, tx, s); err != nil {
			return err
		}
		now := db.now()
		err := tx.QueryRowContext(ctx, `INSERT INTO schedules (name, timezone, type, show_gaps, default_shift_duration,
			ical_token, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
			s.Name, s.Timezone, string(s.Type), s.ShowGaps, s.DefaultShiftDuration, auth.RandomToken(icalTokenBytes), now).Scan(&s.ID)
		if err != nil {
			return fmt.Errorf("store: create schedule: %w", err)
		}
		if err := insertScheduleParts(ctx, tx, s); err != nil {
			return fmt.Errorf("store: create schedule: %w", err)
		}
		return rereadSchedule(ctx, tx, s)
	})
	if err != nil {
		s.ID = 0
	}
	return err
}

// UpdateSchedule replaces the schedule s.ID, layers, shifts and teams included; its
// overrides and calendar-feed token stay. Returns NotFound if it does not exist, and the
// errors of CreateSchedule.
func (db *DB) UpdateSchedule(ctx context.Context, s *schedule.Schedule, abortOnGaps bool) error {
	if err := prepareSchedule(s, abortOnGaps, db.Now()); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		what := fmt.Sprintf("update schedule %d", s.ID)
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET name = $1, timezone = $2, type = $3, show_gaps = $4,
			default_shift_duration = $5, updated_at = $6 WHERE id = $7`,
			s.Name, s.Timezone, string(s.Type), s.ShowGaps, s.DefaultShiftDuration, db.now(), s.ID)
		if err := changedOne(res, err, what, fault.NotFoundf("schedule %d does not exist", s.ID)); err != nil {
			return err
		}
		if err := checkScheduleRefs(ctx, tx, s); err != nil {
			return err
		}
		for _, table := range []string{"schedule_layer_users", "schedule_layers", "schedule_shifts", "schedule_teams"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE schedule_id = $1`, s.ID); err != nil {
				return fmt.Errorf("store: %s: clear %s: %w", what, table, err)
			}
		}
		if err := insertScheduleParts(ctx, tx, s); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
		return rereadSchedule(ctx, tx, s)
	})
}

// prepareSchedule normalizes and validates s and, with abortOnGaps, refuses gaps.
func prepareSchedule(s *schedule.Schedule, abortOnGaps bool, now time.Time) error {
	s.Normalize()
	if err := s.Validate(); err != nil {
		return err
	}
	if !abortOnGaps {
		return nil
	}
	gap, found, err := schedule.FirstGap(s, now)
	if err != nil {
		return err
	}
	if found {
		loc, _ := zone.Load(s.Timezone)
		return fault.Errorf("the schedule leaves nobody on call from %s to %s (%s), and abort-on-gaps is set",
			schedule.WallOf(gap.Start, loc), schedule.WallOf(gap.End, loc), s.Timezone)
	}
	return nil
}

// DeleteSchedule deletes a schedule with its layers, shifts and overrides. Returns NotFound
// if it does not exist, and Invalid while an escalation level names it.
func (db *DB) DeleteSchedule(ctx context.Context, id int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := lockRows(ctx, tx, "schedules", []int64{id}); err != nil {
			return err
		}
		if err := scheduleExists(ctx, tx, id, fault.NotFound); err != nil {
			return err
		}
		if err := notEscalationTarget(ctx, tx, escalation.TargetSchedule, id, fmt.Sprintf("schedule %d", id)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM schedules WHERE id = $1`, id)
		return changedOne(res, err, fmt.Sprintf("delete schedule %d", id), fault.NotFoundf("schedule %d does not exist", id))
	})
}

// Schedule returns a schedule with its layers, shifts and teams. Returns NotFound if it does
// not exist.
func (db *DB) Schedule(ctx context.Context, id int64) (*schedule.Schedule, error) {
	return findSchedule(ctx, db.read, fmt.Sprintf("schedule %d", id), `id = $1`, id)
}

// ScheduleByName returns the schedule with exactly this name; of several, the oldest.
// Returns NotFound if there is none.
func (db *DB) ScheduleByName(ctx context.Context, name string) (*schedule.Schedule, error) {
	return findSchedule(ctx, db.read, fmt.Sprintf("schedule named %q", name),
		`id = (SELECT MIN(id) FROM schedules WHERE name = $1)`, name)
}

// Schedules returns a page of schedules ordered by id, with their layers, shifts and teams.
func (db *DB) Schedules(ctx context.Context, pg Page) ([]*schedule.Schedule, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+scheduleColumns+` FROM schedules ORDER BY id LIMIT $1 OFFSET $2`,
		pg.Max, pg.Start)
	if err != nil {
		return nil, fmt.Errorf("store: list schedules: %w", err)
	}
	list, err := scanAll(rows, scanSchedule)
	if err != nil {
		return nil, fmt.Errorf("store: list schedules: %w", err)
	}
	if err := loadScheduleParts(ctx, db.read, list); err != nil {
		return nil, err
	}
	return list, nil
}

// ScheduleWithOverrides returns a schedule and its overrides that end after from and start
// before until. Returns NotFound if the schedule does not exist.
func (db *DB) ScheduleWithOverrides(ctx context.Context, id int64, from, until time.Time) (ScheduleWithOverrides, error) {
	s, err := db.Schedule(ctx, id)
	if err != nil {
		return ScheduleWithOverrides{}, err
	}
	overrides, err := loadOverrides(ctx, db.read, []int64{id}, from, until)
	if err != nil {
		return ScheduleWithOverrides{}, err
	}
	return ScheduleWithOverrides{Schedule: s, Overrides: overrides[id]}, nil
}

// SchedulesWithOverrides returns the schedules with the given ids (all schedules when ids is
// nil), in id order, each with its overrides that end after from and start before until.
// Ids that name no schedule are left out.
func (db *DB) SchedulesWithOverrides(ctx context.Context, ids []int64, from, until time.Time) ([]ScheduleWithOverrides, error) {
	return schedulesWithOverrides(ctx, db.read, ids, from, until)
}

func schedulesWithOverrides(ctx context.Context, q querier, ids []int64, from, until time.Time) ([]ScheduleWithOverrides, error) {
	var list []*schedule.Schedule
	if ids == nil {
		rows, err := q.QueryContext(ctx, `SELECT `+scheduleColumns+` FROM schedules ORDER BY id`)
		if err != nil {
			return nil, fmt.Errorf("store: read schedules: %w", err)
		}
		if list, err = scanAll(rows, scanSchedule); err != nil {
			return nil, fmt.Errorf("store: read schedules: %w", err)
		}
	} else {
		err := eachChunk(ids, func(in string, args []any) error {
			rows, err := q.QueryContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE id IN (`+in+`) ORDER BY id`, args...)
			if err != nil {
				return err
			}
			part, err := scanAll(rows, scanSchedule)
			list = append(list, part...)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("store: read schedules: %w", err)
		}
	}
	if err := loadScheduleParts(ctx, q, list); err != nil {
		return nil, err
	}
	found := make([]int64, len(list))
	for i, s := range list {
		found[i] = s.ID
	}
	overrides, err := loadOverrides(ctx, q, found, from, until)
	if err != nil {
		return nil, err
	}
	out := make([]ScheduleWithOverrides, len(list))
	for i, s := range list {
		out[i] = ScheduleWithOverrides{Schedule: s, Overrides: overrides[s.ID]}
	}
	return out, nil
}

// OnCallUsers maps each of the schedules to the user on call at t. A schedule with nobody
// on call at t, or that does not exist, is absent from the map. This is the escalation
// engine's question.
func (db *DB) OnCallUsers(ctx context.Context, scheduleIDs []int64, at time.Time) (map[int64]int64, error) {
	out := make(map[int64]int64, len(scheduleIDs))
	if len(scheduleIDs) == 0 {
		return out, nil
	}
	list, err := db.SchedulesWithOverrides(ctx, scheduleIDs, at, at.Add(time.Millisecond))
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		p, err := s.Compile()
		if err != nil {
			return nil, fmt.Errorf("store: schedule %d as stored does not compile: %w", s.Schedule.ID, err)
		}
		if u, ok := p.OnCallAt(at); ok {
			out[s.Schedule.ID] = u.ID
		}
	}
	return out, nil
}

// ScheduleIDsOfUser returns, in id order, the schedules in which the user takes part after
// since: a layer names them, or a static shift or override of theirs ends after since.
func (db *DB) ScheduleIDsOfUser(ctx context.Context, userID int64, since time.Time) ([]int64, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT schedule_id FROM schedule_layer_users WHERE user_id = $1
		UNION SELECT schedule_id FROM schedule_shifts WHERE user_id = $1 AND end_at > $2
		UNION SELECT schedule_id FROM schedule_overrides WHERE user_id = $1 AND end_at > $2
		ORDER BY 1`, userID, ms(since))
	if err != nil {
		return nil, fmt.Errorf("store: schedules of user %d: %w", userID, err)
	}
	ids, err := scanAll(rows, func(row scanner) (int64, error) {
		var id int64
		return id, row.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("store: schedules of user %d: %w", userID, err)
	}
	return ids, nil
}

// Overrides returns a schedule's overrides that end after from and start before until,
// oldest first. Returns NotFound if the schedule does not exist.
func (db *DB) Overrides(ctx context.Context, scheduleID int64, from, until time.Time) ([]schedule.Override, error) {
	if err := scheduleExists(ctx, db.read, scheduleID, fault.NotFound); err != nil {
		return nil, err
	}
	m, err := loadOverrides(ctx, db.read, []int64{scheduleID}, from, until)
	if err != nil {
		return nil, err
	}
	if m[scheduleID] == nil {
		return []schedule.Override{}, nil
	}
	return m[scheduleID], nil
}

// AddOverride puts o.User on call in the schedule from o.Start to o.End, over the layers,
// the shifts and earlier overrides. It sets o.ID, fills the user's name and returns the
// schedule's reference. Returns NotFound if the schedule does not exist, Invalid for a bad
// override or an unknown user.
func (db *DB) AddOverride(ctx context.Context, scheduleID int64, o *schedule.Override) (escalation.ScheduleRef, error) {
	var ref escalation.ScheduleRef
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		ref, err = addOverride(ctx, tx, scheduleID, o, db.now())
		return err
	})
	if err != nil {
		o.ID = 0
		return escalation.ScheduleRef{}, err
	}
	return ref, nil
}

// addOverride is AddOverride within tx, for every write that creates an override (an
// accepted coverage request too). now is the creation time in milliseconds.
func addOverride(ctx context.Context, tx *sql.Tx, scheduleID int64, o *schedule.Override, now int64) (escalation.ScheduleRef, error) {
	if err := schedule.ValidateOverride(*o); err != nil {
		return escalation.ScheduleRef{}, err
	}
	var ref escalation.ScheduleRef
	// The schedule before the user, in the order UpdateSchedule locks them.
	if err := lockRows(ctx, tx, "schedules", []int64{scheduleID}); err != nil {
		return ref, err
	}
	err := tx.QueryRowContext(ctx, `SELECT id, name, type FROM schedules WHERE id = $1`, scheduleID).Scan(&ref.ID, &ref.Name, &ref.Type)
	if errors.Is(err, sql.ErrNoRows) {
		return ref, fault.NotFoundf("schedule %d does not exist", scheduleID)
	}
	if err != nil {
		return ref, fmt.Errorf("store: add override to schedule %d: %w", scheduleID, err)
	}
	if err := lockRows(ctx, tx, "users", []int64{o.User.ID}); err != nil {
		return ref, err
	}
	if err := checkExist(ctx, tx, "users", "user", []int64{o.User.ID}); err != nil {
		return ref, err
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO schedule_overrides (schedule_id, user_id, start_at, end_at, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, scheduleID, o.User.ID, ms(o.Start), ms(o.End), now).Scan(&o.ID)
	if err != nil {
		return ref, fmt.Errorf("store: add override to schedule %d: %w", scheduleID, err)
	}
	a, err := findAccount(ctx, tx, o.User.ID)
	if err != nil {
		return ref, err
	}
	o.User = auth.Ref{ID: a.ID, FirstName: a.FirstName, LastName: a.LastName}
	o.Start, o.End = fromMS(ms(o.Start)), fromMS(ms(o.End))
	return ref, nil
}

// DeleteOverride removes one override of a schedule. Returns NotFound if the schedule has
// no such override.
func (db *DB) DeleteOverride(ctx context.Context, scheduleID, overrideID int64) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM schedule_overrides WHERE id = $1 AND schedule_id = $2`, overrideID, scheduleID)
	return changedOne(res, err, fmt.Sprintf("delete override %d of schedule %d", overrideID, scheduleID),
		fault.NotFoundf("schedule %d has no override %d", scheduleID, overrideID))
}

// ScheduleICalToken returns the secret of the schedule's calendar feed. Returns NotFound if
// the schedule does not exist.
func (db *DB) ScheduleICalToken(ctx context.Context, id int64) (string, error) {
	var token string
	err := db.read.QueryRowContext(ctx, `SELECT ical_token FROM schedules WHERE id = $1`, id).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fault.NotFoundf("schedule %d does not exist", id)
	}
	if err != nil {
		return "", fmt.Errorf("store: calendar token of schedule %d: %w", id, err)
	}
	return token, nil
}

// RotateScheduleICalToken gives the schedule's calendar feed a new secret, so the old URL
// stops working, and returns it. Returns NotFound if the schedule does not exist.
func (db *DB) RotateScheduleICalToken(ctx context.Context, id int64) (string, error) {
	token := auth.RandomToken(icalTokenBytes)
	res, err := db.write.ExecContext(ctx, `UPDATE schedules SET ical_token = $1 WHERE id = $2`, token, id)
	if err := changedOne(res, err, fmt.Sprintf("rotate the calendar token of schedule %d", id),
		fault.NotFoundf("schedule %d does not exist", id)); err != nil {
		return "", err
	}
	return token, nil
}

// UserICalToken returns the secret of the user's personal calendar feed, creating it on
// first use. Returns Invalid if the user does not exist.
func (db *DB) UserICalToken(ctx context.Context, userID int64) (string, error) {
	_, err := db.write.ExecContext(ctx, `INSERT INTO user_ical_tokens (user_id, token, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO NOTHING`, userID, auth.RandomToken(icalTokenBytes), db.now())
	if isForeignKeyViolation(err) {
		return "", fault.Errorf("user %d does not exist", userID)
	}
	if err != nil {
		return "", fmt.Errorf("store: calendar token of user %d: %w", userID, err)
	}
	return userICalToken(ctx, db.write, userID)
}

// RotateUserICalToken gives the user's calendar feed a new secret and returns it.
func (db *DB) RotateUserICalToken(ctx context.Context, userID int64) (string, error) {
	token := auth.RandomToken(icalTokenBytes)
	_, err := db.write.ExecContext(ctx, `INSERT INTO user_ical_tokens (user_id, token, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET token = excluded.token, created_at = excluded.created_at`, userID, token, db.now())
	if isForeignKeyViolation(err) {
		return "", fault.Errorf("user %d does not exist", userID)
	}
	if err != nil {
		return "", fmt.Errorf("store: rotate the calendar token of user %d: %w", userID, err)
	}
	return token, nil
}

// CheckScheduleICalToken returns NotFound unless the schedule exists and token is the
// secret of its calendar feed. A wrong token and a missing schedule look the same.
func (db *DB) CheckScheduleICalToken(ctx context.Context, id int64, token string) error {
	want, err := db.ScheduleICalToken(ctx, id)
	if fault.Is(err, fault.NotFound) || (err == nil && !sameToken(want, token)) {
		return fault.NotFoundf("no calendar feed here")
	}
	return err
}

// CheckUserICalToken returns NotFound unless the user has a calendar feed whose secret is
// token.
func (db *DB) CheckUserICalToken(ctx context.Context, userID int64, token string) error {
	want, err := userICalToken(ctx, db.read, userID)
	if fault.Is(err, fault.NotFound) || (err == nil && !sameToken(want, token)) {
		return fault.NotFoundf("no calendar feed here")
	}
	return err
}

func userICalToken(ctx context.Context, q querier, userID int64) (string, error) {
	var token string
	err := q.QueryRowContext(ctx, `SELECT token FROM user_ical_tokens WHERE user_id = $1`, userID).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fault.NotFoundf("user %d has no calendar feed", userID)
	}
	if err != nil {
		return "", fmt.Errorf("store: calendar token of user %d: %w", userID, err)
	}
	return token, nil
}

// sameToken compares secrets in constant time.
func sameToken(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// AccountsByID returns the users with the given ids; ids that name no user are left out.
func (db *DB) AccountsByID(ctx context.Context, ids []int64) (map[int64]auth.Account, error) {
	out := make(map[int64]auth.Account, len(ids))
	err := eachChunk(ids, func(in string, args []any) error {
		rows, err := db.read.QueryContext(ctx, `SELECT `+accountColumns+` FROM users WHERE users.id IN (`+in+`)`, args...)
		if err != nil {
			return err
		}
		list, err := scanAll(rows, func(row scanner) (auth.Account, error) { return scanAccount(row) })
		for _, a := range list {
			out[a.ID] = a
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: read users: %w", err)
	}
	return out, nil
}

// releaseScheduleUser is what deleting user id needs from schedules; DeleteAccount calls it
// in its transaction after locking the user's row. It refuses (Invalid, naming the
// schedule) while a layer names the user or a static shift or override of theirs has not
// ended by now (milliseconds), and deletes their ended shifts and overrides, which would
// otherwise hold the user's row through their foreign keys.
func releaseScheduleUser(ctx context.Context, tx *sql.Tx, id, now int64) error {
	var scheduleID int64
	var name, where string
	err := tx.QueryRowContext(ctx, `SELECT s.id, s.name, x.what FROM (
			SELECT schedule_id, 'a layer' AS what FROM schedule_layer_users WHERE user_id = $1
			UNION ALL SELECT schedule_id, 'a shift that has not ended' FROM schedule_shifts WHERE user_id = $1 AND end_at > $2
			UNION ALL SELECT schedule_id, 'an override that has not ended' FROM schedule_overrides WHERE user_id = $1 AND end_at > $2
		) x JOIN schedules s ON s.id = x.schedule_id ORDER BY s.id LIMIT 1`, id, now).Scan(&scheduleID, &name, &where)
	switch {
	case err == nil:
		return fault.Errorf("user %d is on call in schedule %q (id %d) through %s: take them out of it first", id, name, scheduleID, where)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: schedules naming user %d: %w", id, err)
	}
	for _, table := range []string{"schedule_shifts", "schedule_overrides"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = $1`, id); err != nil {
			return fmt.Errorf("store: ended %s of user %d: %w", table, id, err)
		}
	}
	return nil
}

// scheduleExists returns an error with code if schedule id does not exist: NotFound when
// the schedule is the thing addressed, Invalid when another resource refers to it.
func scheduleExists(ctx context.Context, q querier, id int64, code fault.Code) error {
	err := checkExist(ctx, q, "schedules", "schedule", []int64{id})
	if fault.Is(err, fault.Invalid) {
		return fault.New(code, "schedule %d does not exist", id)
	}
	return err
}

// checkScheduleRefs returns Invalid if s names a user or team that does not exist. It locks
// the rows first, users before teams as checkRuleRefs does, so neither can be deleted before
// the commit.
func checkScheduleRefs(ctx context.Context, q querier, s *schedule.Schedule) error {
	var users, teams []int64
	for _, l := range s.ScheduleLayers {
		for _, u := range l.Users {
			users = append(users, u.ID)
		}
	}
	for _, sh := range s.Shifts {
		users = append(users, sh.User.ID)
	}
	for _, t := range s.Teams {
		teams = append(teams, t.ID)
	}
	if err := lockRows(ctx, q, "users", users); err != nil {
		return err
	}
	if err := lockRows(ctx, q, "teams", teams); err != nil {
		return err
	}
	if err := checkExist(ctx, q, "users", "user", dedupe(users)); err != nil {
		return err
	}
	return checkExist(ctx, q, "teams", "team", teams)
}

// insertScheduleParts writes the layers, shifts and teams of s, whose ID is set.
func insertScheduleParts(ctx context.Context, tx *sql.Tx, s *schedule.Schedule) error {
	for _, t := range s.Teams {
		if _, err := tx.ExecContext(ctx, `INSERT INTO schedule_teams (schedule_id, team_id) VALUES ($1, $2)`, s.ID, t.ID); err != nil {
			return fmt.Errorf("team %d: %w", t.ID, err)
		}
	}
	for i, l := range s.ScheduleLayers {
		restrictions, err := json.Marshal(l.Restrictions)
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schedule_layers (schedule_id, position, name, starts_on, ends_on,
			rotation, restriction_type, restrictions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			s.ID, i, l.Name, l.StartsOn.String(), nullString(l.EndsOn.String()), l.Rotation, l.RestrictionType,
			string(restrictions)); err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		for j, u := range l.Users {
			if _, err := tx.ExecContext(ctx, `INSERT INTO schedule_layer_users (schedule_id, layer, position, user_id)
				VALUES ($1, $2, $3, $4)`, s.ID, i, j, u.ID); err != nil {
				return fmt.Errorf("layer %d: user %d: %w", i, u.ID, err)
			}
		}
	}
	loc, err := zone.Load(s.Timezone)
	if err != nil {
		return err
	}
	for i, sh := range s.Shifts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO schedule_shifts (schedule_id, position, user_id, start_at, end_at)
			VALUES ($1, $2, $3, $4, $5)`, s.ID, i, sh.User.ID, ms(sh.Start.In(loc)), ms(sh.End.In(loc))); err != nil {
			return fmt.Errorf("shift %d: %w", i, err)
		}
	}
	return nil
}

// rereadSchedule replaces s with what is now stored under s.ID, so a write answers with
// exactly what a later read shows.
func rereadSchedule(ctx context.Context, tx *sql.Tx, s *schedule.Schedule) error {
	stored, err := findSchedule(ctx, tx, fmt.Sprintf("schedule %d", s.ID), `id = $1`, s.ID)
	if err != nil {
		return err
	}
	*s = *stored
	return nil
}

// findSchedule reads the one schedule matching where (a condition on schedules with $1).
// what names it in errors ("schedule 5").
func findSchedule(ctx context.Context, q querier, what, where string, arg any) (*schedule.Schedule, error) {
	s, err := scanSchedule(q.QueryRowContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("%s does not exist", what)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", what, err)
	}
	if err := loadScheduleParts(ctx, q, []*schedule.Schedule{s}); err != nil {
		return nil, err
	}
	return s, nil
}

func scanSchedule(row scanner) (*schedule.Schedule, error) {
	s := &schedule.Schedule{Teams: []auth.TeamRef{}}
	var typ string
	err := row.Scan(&s.ID, &s.Name, &s.Timezone, &typ, &s.ShowGaps, &s.DefaultShiftDuration)
	s.Type = schedule.Type(typ)
	return s, err
}

// loadScheduleParts reads the teams, layers with their users, and static shifts of
// schedules: four queries for any number of schedules.
func loadScheduleParts(ctx context.Context, q querier, list []*schedule.Schedule) error {
	if len(list) == 0 {
		return nil
	}
	index := make(map[int64]*schedule.Schedule, len(list))
	ids := make([]int64, len(list))
	for i, s := range list {
		index[s.ID], ids[i] = s, s.ID
	}
	fail := func(err error) error {
		return fmt.Errorf("store: read schedules %d to %d: %w", ids[0], ids[len(ids)-1], err)
	}
	each := func(query string, fn func(rows *sql.Rows) error) error {
		return eachChunk(ids, func(in string, args []any) error {
			rows, err := q.QueryContext(ctx, fmt.Sprintf(query, in), args...)
			if err != nil {
				return err
			}
			return eachRow(rows, func() error { return fn(rows) })
		})
	}

	err := each(`SELECT st.schedule_id, t.id, t.name FROM schedule_teams st JOIN teams t ON t.id = st.team_id
		WHERE st.schedule_id IN (%s) ORDER BY st.schedule_id, t.id`, func(rows *sql.Rows) error {
		var sid int64
		var t auth.TeamRef
		if err := rows.Scan(&sid, &t.ID, &t.Name); err != nil {
			return err
		}
		index[sid].Teams = append(index[sid].Teams, t)
		return nil
	})
	if err != nil {
		return fail(err)
	}

	err = each(`SELECT schedule_id, position, name, starts_on, ends_on, rotation, restriction_type, restrictions
		FROM schedule_layers WHERE schedule_id IN (%s) ORDER BY schedule_id, position`, func(rows *sql.Rows) error {
		var sid int64
		var pos int
		var starts, restrictions string
		var ends sql.NullString
		l := schedule.Layer{Users: []auth.Ref{}}
		if err := rows.Scan(&sid, &pos, &l.Name, &starts, &ends, &l.Rotation, &l.RestrictionType, &restrictions); err != nil {
			return err
		}
		s := index[sid]
		if pos != len(s.ScheduleLayers) {
			return fmt.Errorf("schedule %d: layer %d stored after %d layers", sid, pos, len(s.ScheduleLayers))
		}
		var err error
		if l.StartsOn, err = schedule.ParseWall(starts); err != nil {
			return fmt.Errorf("schedule %d: layer %d: %w", sid, pos, err)
		}
		if ends.Valid {
			if l.EndsOn, err = schedule.ParseWall(ends.String); err != nil {
				return fmt.Errorf("schedule %d: layer %d: %w", sid, pos, err)
			}
		}
		if err := json.Unmarshal([]byte(restrictions), &l.Restrictions); err != nil {
			return fmt.Errorf("schedule %d: layer %d: restrictions: %w", sid, pos, err)
		}
		if l.Restrictions == nil {
			l.Restrictions = []schedule.Restriction{}
		}
		s.ScheduleLayers = append(s.ScheduleLayers, l)
		return nil
	})
	if err != nil {
		return fail(err)
	}

	err = each(`SELECT lu.schedule_id, lu.layer, u.id, u.first_name, u.last_name FROM schedule_layer_users lu
		JOIN users u ON u.id = lu.user_id WHERE lu.schedule_id IN (%s) ORDER BY lu.schedule_id, lu.layer, lu.position`,
		func(rows *sql.Rows) error {
			var sid int64
			var layer int
			var u auth.Ref
			if err := rows.Scan(&sid, &layer, &u.ID, &u.FirstName, &u.LastName); err != nil {
				return err
			}
			s := index[sid]
			if layer < 0 || layer >= len(s.ScheduleLayers) {
				return fmt.Errorf("schedule %d: user of missing layer %d", sid, layer)
			}
			s.ScheduleLayers[layer].Users = append(s.ScheduleLayers[layer].Users, u)
			return nil
		})
	if err != nil {
		return fail(err)
	}

	err = each(`SELECT ss.schedule_id, u.id, u.first_name, u.last_name, ss.start_at, ss.end_at FROM schedule_shifts ss
		JOIN users u ON u.id = ss.user_id WHERE ss.schedule_id IN (%s) ORDER BY ss.schedule_id, ss.position`,
		func(rows *sql.Rows) error {
			var sid, start, end int64
			var u auth.Ref
			if err := rows.Scan(&sid, &u.ID, &u.FirstName, &u.LastName, &start, &end); err != nil {
				return err
			}
			s := index[sid]
			loc, err := zone.Load(s.Timezone)
			if err != nil {
				return fmt.Errorf("schedule %d: %w", sid, err)
			}
			s.Shifts = append(s.Shifts, schedule.StaticShift{User: u, Start: schedule.WallOf(fromMS(start), loc), End: schedule.WallOf(fromMS(end), loc)})
			return nil
		})
	if err != nil {
		return fail(err)
	}
	return nil
}

// loadOverrides reads the overrides of schedules that end after from and start before
// until, oldest first, by schedule.
func loadOverrides(ctx context.Context, q querier, ids []int64, from, until time.Time) (map[int64][]schedule.Override, error) {
	out := map[int64][]schedule.Override{}
	lo, hi := msOrMin(from), msOrMax(until)
	err := eachChunk(ids, func(in string, args []any) error {
		n := len(args)
		rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT o.id, o.schedule_id, u.id, u.first_name, u.last_name, o.start_at, o.end_at
			FROM schedule_overrides o JOIN users u ON u.id = o.user_id
			WHERE o.schedule_id IN (%s) AND o.end_at > $%d AND o.start_at < $%d ORDER BY o.id`, in, n+1, n+2),
			append(args, lo, hi)...)
		if err != nil {
			return err
		}
		return eachRow(rows, func() error {
			var o schedule.Override
			var sid, start, end int64
			if err := rows.Scan(&o.ID, &sid, &o.User.ID, &o.User.FirstName, &o.User.LastName, &start, &end); err != nil {
				return err
			}
			o.Start, o.End = fromMS(start), fromMS(end)
			out[sid] = append(out[sid], o)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: read overrides: %w", err)
	}
	return out, nil
}

// msOrMin and msOrMax store a time, reading the zero time as open-ended.
func msOrMin(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return ms(t)
}

func msOrMax(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return ms(t)
}

// eachChunk calls fn with "$1, $2, …" and the arguments for each run of up to 500 ids.
func eachChunk(ids []int64, fn func(in string, args []any) error) error {
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		if err := fn(placeholders(1, len(part)), anys(part)); err != nil {
			return err
		}
	}
	return nil
}

// dedupe returns ids without repeats, in first-seen order.
func dedupe(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
