package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// policyColumns are the columns scanPolicy reads, in order.
const policyColumns = `id, name, routing_key, repeating, frequency, delay_min`

// CreatePolicy validates p, checks that the users and teams it names exist and stores it with
// all its levels in one transaction. It sets p.ID and fills the names of users and teams.
// Returns Invalid for a bad policy or an unknown user or team, Conflict if the routing key is
// taken by another policy.
func (db *DB) CreatePolicy(ctx context.Context, p *escalation.Policy) error {
	p.Normalize()
	if err := p.Validate(); err != nil {
		return err
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkPolicyRefs(ctx, tx, p); err != nil {
			return err
		}
		now := db.now()
		err := tx.QueryRowContext(ctx, `INSERT INTO escalation_policies (name, routing_key, repeating, frequency,
			delay_min, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id`,
			p.Name, nullString(p.RoutingKey), p.Repeating, p.Frequency, p.DelayMin, now).Scan(&p.ID)
		if err != nil {
			return policyWriteError("create escalation policy", p, err)
		}
		if err := insertPolicyParts(ctx, tx, p); err != nil {
			return policyWriteError("create escalation policy", p, err)
		}
		return rereadPolicy(ctx, tx, p)
	})
	if err != nil {
		p.ID = 0
	}
	return err
}

// UpdatePolicy replaces the policy p.ID, levels and teams included, in one transaction.
// Returns NotFound if it does not exist, and the errors of CreatePolicy.
func (db *DB) UpdatePolicy(ctx context.Context, p *escalation.Policy) error {
	p.Normalize()
	if err := p.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE escalation_policies SET name = $1, routing_key = $2, repeating = $3,
			frequency = $4, delay_min = $5, updated_at = $6 WHERE id = $7`,
			p.Name, nullString(p.RoutingKey), p.Repeating, p.Frequency, p.DelayMin, db.now(), p.ID)
		if err != nil {
			return policyWriteError(fmt.Sprintf("update escalation policy %d", p.ID), p, err)
		}
		if err := changedOne(res, nil, fmt.Sprintf("update escalation policy %d", p.ID),
			fault.NotFoundf("escalation policy %d does not exist", p.ID)); err != nil {
			return err
		}
		if err := checkPolicyRefs(ctx, tx, p); err != nil {
			return err
		}
		for _, table := range []string{"escalation_rule_targets", "escalation_rules", "escalation_policy_teams"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE policy_id = $1`, p.ID); err != nil {
				return fmt.Errorf("store: update escalation policy %d: clear %s: %w", p.ID, table, err)
			}
		}
		if err := insertPolicyParts(ctx, tx, p); err != nil {
			return policyWriteError(fmt.Sprintf("update escalation policy %d", p.ID), p, err)
		}
		return rereadPolicy(ctx, tx, p)
	})
}

