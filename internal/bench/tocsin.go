package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the run's schema

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/config"
	"github.com/tocsinhq/tocsin/internal/server"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Tocsin is a tocsin server started in-process on a database of its own, with a user, an
// API key and an alert source to send events to.
type Tocsin struct {
	Server         *server.Server
	DB             string // where the database is: a file path, or the PostgreSQL schema
	APIKey         string
	SourceID       int64
	IntegrationKey string
	PolicyID       int64

	client *http.Client
	dsn    string                      // what tocsin opened: the SQLite path or the PostgreSQL URL
	drop   func(context.Context) error // removes the database
}

// StartTocsin starts tocsin on a new database: a SQLite file in a temporary folder when
// postgresURL is empty, else a schema created for the run in that PostgreSQL database. The
// per-integration-key event rate limit is off, so the run measures ingestion, not the limit.
// Webhook contacts may point at loopback addresses, where the benchmarks' receivers listen.
// A nil log discards tocsin's logs.
func StartTocsin(ctx context.Context, postgresURL string, log *slog.Logger) (_ *Tocsin, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tocsin{client: &http.Client{Timeout: 30 * time.Second}}
	cfg := config.Defaults()
	cfg.Addr, cfg.EventRate, cfg.ShutdownTimeout, cfg.LogLevel = "127.0.0.1:0", 0, 10*time.Second, "error"
	cfg.AllowPrivateWebhooks = true
	cfg.RatePerUser = 0 // the benchmarks page one user far more often than a person would be
	if postgresURL == "" {
		dir, err := os.MkdirTemp("", "tocsin-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: temporary folder: %w", err)
		}
		cfg.DB = filepath.Join(dir, "tocsin.db")
		t.DB = cfg.DB
		t.drop = func(context.Context) error { return os.RemoveAll(dir) }
	} else {
		var schema string
		cfg.DB, schema, t.drop, err = postgresSchema(ctx, postgresURL)
		if err != nil {
			return nil, err
		}
		t.DB = "schema " + schema
	}
	defer func() {
		if err != nil {
			t.drop(context.Background())
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	t.dsn = cfg.DB
	t.Server, err = server.Start(ctx, cfg, log, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("bench: start tocsin: %w", err)
	}
	if err := t.setUp(ctx); err != nil {
		t.Server.Shutdown(context.Background())
		return nil, err
	}
	return t, nil
}

// EventsURL is the Events API endpoint.
func (t *Tocsin) EventsURL() string { return t.Server.URL + "/api/events" }

// Dialect names the database engine.
func (t *Tocsin) Dialect() store.Dialect { return t.Server.DB.Dialect() }

// setUp creates what events need: a user with an API key through the store, then an
// escalation policy paging that user and an API alert source through the REST API.
func (t *Tocsin) setUp(ctx context.Context) error {
	db := t.Server.DB
	user := auth.Account{FirstName: "Bench", LastName: "Runner", Email: "bench@localhost", Role: auth.Admin}
	if err := db.CreateAccount(ctx, &user, ""); err != nil {
		return fmt.Errorf("bench: create the bench user: %w", err)
	}
	_, secret, err := db.CreateAPIKey(ctx, user.ID, "tocsin bench")
	if err != nil {
		return fmt.Errorf("bench: create an API key: %w", err)
	}
	t.APIKey = secret

	var policy struct {
		ID int64 `json:"id"`
	}
	err = t.call(ctx, http.MethodPost, "/api/escalation-policies", map[string]any{
		"name":            "bench",
		"escalationRules": []any{map[string]any{"escalationTimeout": 5, "users": []any{map[string]any{"id": user.ID}}}},
	}, &policy)
	if err != nil {
		return fmt.Errorf("bench: create an escalation policy: %w", err)
	}
	t.PolicyID = policy.ID
	t.SourceID, t.IntegrationKey, err = t.CreateSource(ctx, nil)
	return err
}

// CreateSource creates an API alert source on the bench policy, with extra fields (its
// rules), and returns its id and integration key.
func (t *Tocsin) CreateSource(ctx context.Context, extra map[string]any) (int64, string, error) {
	body := map[string]any{
		"name":             "bench",
		"integrationType":  "API",
		"escalationPolicy": map[string]any{"id": t.PolicyID},
	}
	maps.Copy(body, extra)
	var source struct {
		ID             int64  `json:"id"`
		IntegrationKey string `json:"integrationKey"`
	}
	if err := t.call(ctx, http.MethodPost, "/api/alert-sources", body, &source); err != nil {
		return 0, "", fmt.Errorf("bench: create an alert source: %w", err)
	}
	if source.IntegrationKey == "" {
		return 0, "", errors.New("bench: the new alert source has no integrationKey")
	}
	return source.ID, source.IntegrationKey, nil
}

// CountAlerts returns how many alerts the bench source has, through GET /api/alerts/count.
func (t *Tocsin) CountAlerts(ctx context.Context) (int, error) {
	return t.CountSourceAlerts(ctx, t.SourceID)
}

// CountSourceAlerts counts the alerts of one alert source.
func (t *Tocsin) CountSourceAlerts(ctx context.Context, sourceID int64) (int, error) {
	var out struct {
		Count *int `json:"count"`
	}
	if err := t.call(ctx, http.MethodGet, "/api/alerts/count?sources="+strconv.FormatInt(sourceID, 10), nil, &out); err != nil {
		return 0, fmt.Errorf("bench: count alerts: %w", err)
	}
	if out.Count == nil {
		return 0, errors.New("bench: count alerts: the answer has no count")
	}
	return *out.Count, nil
}

// call sends a REST API request with the bench API key and decodes a 2xx answer into out.
func (t *Tocsin) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.Server.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// Close stops tocsin, committing what is queued, and removes its database.
func (t *Tocsin) Close() error {
	err := t.Server.Shutdown(context.Background())
	t.client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(err, t.drop(ctx))
}

// postgresSchema creates an empty schema bench_<random> in the database at base and returns
// a URL whose search_path is that schema, its name, and a function that drops it.
func postgresSchema(ctx context.Context, base string) (dsn, schema string, drop func(context.Context) error, err error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", "", nil, fmt.Errorf("bench: parse the PostgreSQL URL: %w", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema = "bench_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", "", nil, fmt.Errorf("bench: open PostgreSQL: %w", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", "", nil, fmt.Errorf("bench: create schema %s: %w", schema, err)
	}
	drop = func(ctx context.Context) error {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return fmt.Errorf("bench: drop schema %s: %w", schema, err)
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("bench: drop schema %s: %w", schema, err)
		}
		return nil
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema, drop, nil
}
