package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/tocsinhq/tocsin/internal/api"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/ingest"
	"github.com/tocsinhq/tocsin/internal/metrics"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// testServer is the tocsin API over HTTP on a fresh, migrated database, with one ADMIN.
type testServer struct {
	URL      string
	DB       *store.DB
	Admin    auth.Account
	AdminKey string // the ADMIN's API key secret
	users    atomic.Int64
}

// newTestServer starts the API on the database at dsn (see storetest.Each) and stops it when
// the test ends. Warnings and errors the server logs go to the test's output.
func newTestServer(t *testing.T, dsn string) *testServer {
	t.Helper()
	return newTestServerWith(t, dsn, nil)
}

// newTestServerWith is newTestServer with options edited by edit.
func newTestServerWith(t *testing.T, dsn string, edit func(*api.Options)) *testServer {
	t.Helper()
	db := storetest.MustOpen(t, dsn)
	m := metrics.New()
	c := ingest.New(db, m, ingest.Options{})
	var h http.Handler
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	o := api.Options{Store: db, Ingest: c, Metrics: m, PublicURL: hs.URL,
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if edit != nil {
		edit(&o)
	}
	h = api.New(o)
	t.Cleanup(func() {
		hs.Close()
		c.Close()
	})
	ts := &testServer{URL: hs.URL, DB: db}
	ts.Admin, ts.AdminKey = ts.user(t, auth.Admin)
	return ts
}

// user creates a user with the given role, straight in the database, and an API key for them.
func (ts *testServer) user(t *testing.T, role auth.Role) (auth.Account, string) {
	t.Helper()
	n := ts.users.Add(1)
	a := auth.Account{FirstName: string(role), LastName: fmt.Sprint(n), Email: fmt.Sprintf("user%d@example.com", n), Role: role}
	if err := ts.DB.CreateAccount(context.Background(), &a, ""); err != nil {
		t.Fatalf("create %s user: %v", role, err)
	}
	_, key, err := ts.DB.CreateAPIKey(context.Background(), a.ID, "test")
	if err != nil {
		t.Fatalf("create API key: %v", err)
	}
	return a, key
}

// do sends a request with key as Bearer token (none if key is empty). body is sent as is when
// it is a string or []byte, as JSON otherwise, and not at all when nil.
func (ts *testServer) do(t *testing.T, method, path, key string, body any) (status int, respBody []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewBuffer(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode request body: %v", err)
		}
		rd = bytes.NewBuffer(js)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	respBody, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, respBody
}

// must is do that fails the test unless the answer has status want.
func (ts *testServer) must(t *testing.T, want int, method, path, key string, body any) []byte {
	t.Helper()
	status, resp := ts.do(t, method, path, key, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, status, want, resp)
	}
	return resp
}

// decodeAs decodes a JSON response body into a T, failing the test if it does not fit.
func decodeAs[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, body, err)
	}
	return v
}
