package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/fault"
)

const teamColumns = `teams.id, teams.name, teams.visibility, teams.created_at, teams.updated_at`

// Teams are read and changed on behalf of an account (by, which the API passes), under the
// rules of team visibility and team roles below, or by a trusted caller (by nil: tests and
// internal use), which sees and changes every team:
//
//   - a PRIVATE team is seen only by its members (any team role) and by account ADMINs; to
//     anyone else it does not exist: NotFound, and absent from lists (seenBy);
//   - a team is changed (renamed, deleted, its members changed) only by an account ADMIN or
//     by a member whose team role is ADMIN; anyone else who sees it gets Forbidden
//     (manageTeam);
//   - a change by anyone but an account ADMIN must leave the team with a member whose team
//     role is ADMIN (Invalid otherwise), so a team is not orphaned by mistake; a team such an
//     account creates without members gets its creator as team ADMIN.
//
// The resources that name a team (policies, schedules, alert sources, …) are not affected.

// restricted reports whether by is an account bound by those rules: not a trusted caller
// (nil) and not an account ADMIN.
func restricted(by *auth.Account) bool {
	return by != nil && !by.Role.Allows(auth.Administer)
}

// seenBy returns the SQL condition under which by sees a team, with its arguments, which
// take the placeholders from $n: none for a caller who sees every team, otherwise the
// PUBLIC teams and the PRIVATE ones by is a member of.
func seenBy(by *auth.Account, n int) (string, []any) {
	if !restricted(by) {
		return "", nil
	}
	return `(teams.visibility = 'PUBLIC' OR EXISTS (SELECT 1 FROM team_members seen
		WHERE seen.team_id = teams.id AND seen.user_id = $` + strconv.Itoa(n) + `))`, []any{by.ID}
}

// manageTeam is the check before every change to team id on behalf of by (nil: a trusted
// caller). It write-locks the team row until the transaction ends, so its members cannot
// change between the check and the commit, and returns the team with its members. A team by
// does not see is NotFound, as if it did not exist; one by sees but may not change is
// Forbidden.
func manageTeam(ctx context.Context, tx *sql.Tx, by *auth.Account, id int64) (auth.Team, error) {
	if err := lockRows(ctx, tx, "teams", []int64{id}); err != nil {
		return auth.Team{}, err
	}
	t, err := oneTeam(ctx, tx, by, `teams.id = $1`, id, fmt.Sprintf("team %d does not exist", id))
	if err != nil || !restricted(by) {
		return t, err
	}
	for _, m := range t.Members {
		if m.User.ID == by.ID && m.Role == auth.Admin {
			return t, nil
		}
	}
	return auth.Team{}, fault.New(fault.Forbidden, "only an account ADMIN or a member of team %q with team role ADMIN may change it", t.Name)
}

// hasTeamAdmin reports whether any of members has the team role ADMIN.
func hasTeamAdmin(members []auth.TeamMember) bool {
	for _, m := range members {
		if m.Role == auth.Admin {
			return true
		}
	}
	return false
}

// lastTeamAdmin reports whether userID is the only member of t with the team role ADMIN.
func lastTeamAdmin(t auth.Team, userID int64) bool {
	n, is := 0, false
	for _, m := range t.Members {
		if m.Role == auth.Admin {
			n++
			is = is || m.User.ID == userID
		}
	}
	return is && n == 1
}

func scanTeam(row scanner) (auth.Team, error) {
	var t auth.Team
	var created, updated int64
	err := row.Scan(&t.ID, &t.Name, &t.Visibility, &created, &updated)
	t.CreatedAt, t.UpdatedAt = fromMS(created), fromMS(updated)
	t.Members = []auth.TeamMember{}
	return t, err
}

// placeholders returns "$from, $from+1, …" for n values, for IN lists.
func placeholders(from, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(ps, ", ")
}

