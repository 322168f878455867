// Package webhook delivers notifications to a user's own HTTP endpoint: the alert (or a
// message not about an alert) as JSON,
// signed with HMAC-SHA256 over a timestamp and the body so the receiver can tell the request
// came from tocsin and is not a replay.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/notify/netguard"
)

// Headers tocsin sets on every delivery.
const (
	HeaderTimestamp = "X-Tocsin-Timestamp" // Unix seconds when the request was signed
	HeaderSignature = "X-Tocsin-Signature" // "v1=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	HeaderDelivery  = "X-Tocsin-Delivery"  // "<messageId>-<attempt>"
)

// DefaultTolerance is how far a timestamp may be from the receiver's clock when Verify is
// given no tolerance.
const DefaultTolerance = 5 * time.Minute

// maxResponse is how much of a receiver's answer is read (and quoted in an error).
const maxResponse = 4 << 10

// Config configures the channel. The zero value is usable: public destinations only, 30s.
type Config struct {
	// AllowPrivate lets webhooks reach loopback, private and shared (CGNAT) addresses, never
	// link-local or cloud metadata ones. Leave it off unless every user who can add a webhook
	// contact may reach tocsin's internal network.
	AllowPrivate bool
	// Timeout bounds one delivery. Zero means 30s.
	Timeout time.Duration
	// UserAgent is sent as User-Agent; empty means "tocsin-webhook/1".
	UserAgent string
	// Now is the clock for the signature's timestamp; nil means time.Now.
	Now func() time.Time
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Timeout < 0 {
		return errors.New("webhook: timeout must not be negative")
	}
	return nil
}

// Channel sends WEBHOOK messages. It is safe for concurrent use.
type Channel struct {
	guard  netguard.Config
	client *http.Client
	agent  string
	now    func() time.Time
}

