package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/contact"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// coverageSelect reads coverage requests with the names of their schedule and both users;
// scanCoverage reads its columns.
const coverageSelect = `SELECT c.id, c.schedule_id, s.name, c.requester_id, r.first_name, r.last_name,
	c.user_id, u.first_name, u.last_name, c.start_at, c.end_at, c.message, c.status, c.override_id,
	c.created_at, c.decided_at
	FROM coverage_requests c JOIN schedules s ON s.id = c.schedule_id
	JOIN users r ON r.id = c.requester_id JOIN users u ON u.id = c.user_id`

// CoverageFilter selects coverage requests. Zero fields select everything.
type CoverageFilter struct {
	ScheduleID  int64
	RequesterID int64 // requests this user made
	UserID      int64 // requests made of this user
	Involving   int64 // requests this user made or was asked
	// Status as readers see it: PENDING are those whose start has not passed, EXPIRED the
	// PENDING ones whose start has.
	Status schedule.CoverageStatus
	Page   Page
}

// CreateCoverageRequest stores a PENDING request that c.User cover [c.Start, c.End) of
// c.Requester's shifts in schedule c.Schedule.ID, and queues a notice to c.User. It fills
// c's id, names and times. Returns NotFound if the schedule does not exist, and Invalid for a
// request that fails schedule.CoverageRequest.Validate, a range the requester is not on call
// for throughout (layers, static shifts and overrides counted), or a colleague who does not
// exist or whose role cannot respond to alerts.
func (db *DB) CreateCoverageRequest(ctx context.Context, c *schedule.CoverageRequest) error {
	now := db.Now()
	if err := c.Validate(now); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkCover(ctx, tx, c.Schedule.ID, c.Requester, c.Start, c.End, fault.NotFound); err != nil {
			if fault.Is(err, fault.Invalid) {
				return fault.Errorf("you can only ask a colleague to cover time you are on call yourself: %s", fault.MessageOf(err))
			}
			return err
		}
		colleague, err := findAccount(ctx, tx, c.User.ID)
		if fault.Is(err, fault.NotFound) {
			return fault.Errorf("user %d does not exist", c.User.ID)
		}
		if err != nil {
			return err
		}
		if !colleague.Role.Allows(auth.Respond) {
			return fault.Errorf("user %d has the %s role, which cannot respond to alerts, so they cannot cover a shift", c.User.ID, colleague.Role)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO coverage_requests (schedule_id, requester_id, user_id, start_at, end_at,
			message, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id`,
			c.Schedule.ID, c.Requester.ID, c.User.ID, ms(c.Start), ms(c.End), c.Message, string(schedule.CoveragePending),
			ms(now)).Scan(&c.ID)
		if isForeignKeyViolation(err) { // the requester's account was deleted meanwhile
			return fault.Errorf("user %d or %d does not exist", c.Requester.ID, c.User.ID)
		}
		if err != nil {
			return fmt.Errorf("store: create coverage request in schedule %d: %w", c.Schedule.ID, err)
		}
		stored, err := findCoverage(ctx, tx, c.ID, now)
		if err != nil {
			return err
		}
		*c = *stored
		return noticeCoverage(ctx, tx, c, coverageAsked, c.Requester.ID, now)
	})
}

// CoverageRequest returns one request, EXPIRED if it is PENDING and its start has passed.
// Returns NotFound if it does not exist.
func (db *DB) CoverageRequest(ctx context.Context, id int64) (*schedule.CoverageRequest, error) {
	return findCoverage(ctx, db.read, id, db.Now())
}

// CoverageRequests returns a page of the requests f selects, newest first.
func (db *DB) CoverageRequests(ctx context.Context, f CoverageFilter) ([]*schedule.CoverageRequest, error) {
	now := db.Now()
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.ScheduleID != 0 {
		where = append(where, "c.schedule_id = "+arg(f.ScheduleID))
	}
	if f.RequesterID != 0 {
		where = append(where, "c.requester_id = "+arg(f.RequesterID))
	}
	if f.UserID != 0 {
		where = append(where, "c.user_id = "+arg(f.UserID))
	}
	if f.Involving != 0 {
		p := arg(f.Involving)
		where = append(where, "(c.requester_id = "+p+" OR c.user_id = "+p+")")
	}
	switch f.Status {
	case "":
	case schedule.CoveragePending:
		where = append(where, "c.status = "+arg(string(schedule.CoveragePending))+" AND c.start_at > "+arg(ms(now)))
	case schedule.CoverageExpired:
		where = append(where, "c.status = "+arg(string(schedule.CoveragePending))+" AND c.start_at <= "+arg(ms(now)))
	default:
		where = append(where, "c.status = "+arg(string(f.Status)))
	}
	q := coverageSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY c.id DESC LIMIT " + arg(f.Page.Max) + " OFFSET " + arg(f.Page.Start)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list coverage requests: %w", err)
	}
	list, err := scanAll(rows, func(row scanner) (*schedule.CoverageRequest, error) { return scanCoverage(row, now) })
	if err != nil {
		return nil, fmt.Errorf("store: list coverage requests: %w", err)
	}
	return list, nil
}

// AcceptCoverageRequest puts the colleague on call for the request's range by an override
// (the same as AddOverride creates) and marks the request ACCEPTED, in one transaction, and
// queues a notice to the requester. may is asked first, with the request as it stands, and
// its error returned: the API checks there who the caller is. Returns NotFound if the
// request does not exist; Invalid if it is not PENDING (answered, cancelled or EXPIRED), or
// if the requester is no longer on call for all of the range (the schedule, or another
// override, changed since the request was made), in which case it stays PENDING.
func (db *DB) AcceptCoverageRequest(ctx context.Context, id int64, may func(*schedule.CoverageRequest) error) (*schedule.CoverageRequest, error) {
	return db.decideCoverage(ctx, id, schedule.CoverageAccepted, 0, may)
}

// DeclineCoverageRequest marks a PENDING request DECLINED and queues a notice to the
// requester. may, NotFound and Invalid are as for AcceptCoverageRequest.
func (db *DB) DeclineCoverageRequest(ctx context.Context, id int64, may func(*schedule.CoverageRequest) error) (*schedule.CoverageRequest, error) {
	return db.decideCoverage(ctx, id, schedule.CoverageDeclined, 0, may)
}

// CancelCoverageRequest marks a PENDING request CANCELLED and queues a notice to the
// colleague, and to the requester too when by (who cancels: the requester, or an ADMIN) is
// someone else. may, NotFound and Invalid are as for AcceptCoverageRequest.
func (db *DB) CancelCoverageRequest(ctx context.Context, id, by int64, may func(*schedule.CoverageRequest) error) (*schedule.CoverageRequest, error) {
	return db.decideCoverage(ctx, id, schedule.CoverageCancelled, by, may)
}

// decideCoverage moves request id from PENDING to status to. Lock order: the schedule (an
// accept only), the colleague (an accept only, as addOverride locks them), then the
// request. Schedule writes and overrides lock the schedule first and DeleteAccount the user
// before its cascade reaches the request, so no two writers wait for each other in a circle.
// Locking the request row makes a concurrent accept and cancel run one after the other: the
// second sees the first's status and is refused.
func (db *DB) decideCoverage(ctx context.Context, id int64, to schedule.CoverageStatus, by int64, may func(*schedule.CoverageRequest) error) (*schedule.CoverageRequest, error) {
	var out *schedule.CoverageRequest
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// Which rows to lock first; neither column ever changes.
		var scheduleID, userID int64
		err := tx.QueryRowContext(ctx, `SELECT schedule_id, user_id FROM coverage_requests WHERE id = $1`, id).
			Scan(&scheduleID, &userID)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.NotFoundf("coverage request %d does not exist", id)
		}
		if err != nil {
			return fmt.Errorf("store: coverage request %d: %w", id, err)
		}
		if to == schedule.CoverageAccepted {
			if err := lockRows(ctx, tx, "schedules", []int64{scheduleID}); err != nil {
				return err
			}
			if err := lockRows(ctx, tx, "users", []int64{userID}); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE coverage_requests SET updated_at = updated_at WHERE id = $1`, id)
		if err := changedOne(res, err, fmt.Sprintf("lock coverage request %d", id), fault.NotFoundf("coverage request %d does not exist", id)); err != nil {
			return err
		}
		now := db.Now()
		c, err := findCoverage(ctx, tx, id, now)
		if err != nil {
			return err
		}
		if err := may(c); err != nil {
			return err
		}
		if err := checkPending(c, to); err != nil {
			return err
		}
		var overrideID sql.NullInt64
		if to == schedule.CoverageAccepted {
			if err := checkCover(ctx, tx, c.Schedule.ID, c.Requester, c.Start, c.End, fault.Invalid); err != nil {
				if fault.Is(err, fault.Invalid) {
					return fault.Errorf("coverage request %d can no longer be accepted, because the schedule changed since it was made: %s", id, fault.MessageOf(err))
				}
				return err
			}
			o := schedule.Override{User: c.User, Start: c.Start, End: c.End}
			if _, err := addOverride(ctx, tx, c.Schedule.ID, &o, ms(now)); err != nil {
				return err
			}
			overrideID = sql.NullInt64{Int64: o.ID, Valid: true}
		}
		res, err = tx.ExecContext(ctx, `UPDATE coverage_requests SET status = $1, override_id = $2, decided_at = $3, updated_at = $3
			WHERE id = $4 AND status = $5`, string(to), overrideID, ms(now), id, string(schedule.CoveragePending))
		if err := changedOne(res, err, fmt.Sprintf("decide coverage request %d", id),
			fault.Errorf("coverage request %d was answered meanwhile; read it again", id)); err != nil {
			return err
		}
		if out, err = findCoverage(ctx, tx, id, now); err != nil {
			return err
		}
		return noticeCoverage(ctx, tx, out, coverageChange(to), by, now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkPending refuses to move c to status to unless it is PENDING, saying what it is.
func checkPending(c *schedule.CoverageRequest, to schedule.CoverageStatus) error {
	verb := map[schedule.CoverageStatus]string{schedule.CoverageAccepted: "accepted", schedule.CoverageDeclined: "declined",
		schedule.CoverageCancelled: "cancelled"}[to]
	switch c.Status {
	case schedule.CoveragePending:
		return nil
	case schedule.CoverageExpired:
		return fault.Errorf("coverage request %d expired when its start (%s) passed; it can no longer be %s",
			c.ID, c.Start.UTC().Format(time.RFC3339), verb)
	}
	return fault.Errorf("coverage request %d is %s, not PENDING; only a PENDING request can be %s", c.ID, c.Status, verb)
}

// checkCover returns Invalid unless user u is on call in the schedule for all of
// [start, end), with the overrides stored now; a missing schedule is an error with code.
func checkCover(ctx context.Context, tx *sql.Tx, scheduleID int64, u auth.Ref, start, end time.Time, code fault.Code) error {
	s, err := findSchedule(ctx, tx, fmt.Sprintf("schedule %d", scheduleID), `id = $1`, scheduleID)
	if fault.Is(err, fault.NotFound) {
		return fault.New(code, "schedule %d does not exist", scheduleID)
	}
	if err != nil {
		return err
	}
	overrides, err := loadOverrides(ctx, tx, []int64{scheduleID}, start, end)
	if err != nil {
		return err
	}
	p, err := schedule.Compile(s, overrides[scheduleID])
	if err != nil {
		return fmt.Errorf("store: schedule %d as stored does not compile: %w", scheduleID, err)
	}
	return p.CheckCover(u, start, end)
}

// findCoverage reads request id as a reader sees it at now.
func findCoverage(ctx context.Context, q querier, id int64, now time.Time) (*schedule.CoverageRequest, error) {
	c, err := scanCoverage(q.QueryRowContext(ctx, coverageSelect+` WHERE c.id = $1`, id), now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("coverage request %d does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: coverage request %d: %w", id, err)
	}
	return c, nil
}

// scanCoverage reads coverageSelect's columns; a PENDING request whose start is not after
// now reads as EXPIRED.
func scanCoverage(row scanner, now time.Time) (*schedule.CoverageRequest, error) {
	var c schedule.CoverageRequest
	var start, end, created int64
	var status string
	var override, decided sql.NullInt64
	err := row.Scan(&c.ID, &c.Schedule.ID, &c.Schedule.Name, &c.Requester.ID, &c.Requester.FirstName, &c.Requester.LastName,
		&c.User.ID, &c.User.FirstName, &c.User.LastName, &start, &end, &c.Message, &status, &override, &created, &decided)
	if err != nil {
		return nil, err
	}
	c.Start, c.End, c.CreatedAt = fromMS(start), fromMS(end), fromMS(created)
	c.OverrideID = override.Int64
	c.DecidedAt = fromNullMS(decided)
	c.Status = schedule.CoverageStatus(status)
	c.Status = c.StatusAt(now)
	return &c, nil
}

// coverageChange is what a notice about a coverage request reports.
type coverageChange string

const (
	coverageAsked     coverageChange = "ASKED"
	coverageAccepted                 = coverageChange(schedule.CoverageAccepted)
	coverageDeclined                 = coverageChange(schedule.CoverageDeclined)
	coverageCancelled                = coverageChange(schedule.CoverageCancelled)
)

// PurposeCoverage marks the messages about coverage requests.
const PurposeCoverage = "COVERAGE"

// noticeCoverage decides who hears about change to c and puts their notices in the outbox in
// tx, due at now, so a notice exists if and only if the change is committed: the colleague
// when asked and when the request is cancelled; the requester when it is accepted or
// declined, and when someone else (an ADMIN) cancels it. by is who cancelled.
//
// A notice goes by EMAIL to the address of the recipient's account. Notification rules are
// about alerts, on-call reminders and alert updates and have no kind for this; every account
// has an email address, the target of the default alert rule too, so a request reaches the
// colleague without them configuring anything. Muting is for alerts and does not hold
// notices back. Times are written on the recipient's clock: their account's time zone, else
// the schedule's. The dedup key "coverage:<request>:<change>:<user>" makes queuing a notice
// twice impossible.
func noticeCoverage(ctx context.Context, tx *sql.Tx, c *schedule.CoverageRequest, change coverageChange, by int64, now time.Time) error {
	var scheduleZone string
	if err := tx.QueryRowContext(ctx, `SELECT timezone FROM schedules WHERE id = $1`, c.Schedule.ID).Scan(&scheduleZone); err != nil {
		return fmt.Errorf("store: time zone of schedule %d: %w", c.Schedule.ID, err)
	}
	requester, colleague := refName(c.Requester), refName(c.User)
	// Each text takes where and when ("schedule "ops" from … to …") on the recipient's clock.
	type notice struct {
		to      int64
		subject string
		text    func(span string) string
	}
	var list []notice
	switch change {
	case coverageAsked:
		list = append(list, notice{c.User.ID, requester + " asks you to cover their on-call shift in " + c.Schedule.Name,
			func(span string) string {
				text := requester + " asks you to take over their on-call shift in " + span + "."
				if c.Message != "" {
					text += "\n\nTheir message:\n" + c.Message
				}
				return text + fmt.Sprintf("\n\nAnswer with PUT /api/coverage-requests/%d/accept or /api/coverage-requests/%d/decline. "+
					"If you accept, you are on call in their place for that time.", c.ID, c.ID)
			}})
	case coverageAccepted:
		list = append(list, notice{c.Requester.ID, colleague + " covers your on-call shift in " + c.Schedule.Name,
			func(span string) string {
				return colleague + " accepted to cover your on-call shift in " + span + ". They are on call then, not you."
			}})
	case coverageDeclined:
		list = append(list, notice{c.Requester.ID, colleague + " cannot cover your on-call shift in " + c.Schedule.Name,
			func(span string) string {
				return colleague + " declined to cover your on-call shift in " + span + ". You are still on call then."
			}})
	case coverageCancelled:
		list = append(list, notice{c.User.ID, requester + " no longer needs you to cover in " + c.Schedule.Name,
			func(span string) string {
				return "The request that you cover " + requester + "'s on-call shift in " + span + " was cancelled. Nothing changes for you."
			}})
		if by != c.Requester.ID {
			list = append(list, notice{c.Requester.ID, "Your request for cover in " + c.Schedule.Name + " was cancelled",
				func(span string) string {
					return "An administrator cancelled your request that " + colleague + " cover your on-call shift in " + span + ". You are still on call then."
				}})
		}
	}
	msgs := make([]NewMessage, 0, len(list))
	for _, n := range list {
		a, err := findAccount(ctx, tx, n.to)
		if err != nil {
			return err
		}
		loc, err := zone.Load(a.Timezone)
		if a.Timezone == "" || err != nil {
			if loc, err = zone.Load(scheduleZone); err != nil {
				loc = time.UTC
			}
		}
		const layout = "Mon 2 Jan 2006 15:04 MST"
		msgs = append(msgs, NewMessage{
			UserID:   a.ID,
			Purpose:  PurposeCoverage,
			Method:   string(contact.Email),
			Target:   a.Email,
			Subject:  n.subject,
			Body:     n.text(fmt.Sprintf("schedule %q from %s to %s", c.Schedule.Name, c.Start.In(loc).Format(layout), c.End.In(loc).Format(layout))),
			DueAt:    now,
			DedupKey: fmt.Sprintf("coverage:%d:%s:%d", c.ID, strings.ToLower(string(change)), a.ID),
		})
	}
	if _, err := scheduleMessages(ctx, tx, msgs, ms(now)); err != nil {
		return fmt.Errorf("store: notices of coverage request %d: %w", c.ID, err)
	}
	return nil
}

// refName is a user's first and last name.
func refName(r auth.Ref) string {
	if n := strings.TrimSpace(r.FirstName + " " + r.LastName); n != "" {
		return n
	}
	return fmt.Sprintf("user %d", r.ID)
}