// CreateTeam adds a team with its members and fills t from the stored rows, members' full
// profiles included. Returns Invalid if a member is not a user, Conflict if the name is taken.
func (db *DB) CreateTeam(ctx context.Context, by *auth.Account, t *auth.Team) error {
	t.Normalize()
	if restricted(by) && len(t.Members) == 0 {
		t.Members = []auth.TeamMember{{User: auth.Account{ID: by.ID}, Role: auth.Admin}}
	}
	if err := t.Validate(); err != nil {
		return err
	}
	if restricted(by) && !hasTeamAdmin(t.Members) {
		return fault.Errorf("members name no team ADMIN, so only an account ADMIN could change the team: " +
			"give a member (yourself, to manage the team) the role ADMIN, or leave members out to become its ADMIN")
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO teams (name, visibility, created_at, updated_at)
			VALUES ($1, $2, $3, $3) RETURNING id`, t.Name, t.Visibility, now).Scan(&id)
		if isUniqueViolation(err) {
			return fault.New(fault.Conflict, "a team named %q already exists", t.Name)
		}
		if err != nil {
			return fmt.Errorf("store: create team: %w", err)
		}
		if err := replaceMembers(ctx, tx, id, t.Members); err != nil {
			return err
		}
		*t, err = findTeam(ctx, tx, id)
		return err
	})
}

// UpdateTeam replaces the name, visibility and member list of team t.ID and fills t from the
// stored rows. Returns NotFound if the team does not exist, Invalid if a member is not a user,
// Conflict if the name is taken.
func (db *DB) UpdateTeam(ctx context.Context, by *auth.Account, t *auth.Team) error {
	t.Normalize()
	if err := t.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := manageTeam(ctx, tx, by, t.ID); err != nil {
			return err
		}
		if restricted(by) && !hasTeamAdmin(t.Members) {
			return fault.Errorf("members name no team ADMIN, so only an account ADMIN could change the team: " +
				"keep a member with the role ADMIN (only an account ADMIN may leave a team without one)")
		}
		res, err := tx.ExecContext(ctx, `UPDATE teams SET name = $1, visibility = $2, updated_at = $3 WHERE id = $4`,
			t.Name, t.Visibility, db.now(), t.ID)
		if isUniqueViolation(err) {
			return fault.New(fault.Conflict, "a team named %q already exists", t.Name)
		}
		if err := changedOne(res, err, fmt.Sprintf("update team %d", t.ID), fault.NotFoundf("team %d does not exist", t.ID)); err != nil {
			return err
		}
		if err := replaceMembers(ctx, tx, t.ID, t.Members); err != nil {
			return err
		}
		if err := refreshSourceTeams(ctx, tx, t.ID, t.Name, false); err != nil {
			return err
		}
		*t, err = findTeam(ctx, tx, t.ID)
		return err
	})
}

// replaceMembers makes members the whole member list of a team.
func replaceMembers(ctx context.Context, tx *sql.Tx, teamID int64, members []auth.TeamMember) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM team_members WHERE team_id = $1`, teamID); err != nil {
		return fmt.Errorf("store: clear members of team %d: %w", teamID, err)
	}
	for _, m := range members {
		if err := userExists(ctx, tx, m.User.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, $3)`,
			teamID, m.User.ID, string(m.Role)); err != nil {
			return fmt.Errorf("store: add user %d to team %d: %w", m.User.ID, teamID, err)
		}
	}
	return nil
}

// userExists checks a user referenced from a request body; a missing one is Invalid, not
// NotFound, because the resource addressed by the URL does exist.
func userExists(ctx context.Context, q querier, id int64) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fault.Errorf("user %d does not exist", id)
	}
	if err != nil {
		return fmt.Errorf("store: find user %d: %w", id, err)
	}
	return nil
}

// Team returns a team with its members, as by sees it (see seenBy; nil sees every team).
// Returns NotFound if there is none.
func (db *DB) Team(ctx context.Context, by *auth.Account, id int64) (auth.Team, error) {
	return oneTeam(ctx, db.read, by, `teams.id = $1`, id, fmt.Sprintf("team %d does not exist", id))
}

func findTeam(ctx context.Context, q querier, id int64) (auth.Team, error) {
	return oneTeam(ctx, q, nil, `teams.id = $1`, id, fmt.Sprintf("team %d does not exist", id))
}

// TeamByName returns the team with exactly this name, with its members, as by sees it.
// Returns NotFound if there is none.
func (db *DB) TeamByName(ctx context.Context, by *auth.Account, name string) (auth.Team, error) {
	return oneTeam(ctx, db.read, by, `teams.name = $1`, name, fmt.Sprintf("no team is named %q", name))
}

// oneTeam returns the team matching where (whose one argument is $1) that by sees.
func oneTeam(ctx context.Context, q querier, by *auth.Account, where string, arg any, notFound string) (auth.Team, error) {
	args := []any{arg}
	if cond, more := seenBy(by, 2); cond != "" {
		where += ` AND ` + cond
		args = append(args, more...)
	}
	t, err := scanTeam(q.QueryRowContext(ctx, `SELECT `+teamColumns+` FROM teams WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Team{}, fault.New(fault.NotFound, "%s", notFound)
	}
	if err != nil {
		return auth.Team{}, fmt.Errorf("store: find team: %w", err)
	}
	teams := []auth.Team{t}
	if err := loadMembers(ctx, q, teams); err != nil {
		return auth.Team{}, err
	}
	return teams[0], nil
}

