package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

const apiKeyColumns = `id, user_id, name, prefix, created_at, last_used_at, revoked_at`

func scanAPIKey(row scanner) (auth.APIKey, error) {
	var k auth.APIKey
	var created int64
	var used, revoked sql.NullInt64
	err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &created, &used, &revoked)
	k.CreatedAt = fromMS(created)
	k.LastUsedAt, k.RevokedAt = fromNullMS(used), fromNullMS(revoked)
	return k, err
}

// CreateAPIKey creates a key for a user and returns its secret, which is not stored and
// cannot be shown again. Returns NotFound if the user does not exist.
func (db *DB) CreateAPIKey(ctx context.Context, userID int64, name string) (auth.APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "API key"
	}
	if len(name) > 200 {
		return auth.APIKey{}, "", fault.Errorf("name must be at most 200 characters")
	}
	secret, prefix, hash := auth.NewAPIKeySecret()
	k := auth.APIKey{UserID: userID, Name: name, Prefix: prefix, CreatedAt: fromMS(db.now())}
	err := db.write.QueryRowContext(ctx, `INSERT INTO api_keys (user_id, name, prefix, hash, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, userID, name, prefix, hash, ms(k.CreatedAt)).Scan(&k.ID)
	if isForeignKeyViolation(err) {
		return auth.APIKey{}, "", fault.NotFoundf("user %d does not exist", userID)
	}
	if err != nil {
		return auth.APIKey{}, "", fmt.Errorf("store: create API key: %w", err)
	}
	return k, secret, nil
}

// APIKey returns the key with the given id, revoked or not. Returns NotFound if there is none.
func (db *DB) APIKey(ctx context.Context, id int64) (auth.APIKey, error) {
	k, err := scanAPIKey(db.read.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.APIKey{}, fault.NotFoundf("API key %d does not exist", id)
	}
	if err != nil {
		return auth.APIKey{}, fmt.Errorf("store: API key %d: %w", id, err)
	}
	return k, nil
}

// ListAPIKeys returns a user's unrevoked keys in id order.
func (db *DB) ListAPIKeys(ctx context.Context, userID int64) ([]auth.APIKey, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: list API keys of user %d: %w", userID, err)
	}
	keys, err := scanAll(rows, scanAPIKey)
	if err != nil {
		return nil, fmt.Errorf("store: list API keys of user %d: %w", userID, err)
	}
	return keys, nil
}

// RevokeAPIKey stops a key from working; the next request that sends it is refused.
// Returns NotFound if the key does not exist or is already revoked.
func (db *DB) RevokeAPIKey(ctx context.Context, id int64) error {
	res, err := db.write.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, db.now(), id)
	return changedOne(res, err, fmt.Sprintf("revoke API key %d", id),
		fault.NotFoundf("API key %d does not exist or is already revoked", id))
}