// SetPolicyLevel replaces the timeout and targets of one existing level (0-based) of a policy,
// as ilagent's policy sync does. It fills the names of the rule's users and teams.
// Returns Invalid for a bad rule or an unknown user or team, NotFound if the policy or the
// level does not exist.
func (db *DB) SetPolicyLevel(ctx context.Context, policyID int64, level int, r *escalation.Rule) error {
	r.Normalize()
	if err := r.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkPolicyExists(ctx, tx, policyID, fault.NotFound); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE escalation_rules SET escalation_timeout = $1
			WHERE policy_id = $2 AND level = $3`, r.EscalationTimeout, policyID, level)
		if err := changedOne(res, err, fmt.Sprintf("set level %d of escalation policy %d", level, policyID),
			fault.NotFoundf("escalation policy %d has no level %d (levels count from 0)", policyID, level)); err != nil {
			return err
		}
		if err := checkRuleRefs(ctx, tx, []escalation.Rule{*r}, nil); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM escalation_rule_targets WHERE policy_id = $1 AND level = $2`,
			policyID, level); err != nil {
			return fmt.Errorf("store: set level %d of escalation policy %d: %w", level, policyID, err)
		}
		if err := insertTargets(ctx, tx, policyID, level, r); err != nil {
			return fmt.Errorf("store: set level %d of escalation policy %d: %w", level, policyID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE escalation_policies SET updated_at = $1 WHERE id = $2`,
			db.now(), policyID); err != nil {
			return fmt.Errorf("store: set level %d of escalation policy %d: %w", level, policyID, err)
		}
		p, err := findPolicy(ctx, tx, fmt.Sprintf("escalation policy %d", policyID), `id = $1`, policyID)
		if err != nil {
			return err
		}
		*r = p.EscalationRules[level]
		return nil
	})
}

// DeletePolicy deletes a policy and its levels. Returns NotFound if it does not exist, and
// Invalid while an alert source or an open alert uses it.
func (db *DB) DeletePolicy(ctx context.Context, id int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var users int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM alert_sources WHERE escalation_policy_id = $1`,
			id).Scan(&users); err != nil {
			return fmt.Errorf("store: delete escalation policy %d: %w", id, err)
		}
		if users > 0 {
			return fault.Errorf("escalation policy %d is used by %d alert source(s); move them to another policy first", id, users)
		}
		// Alerts carry no foreign key to their policy (it may change by hand), so an open one
		// would be left escalating along a policy that no longer exists.
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM alerts WHERE escalation_policy_id = $1 AND status <> $2`,
			id, string(alert.Resolved)).Scan(&open); err != nil {
			return fmt.Errorf("store: delete escalation policy %d: %w", id, err)
		}
		if open > 0 {
			return fault.Errorf("escalation policy %d is followed by %d open alert(s); resolve them or assign them to another policy first", id, open)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM escalation_policies WHERE id = $1`, id)
		if isForeignKeyViolation(err) {
			return fault.Errorf("escalation policy %d is still in use", id)
		}
		return changedOne(res, err, fmt.Sprintf("delete escalation policy %d", id),
			fault.NotFoundf("escalation policy %d does not exist", id))
	})
}

// Policy returns a policy with its levels and teams. Returns NotFound if it does not exist.
func (db *DB) Policy(ctx context.Context, id int64) (*escalation.Policy, error) {
	return findPolicy(ctx, db.read, fmt.Sprintf("escalation policy %d", id), `id = $1`, id)
}

// PolicyByName returns the policy with exactly this name; of several, the oldest.
// Returns NotFound if there is none.
func (db *DB) PolicyByName(ctx context.Context, name string) (*escalation.Policy, error) {
	return findPolicy(ctx, db.read, fmt.Sprintf("escalation policy named %q", name),
		`id = (SELECT MIN(id) FROM escalation_policies WHERE name = $1)`, name)
}

// PolicyByRoutingKey returns the policy with this routing key. Returns NotFound if there is none.
func (db *DB) PolicyByRoutingKey(ctx context.Context, key string) (*escalation.Policy, error) {
	return findPolicy(ctx, db.read, fmt.Sprintf("escalation policy with routing key %q", key),
		`routing_key = $1`, strings.TrimSpace(key))
}

// PolicyIDByRoutingKey returns the id of the policy with this routing key, for events that
// route by key. Returns NotFound if there is none.
func (db *DB) PolicyIDByRoutingKey(ctx context.Context, key string) (int64, error) {
	return policyIDByRoutingKey(ctx, db.read, key)
}

