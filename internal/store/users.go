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

// accountColumns are the columns scanAccount reads, in order.
const accountColumns = `users.id, users.email, users.username, users.first_name, users.last_name, users.role,
	users.timezone, users.position, users.department, users.language, users.region, users.shift_color,
	users.muted_until, users.created_at, users.updated_at`

type scanner interface{ Scan(dest ...any) error }

// scanAccount reads accountColumns, then the extra columns that follow them into extra.
func scanAccount(row scanner, extra ...any) (auth.Account, error) {
	var a auth.Account
	var username sql.NullString
	var muted sql.NullInt64
	var created, updated int64
	dest := append([]any{&a.ID, &a.Email, &username, &a.FirstName, &a.LastName, &a.Role, &a.Timezone, &a.Position,
		&a.Department, &a.Language, &a.Region, &a.ShiftColor, &muted, &created, &updated}, extra...)
	err := row.Scan(dest...)
	a.Username = username.String
	a.MutedUntil = fromNullMS(muted)
	a.CreatedAt, a.UpdatedAt = fromMS(created), fromMS(updated)
	return a, err
}

// scanAll reads every row with scan and closes rows; the result is never nil, so empty lists
// encode as [].
func scanAll[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CreateAccount adds a user. passwordHash may be empty (the user cannot sign in with a
// password). Returns Conflict if the email or username is taken.
func (db *DB) CreateAccount(ctx context.Context, a *auth.Account, passwordHash string) error {
	if err := checkAccount(a); err != nil {
		return err
	}
	now := db.Now().UTC().Truncate(1e6)
	a.CreatedAt, a.UpdatedAt = now, now
	err := db.write.QueryRowContext(ctx, `INSERT INTO users (email, email_lower, username, first_name, last_name, role,
		timezone, position, department, language, region, shift_color, muted_until, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING id`,
		a.Email, strings.ToLower(a.Email), nullString(a.Username), a.FirstName, a.LastName, string(a.Role),
		a.Timezone, a.Position, a.Department, a.Language, a.Region, a.ShiftColor, nullMS(a.MutedUntil),
		passwordHash, ms(now)).Scan(&a.ID)
	if isUniqueViolation(err) {
		return userConflict(err, a)
	}
	if err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	return nil
}

// CountAccounts returns how many users exist.
func (db *DB) CountAccounts(ctx context.Context) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

// AccountByEmail finds a user by email, case-insensitively, with the password hash.
// Returns NotFound if there is none.
func (db *DB) AccountByEmail(ctx context.Context, email string) (auth.Account, string, error) {
	row := db.read.QueryRowContext(ctx, `SELECT `+accountColumns+`, users.password_hash FROM users WHERE email_lower = $1`,
		strings.ToLower(strings.TrimSpace(email)))
	var hash string
	a, err := scanAccount(row, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Account{}, "", fault.NotFoundf("no user has email %q", email)
	}
	if err != nil {
		return auth.Account{}, "", fmt.Errorf("store: user by email: %w", err)
	}
	return a, hash, nil
}

// apiKeyTouchInterval is how stale last_used_at may get before a request refreshes it, so
// that API calls do not each cost a write.
const apiKeyTouchInterval = 60_000

// AccountByAPIKey finds the owner of an unrevoked API key by the key's hash and records the
// key's use. Returns NotFound for an unknown or revoked key.
func (db *DB) AccountByAPIKey(ctx context.Context, hash string) (auth.Account, error) {
	row := db.read.QueryRowContext(ctx, `SELECT `+accountColumns+`, api_keys.id, api_keys.last_used_at
		FROM api_keys JOIN users ON users.id = api_keys.user_id
		WHERE api_keys.hash = $1 AND api_keys.revoked_at IS NULL`, hash)
	var keyID int64
	var lastUsed sql.NullInt64
	a, err := scanAccount(row, &keyID, &lastUsed)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Account{}, fault.NotFoundf("unknown API key")
	}
	if err != nil {
		return auth.Account{}, fmt.Errorf("store: account by API key: %w", err)
	}
	if now := db.now(); !lastUsed.Valid || now-lastUsed.Int64 > apiKeyTouchInterval {
		// Bookkeeping only: a failed write here must not refuse a valid key, and a database
		// that cannot write shows itself on the request's own writes.
		_, _ = db.write.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, now, keyID)
	}
	return a, nil
}

// checkAccount normalizes a and reports the first rule it breaks, including the store's own
// rule on usernames: /api/users/{id} accepts an id or a username, so a username must not read
// as an id nor as "current".
func checkAccount(a *auth.Account) error {
	a.Normalize()
	if err := a.Validate(); err != nil {
		return err
	}
	if a.Username == "current" || strings.ContainsRune(a.Username, '/') {
		return fault.Errorf("username %q is reserved or contains '/'", a.Username)
	}
	if allDigits(a.Username) {
		return fault.Errorf("username %q must not be a number: it would read as a user id", a.Username)
	}
	return nil
}

// userConflict names the unique column a write on users clashed with.
func userConflict(err error, a *auth.Account) error {
	if strings.Contains(err.Error(), "email_lower") {
		return fault.New(fault.Conflict, "a user with email %q already exists", a.Email)
	}
	return fault.New(fault.Conflict, "a user with username %q already exists", a.Username)
}

// Account returns the user with the given id. Returns NotFound if there is none.
func (db *DB) Account(ctx context.Context, id int64) (auth.Account, error) {
	return findAccount(ctx, db.read, id)
}

func findAccount(ctx context.Context, q querier, id int64) (auth.Account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Account{}, fault.NotFoundf("user %d does not exist", id)
	}
	if err != nil {
		return auth.Account{}, fmt.Errorf("store: user %d: %w", id, err)
	}
	return a, nil
}

