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

// createUser creates a user through the API and returns its id.
func (c *client) createUser(t *testing.T, first, last, email string) int64 {
	t.Helper()
	var u struct {
		ID int64 `json:"id"`
	}
	c.call(t, "POST", "/api/users", map[string]any{"firstName": first, "lastName": last, "email": email, "role": "RESPONDER"},
		http.StatusCreated, &u)
	if u.ID <= 0 {
		t.Fatalf("POST /api/users answered id %d", u.ID)
	}
	return u.ID
}

// contactJSON is a created contact; Secret is only set for a new webhook.
type contactJSON struct {
	ID     int64  `json:"id"`
	Secret string `json:"secret"`
}

// createContact adds a contact of kind (emails, phone-numbers, webhooks) to a user.
func (c *client) createContact(t *testing.T, user int64, kind string, body map[string]any) int64 {
	t.Helper()
	return c.createContactFull(t, user, kind, body).ID
}

func (c *client) createContactFull(t *testing.T, user int64, kind string, body map[string]any) contactJSON {
	t.Helper()
	var ct contactJSON
	c.call(t, "POST", fmt.Sprintf("/api/users/%d/contacts/%s", user, kind), body, http.StatusCreated, &ct)
	if ct.ID <= 0 {
		t.Fatalf("POST /api/users/%d/contacts/%s answered id %d", user, kind, ct.ID)
	}
	return ct
}

// createAlertRule gives a user a HIGH_PRIORITY alert rule: method to contact after delayMin.
func (c *client) createAlertRule(t *testing.T, user int64, method string, contact int64, delayMin int) {
	t.Helper()
	c.call(t, "POST", fmt.Sprintf("/api/users/%d/notification-preferences/alerts", user), map[string]any{
		"method": method, "contact": map[string]any{"id": contact}, "delayMin": delayMin, "type": "HIGH_PRIORITY",
	}, http.StatusCreated, nil)
}

// notifications lists GET /api/alerts/{id}/notifications.
func (c *client) notifications(t *testing.T, alertID int64) []notificationJSON {
	t.Helper()
	var ns []notificationJSON
	c.call(t, "GET", fmt.Sprintf("/api/alerts/%d/notifications", alertID), nil, http.StatusOK, &ns)
	return ns
}

// logEntries lists an alert's log entries, oldest first.
func (c *client) logEntries(t *testing.T, alertID int64) []logEntryJSON {
	t.Helper()
	var all []logEntryJSON
	for start := 0; ; start += 100 {
		var page []logEntryJSON
		c.call(t, "GET", fmt.Sprintf("/api/alerts/%d/log-entries?start-index=%d&max-results=100", alertID, start), nil, http.StatusOK, &page)
		all = append(all, page...)
		if len(page) < 100 {
			return all
		}
	}
}

// sendEvent posts an ALERT event and returns tocsin's answer, or an error for a transport
// failure or any status but 202.
func sendEvent(hc *http.Client, base, integrationKey, alertKey, summary string) (eventAnswer, error) {
	body, _ := json.Marshal(map[string]string{
		"integrationKey": integrationKey, "eventType": "ALERT", "summary": summary, "alertKey": alertKey,
	})
	resp, err := hc.Post(base+"/api/events", "application/json", bytes.NewReader(body))
	if err != nil {
		return eventAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return eventAnswer{}, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return eventAnswer{}, fmt.Errorf("status %s: %s", resp.Status, b)
	}
	var a eventAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return eventAnswer{}, fmt.Errorf("decode %s: %w", b, err)
	}
	return a, nil
}

// postEvent is sendEvent that fails the test on an error.
func postEvent(t *testing.T, base, integrationKey, alertKey, summary string) eventAnswer {
	t.Helper()
	a, err := sendEvent(&http.Client{Timeout: 10 * time.Second}, base, integrationKey, alertKey, summary)
	if err != nil {
		t.Fatalf("POST /api/events (alertKey %q): %v", alertKey, err)
	}
	return a
}