// New returns a channel for cfg.
func New(cfg Config) (*Channel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	guard := netguard.Config{AllowPrivate: cfg.AllowPrivate, Timeout: cfg.Timeout}
	c := &Channel{guard: guard, client: guard.Client(), agent: cfg.UserAgent, now: cfg.Now}
	if c.agent == "" {
		c.agent = "tocsin-webhook/1"
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// TypeAlert is the type of a delivery about an alert. Other messages (a reminder before an
// on-call shift, a request to cover one) have the type of their purpose in lower case: "duty",
// "coverage".
const TypeAlert = "alert"

// Payload is the JSON body of a delivery about an alert.
type Payload struct {
	// ID identifies this delivery attempt: "<messageId>-<attempt>", as in X-Tocsin-Delivery.
	ID string `json:"id"`
	// MessageID is the same for every attempt at one message: receivers deduplicate on it.
	MessageID  int64  `json:"messageId"`
	Attempt    int    `json:"attempt"`
	Type       string `json:"type"` // TypeAlert
	AlertID    int64  `json:"alertId"`
	Summary    string `json:"summary"`
	Details    string `json:"details"`
	Priority   string `json:"priority"`
	Status     string `json:"status"`
	Source     string `json:"source"`
	AlertKey   string `json:"alertKey"`
	ReportTime string `json:"reportTime,omitempty"` // RFC 3339, UTC
	AlertURL   string `json:"alertUrl,omitempty"`
	AcceptURL  string `json:"acceptUrl,omitempty"`
	ResolveURL string `json:"resolveUrl,omitempty"`
}

// MessagePayload is the JSON body of a delivery not about an alert: its type, subject and
// text, and no alert fields.
type MessagePayload struct {
	ID        string `json:"id"`
	MessageID int64  `json:"messageId"`
	Attempt   int    `json:"attempt"`
	Type      string `json:"type"` // the purpose in lower case: "duty", "coverage"
	Subject   string `json:"subject"`
	Text      string `json:"text"`
}

// Body is the JSON sent for m: a Payload for an alert, a MessagePayload for a standalone
// message.
func Body(m notify.Message) ([]byte, error) {
	if m.Standalone() {
		typ := strings.ToLower(m.Purpose)
		if typ == "" {
			typ = "message"
		}
		return json.Marshal(MessagePayload{ID: DeliveryID(m), MessageID: m.ID, Attempt: m.Attempt, Type: typ,
			Subject: m.Subject, Text: m.Text})
	}
	return json.Marshal(NewPayload(m))
}

// NewPayload builds the body sent for m, a message about an alert.
func NewPayload(m notify.Message) Payload {
	p := Payload{
		ID:         DeliveryID(m),
		MessageID:  m.ID,
		Attempt:    m.Attempt,
		Type:       TypeAlert,
		AlertID:    m.AlertID,
		Summary:    m.Summary,
		Details:    m.Details,
		Priority:   m.Priority,
		Status:     m.Status,
		Source:     m.Source,
		AlertKey:   m.AlertKey,
		AlertURL:   m.AlertURL,
		AcceptURL:  m.AcceptURL,
		ResolveURL: m.ResolveURL,
	}
	if !m.ReportAt.IsZero() {
		p.ReportTime = m.ReportAt.UTC().Format(time.RFC3339)
	}
	return p
}

// DeliveryID is the X-Tocsin-Delivery value for m.
func DeliveryID(m notify.Message) string {
	return strconv.FormatInt(m.ID, 10) + "-" + strconv.Itoa(m.Attempt)
}

// Send POSTs m to m.Target, signed with m.Secret. A 2xx answer is success; 408, 425, 429, 5xx
// and network failures are retryable; any other answer (including a redirect, which is not
// followed) and a target the guard refuses are permanent.
func (c *Channel) Send(ctx context.Context, m notify.Message) error {
	// The target URL may carry credentials anywhere in it, and the secret must never leak.
	secrets := append(notify.URLSecrets(m.Target), m.Secret)
	return notify.Redact(c.send(ctx, m, secrets), secrets...)
}

func (c *Channel) send(ctx context.Context, m notify.Message, secrets []string) error {
	where := notify.RedactURL(m.Target)
	if m.Secret == "" {
		return fmt.Errorf("webhook %s: the contact has no signing secret", where)
	}
	if err := c.guard.CheckURL(m.Target); err != nil {
		return fmt.Errorf("webhook %s: %w", where, err)
	}
	body, err := Body(m)
	if err != nil {
		return fmt.Errorf("webhook: encode message %d: %w", m.ID, err)
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: bad target URL", where)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.agent)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(m.Secret, ts, body))
	req.Header.Set(HeaderDelivery, DeliveryID(m))

	resp, err := c.client.Do(req)
	if err != nil {
		// *url.Error quotes the whole URL; keep only what went wrong.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		err = fmt.Errorf("webhook %s: %w", where, err)
		if errors.Is(err, netguard.ErrRefused) {
			return err
		}
		return notify.Retryable(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	// Redact before ClassifyHTTP shortens the answer, which could cut a secret in two.
	text := notify.RedactString(strings.TrimSpace(string(answer)), secrets...)
	return notify.ClassifyHTTP("webhook "+where, resp.StatusCode, text)
}

// Sign returns the X-Tocsin-Signature value for body sent at timestamp (Unix seconds, as in
// X-Tocsin-Timestamp): "v1=" followed by the hex HMAC-SHA256 of timestamp + "." + body.
func Sign(secret, timestamp string, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify reports whether header (the X-Tocsin-Signature value) signs body at timestamp (the
// X-Tocsin-Timestamp value) with secret, and the timestamp is within tolerance of now (zero or
// negative tolerance means DefaultTolerance). header may list several comma-separated
// signatures, as when a secret is being rotated; one valid "v1=" entry is enough. The
// comparison takes constant time.
func Verify(secret, timestamp string, body []byte, header string, now time.Time, tolerance time.Duration) bool {
	if secret == "" {
		return false
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || ts <= 0 {
		return false
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if skew := now.Unix() - ts; math.Abs(float64(skew)) > tolerance.Seconds() {
		return false
	}
	want := mac(secret, timestamp, body)
	ok := false
	for entry := range strings.SplitSeq(header, ",") {
		hexsig, found := strings.CutPrefix(strings.TrimSpace(entry), "v1=")
		if !found {
			continue
		}
		got, err := hex.DecodeString(hexsig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			ok = true
		}
	}
	return ok
}