// AccountByUsername returns the user with the given username (case-sensitive). Returns
// NotFound if there is none.
func (db *DB) AccountByUsername(ctx context.Context, username string) (auth.Account, error) {
	a, err := scanAccount(db.read.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM users WHERE username = $1`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Account{}, fault.NotFoundf("no user has username %q", username)
	}
	if err != nil {
		return auth.Account{}, fmt.Errorf("store: user by username: %w", err)
	}
	return a, nil
}

// AccountByRef returns the user named by ref: an id when ref is all digits, or else a username.
// checkAccount refuses all-digit usernames, so the two never clash; "+7" or "-3" are usernames.
// Returns NotFound if there is none.
func (db *DB) AccountByRef(ctx context.Context, ref string) (auth.Account, error) {
	if !allDigits(ref) {
		return db.AccountByUsername(ctx, ref)
	}
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil { // out of range: no user has this id
		return auth.Account{}, fault.NotFoundf("user %s does not exist", ref)
	}
	return db.Account(ctx, id)
}

// allDigits reports whether s is a non-empty string of ASCII digits: how a user id reads.
func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// ListAccounts returns one page of users in id order.
func (db *DB) ListAccounts(ctx context.Context, p Page) ([]auth.Account, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+accountColumns+` FROM users ORDER BY id LIMIT $1 OFFSET $2`, p.Max, p.Start)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	list, err := scanAll(rows, func(row scanner) (auth.Account, error) { return scanAccount(row) })
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return list, nil
}

// UpdateAccount replaces the profile and role of user a.ID and fills a's timestamps from the
// stored row. The password is kept. Returns NotFound if the user does not exist, Invalid if
// the change would leave no ADMIN, and Conflict if the email or username is taken.
func (db *DB) UpdateAccount(ctx context.Context, a *auth.Account) error {
	if err := checkAccount(a); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		old, err := findAccount(ctx, tx, a.ID)
		if err != nil {
			return err
		}
		if old.Role == auth.Admin && a.Role != auth.Admin {
			if err := keepAnAdmin(ctx, tx, a.ID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET email = $1, email_lower = $2, username = $3, first_name = $4,
			last_name = $5, role = $6, timezone = $7, position = $8, department = $9, language = $10, region = $11,
			shift_color = $12, muted_until = $13, updated_at = $14 WHERE id = $15`,
			a.Email, strings.ToLower(a.Email), nullString(a.Username), a.FirstName, a.LastName, string(a.Role),
			a.Timezone, a.Position, a.Department, a.Language, a.Region, a.ShiftColor, nullMS(a.MutedUntil),
			db.now(), a.ID)
		if isUniqueViolation(err) {
			return userConflict(err, a)
		}
		if err != nil {
			return fmt.Errorf("store: update user %d: %w", a.ID, err)
		}
		*a, err = findAccount(ctx, tx, a.ID)
		return err
	})
}

// DeleteAccount removes a user with their API keys and team memberships. Returns NotFound if
// the user does not exist, and Invalid while an escalation level names them or when they are
// the last ADMIN.
func (db *DB) DeleteAccount(ctx context.Context, id int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		a, err := findAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		// Lock the user (with every ADMIN when it is one) before looking for policies that
		// name it, so a policy write cannot add one meanwhile; see lockRows.
		if a.Role == auth.Admin {
			if err := keepAnAdmin(ctx, tx, id); err != nil {
				return err
			}
		} else if err := lockRows(ctx, tx, "users", []int64{id}); err != nil {
			return err
		}
		if err := notEscalationTarget(ctx, tx, escalation.TargetUser, id, fmt.Sprintf("user %d", id)); err != nil {
			return err
		}
		if err := releaseScheduleUser(ctx, tx, id, db.now()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id); err != nil {
			return fmt.Errorf("store: delete user %d: %w", id, err)
		}
		return nil
	})
}

// keepAnAdmin refuses to take the ADMIN role from user id (by demotion or deletion) when no
// other ADMIN would remain. It locks every ADMIN row (and id's) first, in id order like
// lockRows, so two transactions removing two different ADMINs cannot both pass the count;
// SQLite already runs one write transaction at a time.
func keepAnAdmin(ctx context.Context, tx *sql.Tx, id int64) error {
	admins := []int64{id}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM users WHERE role = $1`, string(auth.Admin))
	if err != nil {
		return fmt.Errorf("store: list admins: %w", err)
	}
	for rows.Next() {
		var a int64
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return fmt.Errorf("store: list admins: %w", err)
		}
		admins = append(admins, a)
	}
	rows.Close()
	if err := lockRows(ctx, tx, "users", admins); err != nil {
		return err
	}
	var others int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE role = $1 AND id <> $2`, string(auth.Admin), id).Scan(&others)
	if err != nil {
		return fmt.Errorf("store: count admins: %w", err)
	}
	if others == 0 {
		return fault.Errorf("user %d is the last ADMIN: make another user ADMIN first", id)
	}
	return nil
}

// notEscalationTarget refuses a change while an escalation level names the target (kind USER
// or TEAM), naming the first such policy so the caller knows where to look.
func notEscalationTarget(ctx context.Context, q querier, kind string, id int64, what string) error {
	var policyID int64
	var name string
	err := q.QueryRowContext(ctx, `SELECT p.id, p.name FROM escalation_rule_targets t
		JOIN escalation_policies p ON p.id = t.policy_id
		WHERE t.kind = $1 AND t.target_id = $2 ORDER BY p.id LIMIT 1`, kind, id).Scan(&policyID, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: escalation levels naming %s: %w", what, err)
	}
	return fault.Errorf("%s is on an escalation level of policy %q (id %d): remove it there first", what, name, policyID)
}
