package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// Secret returns the server-wide secret of the given name, creating it with fresh random
// bytes on first use. Every replica gets the same value.
func (db *DB) Secret(ctx context.Context, name string) (string, error) {
	if _, err := db.write.ExecContext(ctx, `INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, auth.RandomToken(32), db.now()); err != nil {
		return "", fmt.Errorf("store: create secret %s: %w", name, err)
	}
	var v string
	if err := db.read.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v); err != nil {
		return "", fmt.Errorf("store: secret %s: %w", name, err)
	}
	return v, nil
}

// RespondByLink carries out a signed link's action for the person its notification went to,
// once: a second use of the same link is Invalid. It returns the alert afterwards.
func (db *DB) RespondByLink(ctx context.Context, l auth.Link, tokenHash string) (alert.Alert, error) {
	to := map[string]alert.Status{auth.LinkAccept: alert.Accepted, auth.LinkResolve: alert.Resolved}[l.Action]
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		by, method, err := notifiedAccount(ctx, tx, l.AlertID, l.NotificationID)
		if err != nil {
			return err
		}
		now := db.now()
		res, err := tx.ExecContext(ctx, `INSERT INTO used_links (token_hash, used_at) VALUES ($1, $2) ON CONFLICT (token_hash) DO NOTHING`, tokenHash, now)
		if err != nil {
			return fmt.Errorf("store: use link: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.Errorf("this link was already used")
		}
		return db.respond(ctx, tx, l.AlertID, to, by, strings.ToLower(method)+" link", now)
	})
	if err != nil {
		return alert.Alert{}, err
	}
	return db.Alert(ctx, l.AlertID)
}

// RespondByPhone carries out a reply by SMS or a keypress in a voice call from phone: to the
// message notificationID when it is known (a call), else to the latest message sent to phone
// about alertID, or about any alert when alertID is 0 (an SMS reply). It returns the alert.
// ref, when not empty, names the reply for the provider (its message or call id): a reply
// handled once is Invalid the next time, so a request captured and sent again changes
// nothing.
func (db *DB) RespondByPhone(ctx context.Context, phone string, alertID, notificationID int64, to alert.Status, via, ref string) (alert.Alert, error) {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if ref != "" {
			sum := sha256.Sum256([]byte("reply:" + ref))
			res, err := tx.ExecContext(ctx, `INSERT INTO used_links (token_hash, used_at) VALUES ($1, $2) ON CONFLICT (token_hash) DO NOTHING`,
				hex.EncodeToString(sum[:]), db.now())
			if err != nil {
				return fmt.Errorf("store: reply %s: %w", ref, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fault.Errorf("this reply was already handled")
			}
		}
		var err error
		switch {
		case notificationID != 0:
			err = tx.QueryRowContext(ctx, `SELECT alert_id FROM notifications WHERE id = $1 AND target = $2`,
				notificationID, phone).Scan(&alertID)
		case alertID != 0:
			err = tx.QueryRowContext(ctx, `SELECT id FROM notifications WHERE alert_id = $1 AND target = $2 AND status = $3
				ORDER BY sent_at DESC, id DESC LIMIT 1`, alertID, phone, NotificationSuccess).Scan(&notificationID)
		default:
			err = tx.QueryRowContext(ctx, `SELECT id, alert_id FROM notifications WHERE method = 'SMS' AND target = $1
				AND status = $2 AND alert_id IS NOT NULL ORDER BY sent_at DESC, id DESC LIMIT 1`, phone, NotificationSuccess).Scan(&notificationID, &alertID)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return fault.NotFoundf("no alert was sent to %s", phone)
		}
		if err != nil {
			return fmt.Errorf("store: notification answered: %w", err)
		}
		by, _, err := notifiedAccount(ctx, tx, alertID, notificationID)
		if err != nil {
			return err
		}
		return db.respond(ctx, tx, alertID, to, by, via, db.now())
	})
	if err != nil {
		return alert.Alert{}, err
	}
	return db.Alert(ctx, alertID)
}

// notifiedAccount is the person a notification about alertID went to, and its method.
// Returns Forbidden when their role (now) may not respond to alerts: a link, reply or
// keypress acts as the person, with no more rights than their API key would have.
func notifiedAccount(ctx context.Context, tx *sql.Tx, alertID, notificationID int64) (auth.Account, string, error) {
	var method string
	a, err := scanAccount(tx.QueryRowContext(ctx, `SELECT `+accountColumns+`, n.method FROM notifications n
		JOIN users ON users.id = n.user_id WHERE n.id = $1 AND n.alert_id = $2`, notificationID, alertID), &method)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Account{}, "", fault.NotFoundf("this link is not valid")
	}
	if err != nil {
		return auth.Account{}, "", fmt.Errorf("store: notified user: %w", err)
	}
	if !a.Role.Allows(auth.Respond) {
		return auth.Account{}, "", fault.New(fault.Forbidden, "as %s, %s may not accept or resolve alerts", a.Role, a.Email)
	}
	return a, method, nil
}

// NotificationUndelivered records that a message the provider took did not reach the person
// (an SMS undelivered, a call not answered), on the notification and the alert's timeline.
func (db *DB) NotificationUndelivered(ctx context.Context, alertID, notificationID int64, status, code string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var method, target string
		err := tx.QueryRowContext(ctx, `SELECT method, target FROM notifications WHERE id = $1 AND alert_id = $2`,
			notificationID, alertID).Scan(&method, &target)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.NotFoundf("no such notification")
		}
		if err != nil {
			return fmt.Errorf("store: notification %d: %w", notificationID, err)
		}
		reason := "the provider reported " + status
		if code != "" {
			reason += " (error " + code + ")"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET status = $2, error = $3 WHERE id = $1`,
			notificationID, NotificationError, truncate(reason, 300)); err != nil {
			return fmt.Errorf("store: notification %d: %w", notificationID, err)
		}
		return addLog(ctx, tx, alertID, db.now(), "NotificationLogEntry", fmt.Sprintf("%s to %s did not arrive: %s", method, target, reason), nil)
	})
}
