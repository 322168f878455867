package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// client calls tocsin's REST API as one caller.
type client struct {
	base string // http://addr
	auth string // the Authorization header
	hc   *http.Client
}

func newClient(base, auth string) *client {
	return &client{base: base, auth: auth, hc: &http.Client{Timeout: 10 * time.Second}}
}

func bearer(key string) string { return "Bearer " + key }

// do sends body as JSON (none when nil) and returns the status and the response body.
func (c *client) do(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("encode %s %s body: %v", method, path, err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the response: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// call requires status want and decodes the response into out (unless out is nil).
func (c *client) call(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	got, b := c.do(t, method, path, body)
	if got != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, got, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

type account struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

type alertJSON struct {
	ID         int64  `json:"id"`
	AlertKey   string `json:"alertKey"`
	Status     string `json:"status"`
	EventCount int    `json:"eventCount"`
}

// currentUser returns the caller's own account.
func (c *client) currentUser(t *testing.T) account {
	t.Helper()
	var a account
	c.call(t, "GET", "/api/users/current", nil, http.StatusOK, &a)
	return a
}

// setUpSource creates an escalation policy that pages userID and an API alert source
// following it, and returns the source's integration key.
func (c *client) setUpSource(t *testing.T, userID int64) string {
	t.Helper()
	return c.createSource(t, map[string]any{
		"name":            "p",
		"escalationRules": []any{map[string]any{"escalationTimeout": 5, "users": []any{map[string]any{"id": userID}}}},
	})
}

// createSource creates the escalation policy and an API alert source following it, and
// returns the source's integration key.
func (c *client) createSource(t *testing.T, policy map[string]any) string {
	t.Helper()
	var created struct {
		ID int64 `json:"id"`
	}
	c.call(t, "POST", "/api/escalation-policies", policy, http.StatusCreated, &created)
	if created.ID <= 0 {
		t.Fatalf("POST /api/escalation-policies answered id %d", created.ID)
	}
	var source struct {
		ID             int64  `json:"id"`
		IntegrationKey string `json:"integrationKey"`
	}
	c.call(t, "POST", "/api/alert-sources", map[string]any{
		"name": "s", "integrationType": "API", "escalationPolicy": map[string]any{"id": created.ID},
	}, http.StatusCreated, &source)
	if source.IntegrationKey == "" {
		t.Fatalf("POST /api/alert-sources answered no integrationKey (source id %d)", source.ID)
	}
	return source.IntegrationKey
}

// allAlerts pages through GET /api/alerts and checks the list against GET /api/alerts/count.
// An alert opened meanwhile (a stream rule's, say) changes the count: then it reads again.
func (c *client) allAlerts(t *testing.T) []alertJSON {
	t.Helper()
	count := func() int {
		var n struct {
			Count int `json:"count"`
		}
		c.call(t, "GET", "/api/alerts/count", nil, http.StatusOK, &n)
		return n.Count
	}
	for try := 1; ; try++ {
		before := count()
		all := c.alertPages(t, before)
		after := count()
		if before == after && len(all) == after {
			return all
		}
		if before == after || try == 10 {
			t.Fatalf("GET /api/alerts listed %d alerts, GET /api/alerts/count says %d then %d", len(all), before, after)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alertPages lists every alert, a page at a time; count is what /api/alerts/count said.
func (c *client) alertPages(t *testing.T, count int) []alertJSON {
	t.Helper()
	const pageSize = 100
	var all []alertJSON
	for start := 0; ; start += pageSize {
		if start > count+pageSize {
			t.Fatalf("GET /api/alerts keeps returning full pages past start-index %d, but /api/alerts/count says %d", start, count)
		}
		var page []alertJSON
		c.call(t, "GET", fmt.Sprintf("/api/alerts?start-index=%d&max-results=%d", start, pageSize), nil, http.StatusOK, &page)
		all = append(all, page...)
		if len(page) < pageSize {
			return all
		}
	}
}