// ListTeams returns one page of teams in id order, with their members. With memberIDs, only
// teams that have at least one of those users as a member.
func (db *DB) ListTeams(ctx context.Context, by *auth.Account, p Page, memberIDs []int64) ([]auth.Team, error) {
	args := []any{p.Max, p.Start}
	var conds []string
	if len(memberIDs) > 0 {
		conds = append(conds, `EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = teams.id AND m.user_id IN (`+
			placeholders(len(args)+1, len(memberIDs))+`))`)
		args = append(args, anys(memberIDs)...)
	}
	if cond, more := seenBy(by, len(args)+1); cond != "" {
		conds = append(conds, cond)
		args = append(args, more...)
	}
	where := ""
	if len(conds) > 0 {
		where = `WHERE ` + strings.Join(conds, ` AND `)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+teamColumns+` FROM teams `+where+` ORDER BY teams.id LIMIT $1 OFFSET $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list teams: %w", err)
	}
	teams, err := scanAll(rows, scanTeam)
	if err != nil {
		return nil, fmt.Errorf("store: list teams: %w", err)
	}
	if err := loadMembers(ctx, db.read, teams); err != nil {
		return nil, err
	}
	return teams, nil
}

// loadMembers fills the member lists of teams, ordered by user id.
func loadMembers(ctx context.Context, q querier, teams []auth.Team) error {
	if len(teams) == 0 {
		return nil
	}
	index := make(map[int64]int, len(teams))
	args := make([]any, len(teams))
	for i, t := range teams {
		index[t.ID] = i
		args[i] = t.ID
	}
	rows, err := q.QueryContext(ctx, `SELECT `+accountColumns+`, team_members.team_id, team_members.role
		FROM team_members JOIN users ON users.id = team_members.user_id
		WHERE team_members.team_id IN (`+placeholders(1, len(teams))+`) ORDER BY team_members.team_id, users.id`, args...)
	if err != nil {
		return fmt.Errorf("store: team members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var teamID int64
		var role string
		a, err := scanAccount(rows, &teamID, &role)
		if err != nil {
			return fmt.Errorf("store: team members: %w", err)
		}
		t := &teams[index[teamID]]
		t.Members = append(t.Members, auth.TeamMember{User: a, Role: auth.Role(role)})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: team members: %w", err)
	}
	return nil
}

// DeleteTeam removes a team. Returns NotFound if there is none, and Invalid while an
// escalation level names it.
func (db *DB) DeleteTeam(ctx context.Context, by *auth.Account, id int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		// manageTeam locks the team before looking for policies that name it; see lockRows.
		if _, err := manageTeam(ctx, tx, by, id); err != nil {
			return err
		}
		if err := notEscalationTarget(ctx, tx, escalation.TargetTeam, id, fmt.Sprintf("team %d", id)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM teams WHERE id = $1`, id); err != nil {
			return fmt.Errorf("store: delete team %d: %w", id, err)
		}
		return refreshSourceTeams(ctx, tx, id, "", true)
	})
}

// AddTeamMember adds a user to a team, or changes their team role if they are a member
// already, and returns the member with the user's full profile. Returns NotFound if the team
// does not exist and Invalid if the user does not.
func (db *DB) AddTeamMember(ctx context.Context, by *auth.Account, teamID int64, m auth.TeamMember) (auth.TeamMember, error) {
	m.Role = auth.Role(strings.ToUpper(strings.TrimSpace(string(m.Role))))
	if m.Role == "" {
		m.Role = auth.User
	}
	if err := auth.ValidateTeamRole(m.Role); err != nil {
		return auth.TeamMember{}, err
	}
	if m.User.ID <= 0 {
		return auth.TeamMember{}, fault.Errorf("user.id is required")
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		t, err := manageTeam(ctx, tx, by, teamID)
		if err != nil {
			return err
		}
		if restricted(by) && m.Role != auth.Admin && lastTeamAdmin(t, m.User.ID) {
			return fault.Errorf("user %d is the last ADMIN of team %q: make another member ADMIN first", m.User.ID, t.Name)
		}
		if err := touchTeam(ctx, tx, teamID, db.now()); err != nil {
			return err
		}
		if err := userExists(ctx, tx, m.User.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role`, teamID, m.User.ID, string(m.Role)); err != nil {
			return fmt.Errorf("store: add user %d to team %d: %w", m.User.ID, teamID, err)
		}
		m.User, err = findAccount(ctx, tx, m.User.ID)
		return err
	})
	if err != nil {
		return auth.TeamMember{}, err
	}
	return m, nil
}

// RemoveTeamMember takes a user out of a team. Returns NotFound if the team does not exist
// or the user is not a member of it.
func (db *DB) RemoveTeamMember(ctx context.Context, by *auth.Account, teamID, userID int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		t, err := manageTeam(ctx, tx, by, teamID)
		if err != nil {
			return err
		}
		if restricted(by) && lastTeamAdmin(t, userID) {
			return fault.Errorf("user %d is the last ADMIN of team %q: make another member ADMIN first", userID, t.Name)
		}
		if err := touchTeam(ctx, tx, teamID, db.now()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM team_members WHERE team_id = $1 AND user_id = $2`, teamID, userID)
		return changedOne(res, err, fmt.Sprintf("remove user %d from team %d", userID, teamID),
			fault.NotFoundf("user %d is not a member of team %d", userID, teamID))
	})
}

// touchTeam records a change to a team's members. Returns NotFound if there is no such team.
func touchTeam(ctx context.Context, tx *sql.Tx, id, now int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE teams SET updated_at = $1 WHERE id = $2`, now, id)
	return changedOne(res, err, fmt.Sprintf("touch team %d", id), fault.NotFoundf("team %d does not exist", id))
}

// changedOne checks the outcome of a write meant to change one row: a failed write is wrapped
// with what was being done, and a write that matched no row returns notFound.
func changedOne(res sql.Result, err error, what string, notFound error) error {
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n == 0 {
		return notFound
	}
	return nil
}
