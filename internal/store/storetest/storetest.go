// Package storetest opens fresh, migrated tocsin databases for tests: a SQLite file in a
// temporary folder, and, when TOCSIN_TEST_POSTGRES holds a URL, a PostgreSQL schema of its own.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for schema set-up

	"github.com/tocsinhq/tocsin/internal/store"
)

// PostgresURL returns TOCSIN_TEST_POSTGRES. In CI (CI=true) a missing URL fails the test;
// elsewhere PostgreSQL tests are skipped with a message saying why.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("TOCSIN_TEST_POSTGRES")
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("TOCSIN_TEST_POSTGRES is not set, and CI requires the PostgreSQL tests")
		}
		tb.Skip("PostgreSQL tests need TOCSIN_TEST_POSTGRES=postgres://… (CI sets it)")
	}
	return u
}

// Each runs fn once per available engine as subtests named "sqlite" and "postgres".
func Each(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteDSN(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, PostgresDSN(t)) })
}

// EachDB runs fn once per engine with a fresh migrated database.
func EachDB(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	Each(t, func(t *testing.T, dsn string) { fn(t, MustOpen(t, dsn)) })
}

// SQLiteDSN returns the path of a new SQLite file that is removed after the test.
func SQLiteDSN(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "tocsin.db")
}

// PostgresDSN creates an empty schema for the test and returns a URL whose search_path is
// that schema. The schema is dropped after the test.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL(tb)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open PostgreSQL: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse TOCSIN_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// MustOpen opens and migrates the database at dsn and closes it after the test.
func MustOpen(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("open %s: %v", dsn, err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return db
}