// policyIDByRoutingKey is PolicyIDByRoutingKey inside a transaction.
func policyIDByRoutingKey(ctx context.Context, q querier, key string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM escalation_policies WHERE routing_key = $1`,
		strings.TrimSpace(key)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fault.NotFoundf("no escalation policy has routing key %q", key)
	}
	if err != nil {
		return 0, fmt.Errorf("store: escalation policy by routing key: %w", err)
	}
	return id, nil
}

// Policies returns a page of policies ordered by id.
func (db *DB) Policies(ctx context.Context, pg Page) ([]escalation.Policy, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+policyColumns+` FROM escalation_policies
		ORDER BY id LIMIT $1 OFFSET $2`, pg.Max, pg.Start)
	if err != nil {
		return nil, fmt.Errorf("store: list escalation policies: %w", err)
	}
	defer rows.Close()
	policies := []escalation.Policy{}
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list escalation policies: %w", err)
		}
		policies = append(policies, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list escalation policies: %w", err)
	}
	if err := loadPolicyParts(ctx, db.read, policies); err != nil {
		return nil, err
	}
	return policies, nil
}

// rereadPolicy replaces p with what is now stored under p.ID, so that a write answers with
// exactly what a later read shows (names of users and teams filled in).
func rereadPolicy(ctx context.Context, tx *sql.Tx, p *escalation.Policy) error {
	stored, err := findPolicy(ctx, tx, fmt.Sprintf("escalation policy %d", p.ID), `id = $1`, p.ID)
	if err != nil {
		return err
	}
	*p = *stored
	return nil
}

// findPolicy reads the one policy matching where (a condition on escalation_policies with $1).
// what names the policy in errors ("escalation policy 5").
func findPolicy(ctx context.Context, q querier, what, where string, arg any) (*escalation.Policy, error) {
	row := q.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM escalation_policies WHERE `+where, arg)
	p, err := scanPolicy(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("%s does not exist", what)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", what, err)
	}
	ps := []escalation.Policy{p}
	if err := loadPolicyParts(ctx, q, ps); err != nil {
		return nil, err
	}
	return &ps[0], nil
}

func scanPolicy(row scanner) (escalation.Policy, error) {
	var p escalation.Policy
	var key sql.NullString
	err := row.Scan(&p.ID, &p.Name, &key, &p.Repeating, &p.Frequency, &p.DelayMin)
	p.RoutingKey = key.String
	p.Teams = []auth.TeamRef{}
	p.EscalationRules = []escalation.Rule{}
	return p, err
}

