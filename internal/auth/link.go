package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// Link is an action on one alert that a notification's recipient may take by following a
// link: scoped to the alert, the action and the notification (which names the person), and
// valid until it expires. One-time use is enforced by the store.
type Link struct {
	AlertID        int64
	NotificationID int64
	Action         string // "accept" or "resolve"
	Expires        time.Time
}

// Link actions.
const (
	LinkAccept  = "accept"
	LinkResolve = "resolve"
)

// SignLink returns the link's token: its fields and an HMAC-SHA256 over them with key.
func SignLink(key []byte, l Link) string {
	payload := fmt.Sprintf("v1.%d.%d.%s.%d", l.AlertID, l.NotificationID, l.Action, l.Expires.Unix())
	return payload + "." + linkMAC(key, payload)
}

func linkMAC(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ParseLink checks a token's signature and expiry at now and returns the link. A bad token is
// NotFound (it names nothing), an expired one Invalid.
func ParseLink(key []byte, token string, now time.Time) (Link, error) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 || len(token) > 200 {
		return Link{}, fault.NotFoundf("this link is not valid")
	}
	payload, sig := token[:i], token[i+1:]
	if !hmac.Equal([]byte(sig), []byte(linkMAC(key, payload))) {
		return Link{}, fault.NotFoundf("this link is not valid")
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 5 || parts[0] != "v1" {
		return Link{}, fault.NotFoundf("this link is not valid")
	}
	alertID, err1 := strconv.ParseInt(parts[1], 10, 64)
	notificationID, err2 := strconv.ParseInt(parts[2], 10, 64)
	expires, err3 := strconv.ParseInt(parts[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || (parts[3] != LinkAccept && parts[3] != LinkResolve) {
		return Link{}, fault.NotFoundf("this link is not valid")
	}
	l := Link{AlertID: alertID, NotificationID: notificationID, Action: parts[3], Expires: time.Unix(expires, 0)}
	if !now.Before(l.Expires) {
		return Link{}, fault.Errorf("this link expired at %s", l.Expires.UTC().Format(time.RFC3339))
	}
	return l, nil
}

// Links makes the URLs put in notifications: the alert's, and signed accept and resolve links
// that expire after TTL.
type Links struct {
	BaseURL string // tocsin's public URL, without a trailing slash
	Key     []byte
	TTL     time.Duration
	Now     func() time.Time
}

// AlertURL is where to see an alert.
func (l Links) AlertURL(alertID int64) string {
	return fmt.Sprintf("%s/api/alerts/%d", l.BaseURL, alertID)
}

// ActionURL is a signed link that takes action on an alert for a notification's recipient.
func (l Links) ActionURL(alertID, notificationID int64, action string) string {
	return l.BaseURL + "/respond/" + SignLink(l.Key, Link{AlertID: alertID, NotificationID: notificationID,
		Action: action, Expires: l.Now().Add(l.TTL)})
}
