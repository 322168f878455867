// Package store keeps tocsin's state in SQLite or PostgreSQL through one set of portable SQL
// statements. Methods take domain values, run in one transaction, and return *fault.Error
// codes (NotFound, Invalid, Conflict) the API can show.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite"

	"github.com/tocsinhq/tocsin/internal/fault" // registers the "sqlite" driver
)

// Dialect names the database engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed migrations
var migrations embed.FS

// DB is an open tocsin database.
type DB struct {
	dialect Dialect
	write   *sql.DB // SQLite: one connection, so writers queue instead of failing with SQLITE_BUSY
	read    *sql.DB // SQLite: a pool of read-only connections; PostgreSQL: the same pool as write
	engine  *sql.DB // the engine's bookkeeping: the write pool on SQLite; see openPostgres
	pool    *pgxpool.Pool
	epool   *pgxpool.Pool
	ready   atomic.Bool

	// Now is the clock used for every timestamp the store writes.
	Now func() time.Time
}

// IsPostgres reports whether dsn names a PostgreSQL database rather than a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the database named by dsn: a postgres:// URL, or else a SQLite file path.
// It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, dsn)
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: the SQLite path is empty")
	}
	// busy_timeout must come first so the other pragmas wait for a lock instead of failing.
	// synchronous(FULL): a committed event survives a power cut, not only a crash.
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(ON)"
	write, err := sql.Open("sqlite", base+"&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	return &DB{dialect: SQLite, write: write, read: read, engine: write, Now: time.Now}, nil
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: parse PostgreSQL URL: %w", err)
	}
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	// Statements are prepared once per connection (parsing and planning were most of
	// PostgreSQL's time on the engine's path). PostgreSQL may then use a generic plan, so
	// lookups must not depend on statistics to find their index: the open-key index leads
	// with open_key for that reason.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL: %w", err)
	}
	// The engine's bookkeeping (claims, completed timers, recorded sends) commits without
	// waiting for the WAL flush: a PostgreSQL crash can forget its last moments, and the work is
	// then done again (a page may go out twice), never lost. Events and users' changes keep
	// synchronous commits.
	ecfg := cfg.Copy()
	ecfg.MaxConns = 8
	ecfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	epool, err := pgxpool.NewWithConfig(ctx, ecfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	return &DB{dialect: Postgres, write: db, read: db, engine: stdlib.OpenDBFromPool(epool), pool: pool, epool: epool, Now: time.Now}, nil
}

// Dialect returns the engine behind the database.
func (db *DB) Dialect() Dialect { return db.dialect }

// Migrate applies the embedded migrations of the database's dialect. On PostgreSQL a session
// advisory lock makes replicas that start together migrate one at a time.
func (db *DB) Migrate(ctx context.Context) error {
	dir, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	var opts []goose.ProviderOption
	gd := goose.DialectSQLite3
	if db.dialect == Postgres {
		gd = goose.DialectPostgres
		// One lock per schema, so databases that share a server do not wait for each other,
		// probed every second (goose's default waits 5 s between tries).
		var schema string
		if err := db.write.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return fmt.Errorf("store: current schema: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte("tocsin migrations " + schema))
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db.write, dir, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	db.ready.Store(true)
	return nil
}

// Ready reports whether migrations are done and the database answers.
func (db *DB) Ready(ctx context.Context) error {
	if !db.ready.Load() {
		return errors.New("migrations have not run")
	}
	return db.read.PingContext(ctx)
}

// Close closes every connection.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if db.engine != db.write {
		err = errors.Join(err, db.engine.Close())
	}
	if db.pool != nil {
		db.pool.Close()
	}
	if db.epool != nil {
		db.epool.Close()
	}
	return err
}

// inTx runs fn in one write transaction and commits when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTxOn(ctx, db.write, fn)
}

// inEngineTx is inTx for the engine's bookkeeping (see openPostgres).
func (db *DB) inEngineTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTxOn(ctx, db.engine, fn)
}

func inTxOn(ctx context.Context, pool *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return &fault.Error{Code: fault.Unavailable, Message: "the database did not confirm the commit; retry",
			Err: fmt.Errorf("%w: %w", ErrCommitUncertain, err)}
	}
	return nil
}

// ErrCommitUncertain marks a failed COMMIT: the connection may have broken after the
// database committed, so the caller cannot know whether the changes were stored.
var ErrCommitUncertain = errors.New("store: the commit may or may not have happened")

// querier is what read helpers need: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (db *DB) now() int64 { return ms(db.Now()) }