// loadPolicyParts reads the teams, levels and targets of policies, which must be ordered by
// id. It reads every policy whose id lies between the first and the last, so a page of
// policies costs three queries, not three per policy.
func loadPolicyParts(ctx context.Context, q querier, policies []escalation.Policy) error {
	if len(policies) == 0 {
		return nil
	}
	lo, hi := policies[0].ID, policies[len(policies)-1].ID
	index := make(map[int64]*escalation.Policy, len(policies))
	for i := range policies {
		index[policies[i].ID] = &policies[i]
	}
	fail := func(err error) error { return fmt.Errorf("store: read escalation policies %d to %d: %w", lo, hi, err) }

	rows, err := q.QueryContext(ctx, `SELECT pt.policy_id, t.id, t.name FROM escalation_policy_teams pt
		JOIN teams t ON t.id = pt.team_id WHERE pt.policy_id BETWEEN $1 AND $2 ORDER BY pt.policy_id, t.id`, lo, hi)
	if err != nil {
		return fail(err)
	}
	err = eachRow(rows, func() error {
		var pid int64
		var t auth.TeamRef
		if err := rows.Scan(&pid, &t.ID, &t.Name); err != nil {
			return err
		}
		if p := index[pid]; p != nil {
			p.Teams = append(p.Teams, t)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}

	rows, err = q.QueryContext(ctx, `SELECT policy_id, level, escalation_timeout FROM escalation_rules
		WHERE policy_id BETWEEN $1 AND $2 ORDER BY policy_id, level`, lo, hi)
	if err != nil {
		return fail(err)
	}
	err = eachRow(rows, func() error {
		var pid int64
		var level int
		r := escalation.Rule{Users: []auth.Ref{}, Schedules: []escalation.ScheduleRef{}, Teams: []auth.TeamRef{}}
		if err := rows.Scan(&pid, &level, &r.EscalationTimeout); err != nil {
			return err
		}
		if p := index[pid]; p != nil {
			if level != len(p.EscalationRules) {
				return fmt.Errorf("policy %d: level %d stored after %d levels", pid, level, len(p.EscalationRules))
			}
			p.EscalationRules = append(p.EscalationRules, r)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}

	rows, err = q.QueryContext(ctx, `SELECT rt.policy_id, rt.level, rt.kind, rt.target_id,
			COALESCE(u.first_name, ''), COALESCE(u.last_name, ''), COALESCE(tm.name, ''),
			COALESCE(sc.name, ''), COALESCE(sc.type, '')
		FROM escalation_rule_targets rt
		LEFT JOIN users u ON rt.kind = 'USER' AND u.id = rt.target_id
		LEFT JOIN teams tm ON rt.kind = 'TEAM' AND tm.id = rt.target_id
		LEFT JOIN schedules sc ON rt.kind = 'SCHEDULE' AND sc.id = rt.target_id
		WHERE rt.policy_id BETWEEN $1 AND $2 ORDER BY rt.policy_id, rt.level, rt.position`, lo, hi)
	if err != nil {
		return fail(err)
	}
	err = eachRow(rows, func() error {
		var pid, target int64
		var level int
		var kind, first, last, team, schedule, scheduleType string
		if err := rows.Scan(&pid, &level, &kind, &target, &first, &last, &team, &schedule, &scheduleType); err != nil {
			return err
		}
		p := index[pid]
		if p == nil {
			return nil
		}
		if level < 0 || level >= len(p.EscalationRules) {
			return fmt.Errorf("policy %d: target of missing level %d", pid, level)
		}
		r := &p.EscalationRules[level]
		switch kind {
		case escalation.TargetUser:
			r.Users = append(r.Users, auth.Ref{ID: target, FirstName: first, LastName: last})
		case escalation.TargetTeam:
			r.Teams = append(r.Teams, auth.TeamRef{ID: target, Name: team})
		case escalation.TargetSchedule:
			r.Schedules = append(r.Schedules, escalation.ScheduleRef{ID: target, Name: schedule, Type: scheduleType})
		default:
			return fmt.Errorf("policy %d: unknown target kind %q", pid, kind)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return nil
}

// eachRow calls fn for every row, then closes rows.
func eachRow(rows *sql.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// insertPolicyParts writes the teams and levels of p, whose ID is set.
func insertPolicyParts(ctx context.Context, tx *sql.Tx, p *escalation.Policy) error {
	for _, t := range p.Teams {
		if _, err := tx.ExecContext(ctx, `INSERT INTO escalation_policy_teams (policy_id, team_id) VALUES ($1, $2)`,
			p.ID, t.ID); err != nil {
			return fmt.Errorf("team %d: %w", t.ID, err)
		}
	}
	for level := range p.EscalationRules {
		r := &p.EscalationRules[level]
		if _, err := tx.ExecContext(ctx, `INSERT INTO escalation_rules (policy_id, level, escalation_timeout)
			VALUES ($1, $2, $3)`, p.ID, level, r.EscalationTimeout); err != nil {
			return fmt.Errorf("level %d: %w", level, err)
		}
		if err := insertTargets(ctx, tx, p.ID, level, r); err != nil {
			return err
		}
	}
	return nil
}

// insertTargets writes the targets of one level in the order users, schedules, teams, which is
// the order they are read back in.
func insertTargets(ctx context.Context, tx *sql.Tx, policyID int64, level int, r *escalation.Rule) error {
	pos := 0
	add := func(kind string, id int64) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO escalation_rule_targets (policy_id, level, position, kind, target_id)
			VALUES ($1, $2, $3, $4, $5)`, policyID, level, pos, kind, id)
		if err != nil {
			return fmt.Errorf("level %d: %s %d: %w", level, strings.ToLower(kind), id, err)
		}
		pos++
		return nil
	}
	for _, u := range r.Users {
		if err := add(escalation.TargetUser, u.ID); err != nil {
			return err
		}
	}
	for _, s := range r.Schedules {
		if err := add(escalation.TargetSchedule, s.ID); err != nil {
			return err
		}
	}
	for _, t := range r.Teams {
		if err := add(escalation.TargetTeam, t.ID); err != nil {
			return err
		}
	}
	return nil
}

// checkPolicyExists returns an error with code if policy id does not exist: NotFound when
// the policy is the thing addressed, Invalid when another resource refers to it.
func checkPolicyExists(ctx context.Context, q querier, id int64, code fault.Code) error {
	err := checkExist(ctx, q, "escalation_policies", "escalation policy", []int64{id})
	if fault.Is(err, fault.Invalid) {
		return fault.New(code, "escalation policy %d does not exist", id)
	}
	return err
}

// policyWriteError turns a failed write of p into a Conflict when the routing key is taken.
func policyWriteError(what string, p *escalation.Policy, err error) error {
	if isUniqueViolation(err) {
		return fault.New(fault.Conflict, "another escalation policy already has routing key %q", p.RoutingKey)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// checkPolicyRefs returns Invalid if p names a user or team that does not exist. Schedules are
// stored as given.
func checkPolicyRefs(ctx context.Context, q querier, p *escalation.Policy) error {
	return checkRuleRefs(ctx, q, p.EscalationRules, p.Teams)
}

func checkRuleRefs(ctx context.Context, q querier, rules []escalation.Rule, teams []auth.TeamRef) error {
	var users, teamIDs, scheduleIDs []int64
	for _, t := range teams {
		teamIDs = append(teamIDs, t.ID)
	}
	for _, r := range rules {
		for _, u := range r.Users {
			users = append(users, u.ID)
		}
		for _, t := range r.Teams {
			teamIDs = append(teamIDs, t.ID)
		}
		for _, sc := range r.Schedules {
			scheduleIDs = append(scheduleIDs, sc.ID)
		}
	}
	if err := lockRows(ctx, q, "schedules", scheduleIDs); err != nil {
		return err
	}
	if err := checkExist(ctx, q, "schedules", "schedule", scheduleIDs); err != nil {
		return err
	}
	// Lock the rows first, so a user or team cannot be deleted between this check and the
	// commit (DeleteAccount and DeleteTeam take the same lock before they look for levels).
	if err := lockRows(ctx, q, "users", users); err != nil {
		return err
	}
	if err := lockRows(ctx, q, "teams", teamIDs); err != nil {
		return err
	}
	if err := checkExist(ctx, q, "users", "user", users); err != nil {
		return err
	}
	return checkExist(ctx, q, "teams", "team", teamIDs)
}

// lockRows write-locks the rows of table (users or teams) with the given ids until the
// transaction ends, in id order so that two writers cannot deadlock. The update changes
// nothing; it is the one row lock both engines understand (SQLite already runs one write
// transaction at a time).
func lockRows(ctx context.Context, q querier, table string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for _, id := range sorted {
		if _, err := q.ExecContext(ctx, `UPDATE `+table+` SET updated_at = updated_at WHERE id = $1`, id); err != nil {
			return fmt.Errorf("store: lock %s %d: %w", table, id, err)
		}
	}
	return nil
}

// checkExist returns Invalid naming the first of ids that table lacks.
func checkExist(ctx context.Context, q querier, table, what string, ids []int64) error {
	_, err := lookupNames(ctx, q, table, "id", what, ids)
	return err
}

// lookupNames maps each of ids to its column in table. It returns Invalid naming (as what)
// the first id that table lacks.
func lookupNames(ctx context.Context, q querier, table, column, what string, ids []int64) (map[int64]string, error) {
	const chunk = 500
	names := make(map[int64]string, len(ids))
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		rows, err := q.QueryContext(ctx, `SELECT id, `+column+` FROM `+table+` WHERE id IN (`+placeholders(1, len(part))+`)`,
			anys(part)...)
		if err != nil {
			return nil, fmt.Errorf("store: look up %s: %w", table, err)
		}
		err = eachRow(rows, func() error {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				return err
			}
			names[id] = name
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: look up %s: %w", table, err)
		}
		for _, id := range part {
			if _, ok := names[id]; !ok {
				return nil, fault.Errorf("%s %d does not exist", what, id)
			}
		}
	}
	return names, nil
}
