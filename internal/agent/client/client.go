// Package client is the agent's side of the server's public HTTP API: sending events and
// heartbeat pings, and the calls of escalation-policy sync. It works with any server that
// speaks the API (tocsin, or ilert). Errors say whether trying again can help.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
)

// Event is an event as the Events API takes it.
type Event struct {
	IntegrationKey string          `json:"integrationKey"`
	EventType      string          `json:"eventType"`
	Summary        string          `json:"summary,omitempty"`
	Details        string          `json:"details,omitempty"`
	AlertKey       string          `json:"alertKey,omitempty"`
	Priority       string          `json:"priority,omitempty"`
	Images         []Image         `json:"images,omitempty"`
	Links          []Link          `json:"links,omitempty"`
	CustomDetails  json.RawMessage `json:"customDetails,omitempty"`
	// tocsin's own fields (ilert's agent does not send them; ilert's API ignores what it does
	// not know).
	RoutingKey string            `json:"routingKey,omitempty"`
	Severity   *int              `json:"severity,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Comments   []Comment         `json:"comments,omitempty"`
}

// Comment is a comment carried by an event.
type Comment struct {
	Creator string `json:"creator,omitempty"`
	Content string `json:"content"`
}

// Image and Link are an event's pictures and links, in the API's shape.
type (
	Image = alert.Image
	Link  = alert.Link
)

// ParseEvent reads an event in the Events API's shape (with its aliases: apiKey for
// integrationKey, incidentKey for alertKey) and checks it by the server's own rules, so what
// the agent accepts the server takes. The error is a 400-worthy message.
func ParseEvent(body []byte) (Event, error) {
	ev, err := alert.ParseEvent(body, "")
	if err != nil {
		return Event{}, err
	}
	out := Event{IntegrationKey: ev.IntegrationKey, EventType: string(ev.Type), Summary: ev.Summary, Details: ev.Details,
		AlertKey: ev.AlertKey, Priority: string(ev.Priority), CustomDetails: ev.CustomDetails,
		RoutingKey: ev.RoutingKey, Severity: ev.Severity, Labels: ev.Labels}
	for _, c := range ev.Comments {
		out.Comments = append(out.Comments, Comment{Creator: c.Creator, Content: c.Content})
	}
	for _, i := range ev.Images {
		out.Images = append(out.Images, Image{Src: i.Src, Href: i.Href, Alt: i.Alt})
	}
	for _, l := range ev.Links {
		out.Links = append(out.Links, Link{Href: l.Href, Text: l.Text})
	}
	return out, nil
}

// Validate checks an event built by the agent (from a message or the command line) by the
// server's rules.
func (e Event) Validate() error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("client: encode event: %w", err)
	}
	_, err = ParseEvent(b)
	return err
}

// Client calls a server's API.
type Client struct {
	base   string
	apiKey string
	http   *http.Client
}

// New returns a client of the server at baseURL ("http://127.0.0.1:8080"). apiKey is needed
// only for escalation-policy sync; a leading "Bearer " (in any case) is removed.
func New(baseURL, apiKey string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), apiKey: bearerless(apiKey),
		http: &http.Client{Timeout: 15 * time.Second}}
}

// StatusError is an answer other than the one wanted.
type StatusError struct {
	Status     int
	Body       string
	RetryAfter time.Duration // from a 429's or 503's Retry-After, if any, at most maxRetryAfter
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the server answered %d: %s", e.Status, e.Body)
}

// Retryable reports whether trying again later can succeed: network errors, timeouts (and a
// proxy's 408), 429 and 5xx answers. A 400 or 404 (bad event, unknown key) never will.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status == http.StatusTooManyRequests || se.Status == http.StatusRequestTimeout || se.Status >= 500
	}
	return !errors.Is(err, errInvalid)
}

// errInvalid marks errors about the request itself, found before sending it.
var errInvalid = errors.New("invalid")

// SendEvent posts an event to the Events API; nil means the server took it (202).
func (c *Client) SendEvent(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("%w: encode event: %v", errInvalid, err)
	}
	_, err = c.do(ctx, http.MethodPost, "/api/events", body, false, http.StatusAccepted)
	return err
}

// Ping sends a heartbeat ping: GET /api/heartbeats/{key} for legacy keys (il1hbt…), HEAD
// /api/pings/{key} for heartbeat monitors. nil means the server took it (202).
func (c *Client) Ping(ctx context.Context, key string) error {
	if key == "" {
		return fmt.Errorf("%w: no heartbeat key", errInvalid)
	}
	method, path := http.MethodHead, "/api/pings/"+url.PathEscape(key)
	if strings.HasPrefix(key, "il1hbt") {
		method, path = http.MethodGet, "/api/heartbeats/"+url.PathEscape(key)
	}
	_, err := c.do(ctx, method, path, nil, false, http.StatusAccepted)
	return err
}

// UserIDByEmail finds a user by email (POST /api/users/search-email).
func (c *Client) UserIDByEmail(ctx context.Context, email string) (int64, error) {
	body, _ := json.Marshal(map[string]string{"email": email})
	resp, err := c.do(ctx, http.MethodPost, "/api/users/search-email", body, true, http.StatusOK)
	if err != nil {
		return 0, err
	}
	var u struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(resp, &u); err != nil || u.ID == 0 {
		return 0, &StatusError{Status: http.StatusOK, Body: "no user id in " + clip(resp)}
	}
	return u.ID, nil
}

// Policy is what escalation-policy sync needs of a policy: its id and each level's timeout.
type Policy struct {
	ID              int64 `json:"id"`
	EscalationRules []struct {
		EscalationTimeout int `json:"escalationTimeout"`
	} `json:"escalationRules"`
}

// PolicyByRoutingKey finds an escalation policy by its routing key
// (GET /api/escalation-policies/resolve?routing-key=).
func (c *Client) PolicyByRoutingKey(ctx context.Context, routingKey string) (Policy, error) {
	resp, err := c.do(ctx, http.MethodGet, "/api/escalation-policies/resolve?routing-key="+url.QueryEscape(routingKey), nil, true, http.StatusOK)
	if err != nil {
		return Policy{}, err
	}
	var p Policy
	if err := json.Unmarshal(resp, &p); err != nil || p.ID == 0 {
		return Policy{}, &StatusError{Status: http.StatusOK, Body: "no policy id in " + clip(resp)}
	}
	return p, nil
}

// SetLevel replaces the users of level (from 0) of a policy, with its escalation timeout
// (PUT /api/escalation-policies/{id}/levels/{level}).
func (c *Client) SetLevel(ctx context.Context, policyID int64, level, timeout int, userIDs []int64) error {
	users := make([]map[string]int64, len(userIDs))
	for i, id := range userIDs {
		users[i] = map[string]int64{"id": id}
	}
	body, _ := json.Marshal(map[string]any{"escalationTimeout": timeout, "users": users})
	_, err := c.do(ctx, http.MethodPut, fmt.Sprintf("/api/escalation-policies/%d/levels/%d", policyID, level), body, true, http.StatusOK)
	return err
}

// do sends a request and returns the body of the wanted answer.
func (c *Client) do(ctx context.Context, method, path string, body []byte, auth bool, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalid, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "tocsin-agent")
	if auth {
		if c.apiKey == "" {
			return nil, fmt.Errorf("%w: an API key is needed (TOCSIN_API_KEY or ILERT_API_KEY)", errInvalid)
		}
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL holds the path as it is; it is said below with keys shortened
		}
		return nil, fmt.Errorf("client: %s %s: %w", method, shownPath(path), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: read the answer: %w", method, shownPath(path), err)
	}
	if resp.StatusCode != want {
		se := &StatusError{Status: resp.StatusCode, Body: clip(b)}
		se.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		return nil, se
	}
	return b, nil
}

// bearerless returns an API key without the "Bearer " a user may have copied with it.
func bearerless(apiKey string) string {
	k := strings.TrimSpace(apiKey)
	if len(k) > 7 && strings.EqualFold(k[:7], "bearer ") {
		k = strings.TrimSpace(k[7:])
	}
	return k
}

// shownPath is path for logs and errors: a ping's key, which is all a ping needs, shortened.
func shownPath(path string) string {
	for _, prefix := range []string{"/api/pings/", "/api/heartbeats/"} {
		if key, ok := strings.CutPrefix(path, prefix); ok {
			return prefix + Redact(key)
		}
	}
	return path
}

// Redact shortens a key (an integration or heartbeat key) for logs: enough to tell them
// apart (its first six characters, which for ilert's keys are a type prefix like il1hbt, and
// its last four), not enough to send events or pings with.
func Redact(key string) string {
	switch {
	case len(key) <= 6:
		return key
	case len(key) < 20:
		return key[:6] + "…"
	}
	return key[:6] + "…" + key[len(key)-4:]
}

// maxRetryAfter caps the wait a server's Retry-After asks for: a longer one (a mistake, or a
// date far away) would hold the item, and the items behind it, back for that long, even
// across restarts.
const maxRetryAfter = time.Hour

// retryAfter reads a Retry-After header: seconds, or an HTTP date. 0 means none, or a time
// already past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		d = maxRetryAfter
		if err == nil && s < uint64(maxRetryAfter/time.Second) {
			d = time.Duration(s) * time.Second
		}
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