// ms is the stored form of a time: milliseconds since the Unix epoch.
func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func nullMS(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(*t), Valid: true}
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// isUniqueViolation reports whether err is a unique-constraint failure on either engine.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// isForeignKeyViolation reports whether err is a foreign-key failure on either engine.
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "FOREIGN KEY constraint failed") || strings.Contains(msg, "SQLSTATE 23503")
}

// Page is the paging of a list: ilert's start-index and max-results.
type Page struct {
	Start int
	Max   int
}

// params returns n comma-separated parameter markers for parameters from, from+1, …: "$1, $2"
// on PostgreSQL and "?, ?" on SQLite. Statements with many parameters use it because SQLite
// looks each numbered marker up in a list, which grows quadratic with their count; a statement
// must use one style throughout.
func (d Dialect) params(from, n int) string {
	if d == SQLite {
		return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
	}
	return placeholders(from, n)
}

// column names one column of a multi-row insert and its PostgreSQL type (bigint or text).
type column struct {
	name, pgType string
}

// insertRows renders a multi-row INSERT INTO table of rows (each a value per column, as
// int64, int, string, sql.NullInt64 or sql.NullString), followed by tail (ON CONFLICT …,
// RETURNING …). SQLite gets VALUES with anonymous markers; PostgreSQL gets one array per
// column through unnest, so the statement's text, and with it the prepared statement, is the
// same whatever the number of rows.
func (d Dialect) insertRows(table string, cols []column, rows [][]any, tail string) (string, []any) {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	head := "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") "
	if d == SQLite {
		args := make([]any, 0, len(rows)*len(cols))
		values := make([]string, len(rows))
		for i, r := range rows {
			values[i] = "(" + d.params(len(args)+1, len(cols)) + ")"
			args = append(args, r...)
		}
		return head + "VALUES " + strings.Join(values, ", ") + " " + tail, args
	}
	args := make([]any, len(cols))
	arrays := make([]string, len(cols))
	for c, col := range cols {
		arrays[c] = "$" + strconv.Itoa(c+1) + "::" + col.pgType + "[]"
		switch col.pgType {
		case "bigint":
			vals := make([]*int64, len(rows))
			for i, r := range rows {
				vals[i] = int64Ptr(r[c])
			}
			args[c] = vals
		default:
			vals := make([]*string, len(rows))
			for i, r := range rows {
				vals[i] = stringPtr(r[c])
			}
			args[c] = vals
		}
	}
	return head + "SELECT * FROM unnest(" + strings.Join(arrays, ", ") + ") " + tail, args
}

func int64Ptr(v any) *int64 {
	switch x := v.(type) {
	case int64:
		return &x
	case int:
		n := int64(x)
		return &n
	case sql.NullInt64:
		if x.Valid {
			return &x.Int64
		}
	}
	return nil
}

func stringPtr(v any) *string {
	switch x := v.(type) {
	case string:
		return &x
	case sql.NullString:
		if x.Valid {
			return &x.String
		}
	}
	return nil
}

// insertAll writes rows with insertRows, in statements of at most chunk rows.
func (d Dialect) insertAll(ctx context.Context, q querier, table string, cols []column, rows [][]any) error {
	for start := 0; start < len(rows); start += chunk {
		query, args := d.insertRows(table, cols, rows[start:min(start+chunk, len(rows))], "")
		if _, err := q.ExecContext(ctx, query, args...); err != nil {
			return err
		}
	}
	return nil
}

// inIDs renders "col IN (…)" for a list of ids, like inText. SQLite's markers are anonymous,
// so a statement that uses it must pass its arguments in the order their markers appear.
func (d Dialect) inIDs(col string, from int, ids []int64) (string, []any) {
	if d == SQLite {
		return col + " IN (" + d.params(from, len(ids)) + ")", anys(ids)
	}
	return col + " = ANY($" + strconv.Itoa(from) + "::bigint[])", []any{ids}
}

// skipLocked is the row-locking clause of a claim: PostgreSQL replicas skip the rows another
// replica is claiming; SQLite has one writer and no such clause.
func (d Dialect) skipLocked() string {
	if d == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// forUpdate is the clause that locks the rows a SELECT reads until the transaction ends, on
// PostgreSQL; SQLite's one writer needs none.
func (d Dialect) forUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// inText renders "col IN (…)" for a list of strings whose markers start at from: one marker
// per value on SQLite, one array parameter on PostgreSQL (so the statement text is the same
// for any number of values).
func (d Dialect) inText(col string, from int, vals []string) (string, []any) {
	if d == SQLite {
		args := make([]any, len(vals))
		for i, v := range vals {
			args[i] = v
		}
		return col + " IN (" + d.params(from, len(vals)) + ")", args
	}
	return col + " = ANY($" + strconv.Itoa(from) + "::text[])", []any{vals}
}
