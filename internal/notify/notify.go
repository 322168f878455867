// Package notify holds what tocsin sends to people: the message, the contract every channel
// (email, SMS, voice, webhook) implements, and how a channel's failure is classified.
package notify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Method is how a message reaches a person.
type Method string

const (
	Email   Method = "EMAIL"
	SMS     Method = "SMS"
	Voice   Method = "VOICE"
	Webhook Method = "WEBHOOK"
)

// Message is one notification to one person: about an alert (AlertID set: the alert's fields
// and links are filled), or standing alone (AlertID 0: a reminder before an on-call shift, a
// request to cover one), when it is just Subject and Text. Channels render a standalone
// message without any alert field, link or answer menu.
type Message struct {
	ID      int64  // the outbox row: the idempotency key of this message
	Attempt int    // 1 for the first try
	Method  Method //
	Target  string // email address, phone number in E.164, or webhook URL
	Secret  string // WEBHOOK: the key the body is signed with

	UserID     int64
	UserName   string
	AlertID    int64
	Summary    string
	Details    string
	Priority   string
	Status     string
	Source     string // the alert source's name
	AlertKey   string
	ReportAt   time.Time
	AlertURL   string // where to see the alert
	AcceptURL  string // signed, expiring, one-time link that accepts the alert
	ResolveURL string // the same for resolving

	// A standalone message (AlertID 0) is its Subject and Text; Purpose says what it is for
	// ("DUTY", "COVERAGE"), so receivers such as webhooks can tell messages apart.
	Purpose string
	Subject string // one line
	Text    string // plain text, may hold line breaks
}

// Standalone reports whether m is not about an alert, and is rendered as its Subject and Text.
func (m Message) Standalone() bool { return m.AlertID == 0 }

// Channel delivers messages of one method.
type Channel interface {
	// Send delivers m. It returns nil once the provider has taken the message. A returned
	// error wrapped by Retryable may succeed later; any other error is permanent.
	Send(ctx context.Context, m Message) error
}

// retryable marks an error worth another attempt.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Retryable marks err as worth retrying (a network error, a 429 or a 5xx).
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryable{err}
}

// IsRetryable reports whether err was marked by Retryable.
func IsRetryable(err error) bool {
	var r retryable
	return errors.As(err, &r)
}

// ErrNotConfigured is returned when a message's method has no channel configured.
var ErrNotConfigured = errors.New("notify: this channel is not configured")

// ClassifyHTTP turns a provider's HTTP status into nil (2xx), a retryable error (408, 425,
// 429, 5xx) or a permanent one, naming the provider and including its answer.
func ClassifyHTTP(provider string, status int, body string) error {
	if status >= 200 && status < 300 {
		return nil
	}
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	err := fmt.Errorf("%s answered %d: %s", provider, status, body)
	if status == 408 || status == 425 || status == 429 || status >= 500 {
		return Retryable(err)
	}
	return err
}

// Redacted is what Redact and RedactURL put in place of a secret.
const Redacted = "[redacted]"

// Redact returns err with every occurrence of each non-empty secret in its text replaced by
// Redacted, keeping whether it is retryable. Channels pass every error they return through it
// with their credentials (auth token, password, signing secret, target URL), so an error that
// ends up in a log, in a notification's status or in an API answer never carries one.
//
// When a secret had to be removed, the result does not unwrap to err: the original text would
// be one errors.Unwrap away from a logger. When no secret occurs, err is returned unchanged.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := RedactString(msg, secrets...)
	if clean == msg {
		return err
	}
	if IsRetryable(err) {
		return Retryable(errors.New(clean))
	}
	return errors.New(clean)
}

// RedactString replaces every occurrence of each non-empty secret in s by Redacted. Longer
// secrets are replaced first, so a secret that contains another is removed whole.
func RedactString(s string, secrets ...string) string {
	sorted := make([]string, 0, len(secrets))
	for _, sec := range secrets {
		if sec != "" {
			sorted = append(sorted, sec)
		}
	}
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range sorted {
		s = strings.ReplaceAll(s, sec, Redacted)
	}
	return s
}

// RedactURL returns raw reduced to its scheme and host ("https://hooks.example.com/[redacted]"):
// user info, path and query are dropped, because services put their credentials in any of them
// (a webhook URL is often its own secret). A string that does not parse as a URL with a host is
// replaced entirely.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Redacted
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		out += "/" + Redacted
	}
	return out
}

// ShownTarget is a notification's target as it may be shown to anyone who reads the alert:
// a webhook's URL reduced by RedactURL (it is often its own secret); an email address or a
// phone number as it is.
func ShownTarget(m Method, target string) string {
	if m == Webhook {
		return RedactURL(target)
	}
	return target
}

// URLSecrets lists the parts of raw that may be credentials, for Redact: the URL itself, its
// user info (plain and as the Basic authorization it becomes), its path and query, and every
// path segment and query value that looks like a token (services put tokens in either).
func URLSecrets(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		userinfo := u.User.Username() + ":" + pass
		out = append(out, u.User.String(), userinfo, pass,
			base64.StdEncoding.EncodeToString([]byte(userinfo)))
	}
	if u.Path != "" && u.Path != "/" {
		out = append(out, u.Path, u.EscapedPath())
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if looksLikeToken(seg) {
			out = append(out, seg, url.PathEscape(seg))
		}
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
		for _, vs := range u.Query() {
			for _, v := range vs {
				if looksLikeToken(v) {
					out = append(out, v, url.QueryEscape(v))
				}
			}
		}
	}
	return out
}

// looksLikeToken tells a credential ("B07XJ2K9Q", "3f9a…", a long random string) from a word
// ("webhook", "alerts") that redacting would only garble the error message with.
func looksLikeToken(s string) bool {
	if len(s) >= 16 {
		return true
	}
	if len(s) < 8 {
		return false
	}
	return strings.ContainsAny(s, "0123456789") && strings.IndexFunc(s, func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}) >= 0
}
