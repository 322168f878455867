package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tocsinhq/tocsin/internal/contact"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// contactColumns are the columns scanContact reads, in order.
const contactColumns = `contacts.id, contacts.user_id, contacts.kind, contacts.target, contacts.address,
	contacts.region_code, contacts.is_primary, contacts.secret, contacts.status`

func scanContact(row scanner) (contact.Contact, error) {
	var c contact.Contact
	err := row.Scan(&c.ID, &c.UserID, &c.Kind, &c.Target, &c.Address, &c.RegionCode, &c.Primary, &c.Secret, &c.Status)
	return c, err
}

// CreateContact normalizes and stores c for user c.UserID and fills its ID, Address and
// Status. A webhook gets a new Secret. A phone number is primary when c.Primary says so, which
// takes it from the user's other numbers, or when the user has no primary number yet.
// Returns Invalid for a malformed target, NotFound if the user does not exist, and Conflict if
// the user has a contact of that kind with the same target.
func (db *DB) CreateContact(ctx context.Context, c *contact.Contact) error {
	if err := c.Normalize(); err != nil {
		return err
	}
	c.Status = contact.OK
	if c.Kind == contact.KindWebhook {
		c.Secret = contact.NewWebhookSecret()
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findAccount(ctx, tx, c.UserID); err != nil {
			return err
		}
		if c.Kind == contact.KindPhone && !c.Primary {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM contacts WHERE user_id = $1 AND kind = $2 AND is_primary = $3`,
				c.UserID, string(contact.KindPhone), true).Scan(&n)
			if err != nil {
				return fmt.Errorf("store: primary phone of user %d: %w", c.UserID, err)
			}
			c.Primary = n == 0
		}
		now := db.now()
		err := tx.QueryRowContext(ctx, `INSERT INTO contacts (user_id, kind, target, address, match_key, region_code,
			is_primary, secret, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id`,
			c.UserID, string(c.Kind), c.Target, c.Address, contact.MatchKey(c.Kind, c.Address), c.RegionCode, c.Primary,
			c.Secret, string(c.Status), now).Scan(&c.ID)
		if err != nil {
			return contactWriteError(fmt.Sprintf("create contact of user %d", c.UserID), c, err)
		}
		return takePrimary(ctx, tx, c)
	})
}

// UpdateContact replaces the target, region code and primary flag of contact c.ID, which must
// be user c.UserID's and of kind c.Kind, and refills c from the stored row. With rotateSecret
// a webhook gets a new secret; otherwise it keeps its own. Returns NotFound if there is no such
// contact, Invalid for a malformed target and Conflict for a target the user already has.
func (db *DB) UpdateContact(ctx context.Context, c *contact.Contact, rotateSecret bool) error {
	if err := c.Normalize(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		old, err := findContact(ctx, tx, c.UserID, c.Kind, c.ID)
		if err != nil {
			return err
		}
		secret := old.Secret
		if rotateSecret && c.Kind == contact.KindWebhook {
			secret = contact.NewWebhookSecret()
		}
		_, err = tx.ExecContext(ctx, `UPDATE contacts SET target = $1, address = $2, match_key = $3, region_code = $4,
			is_primary = $5, secret = $6, updated_at = $7 WHERE id = $8`,
			c.Target, c.Address, contact.MatchKey(c.Kind, c.Address), c.RegionCode, c.Primary, secret, db.now(), c.ID)
		if err != nil {
			return contactWriteError(fmt.Sprintf("update contact %d", c.ID), c, err)
		}
		if err := takePrimary(ctx, tx, c); err != nil {
			return err
		}
		*c, err = findContact(ctx, tx, c.UserID, c.Kind, c.ID)
		return err
	})
}

// takePrimary clears the primary flag of the user's other phone numbers when c is primary.
func takePrimary(ctx context.Context, tx *sql.Tx, c *contact.Contact) error {
	if c.Kind != contact.KindPhone || !c.Primary {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE contacts SET is_primary = $1 WHERE user_id = $2 AND kind = $3 AND id <> $4 AND is_primary = $5`,
		false, c.UserID, string(contact.KindPhone), c.ID, true)
	if err != nil {
		return fmt.Errorf("store: primary phone of user %d: %w", c.UserID, err)
	}
	return nil
}

func contactWriteError(what string, c *contact.Contact, err error) error {
	switch {
	case isUniqueViolation(err):
		return fault.New(fault.Conflict, "user %d already has the %s contact %q", c.UserID, strings.ToLower(string(c.Kind)), c.Target)
	case isForeignKeyViolation(err):
		return fault.NotFoundf("user %d does not exist", c.UserID)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// Contact returns user userID's contact id of the given kind. Returns NotFound if there is
// none (another user's contact, or one of another kind, is none).
func (db *DB) Contact(ctx context.Context, userID int64, kind contact.Kind, id int64) (contact.Contact, error) {
	return findContact(ctx, db.read, userID, kind, id)
}

func findContact(ctx context.Context, q querier, userID int64, kind contact.Kind, id int64) (contact.Contact, error) {
	c, err := scanContact(q.QueryRowContext(ctx, `SELECT `+contactColumns+` FROM contacts
		WHERE id = $1 AND user_id = $2 AND kind = $3`, id, userID, string(kind)))
	if errors.Is(err, sql.ErrNoRows) {
		return contact.Contact{}, fault.NotFoundf("user %d has no %s contact %d", userID, strings.ToLower(string(kind)), id)
	}
	if err != nil {
		return contact.Contact{}, fmt.Errorf("store: contact %d: %w", id, err)
	}
	return c, nil
}

// Contacts returns user userID's contacts of one kind in id order.
func (db *DB) Contacts(ctx context.Context, userID int64, kind contact.Kind) ([]contact.Contact, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+contactColumns+` FROM contacts
		WHERE user_id = $1 AND kind = $2 ORDER BY id`, userID, string(kind))
	if err != nil {
		return nil, fmt.Errorf("store: contacts of user %d: %w", userID, err)
	}
	list, err := scanAll(rows, scanContact)
	if err != nil {
		return nil, fmt.Errorf("store: contacts of user %d: %w", userID, err)
	}
	return list, nil
}

// ContactByTarget returns user userID's contact of one kind whose match key (contact.MatchKey,
// contact.SearchKey) is key. Returns NotFound if there is none.
func (db *DB) ContactByTarget(ctx context.Context, userID int64, kind contact.Kind, key string) (contact.Contact, error) {
	c, err := scanContact(db.read.QueryRowContext(ctx, `SELECT `+contactColumns+` FROM contacts
		WHERE user_id = $1 AND kind = $2 AND match_key = $3`, userID, string(kind), key))
	if errors.Is(err, sql.ErrNoRows) {
		return contact.Contact{}, fault.NotFoundf("user %d has no %s contact %q", userID, strings.ToLower(string(kind)), key)
	}
	if err != nil {
		return contact.Contact{}, fmt.Errorf("store: contact by target: %w", err)
	}
	return c, nil
}

// DeleteContact removes user userID's contact id of the given kind. Returns NotFound if there
// is none, and Invalid while a notification rule uses it.
func (db *DB) DeleteContact(ctx context.Context, userID int64, kind contact.Kind, id int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findContact(ctx, tx, userID, kind, id); err != nil {
			return err
		}
		var ruleID int64
		var ruleKind contact.RuleKind
		err := tx.QueryRowContext(ctx, `SELECT id, kind FROM notification_rules WHERE contact_id = $1 ORDER BY id LIMIT 1`, id).
			Scan(&ruleID, &ruleKind)
		if err == nil {
			return fault.Errorf("contact %d is used by notification rule %d (notification-preferences/%s/%d): change or delete the rule first",
				id, ruleID, rulePath[ruleKind], ruleID)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: rules using contact %d: %w", id, err)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM contacts WHERE id = $1`, id)
		if isForeignKeyViolation(err) { // a rule naming it was added meanwhile
			return fault.Errorf("contact %d is used by a notification rule: change or delete the rule first", id)
		}
		if err != nil {
			return fmt.Errorf("store: delete contact %d: %w", id, err)
		}
		return nil
	})
}

// rulePath names each kind of rule as the API's path does.
var rulePath = map[contact.RuleKind]string{contact.Alerts: "alerts", contact.Duties: "duties", contact.Updates: "updates",
	contact.Subscriptions: "subscriptions"}

// ruleSelect reads rules with the contact each names (scanRule), so that a rule and its
// contact come from one statement and cannot disagree.
const ruleSelect = `SELECT notification_rules.id, notification_rules.user_id, notification_rules.kind,
	notification_rules.method, notification_rules.type, notification_rules.minutes,
	contacts.id, contacts.user_id, contacts.kind, contacts.target, contacts.address, contacts.region_code,
	contacts.is_primary, contacts.secret, contacts.status
	FROM notification_rules LEFT JOIN contacts ON contacts.id = notification_rules.contact_id`

// scanRule reads a row of ruleSelect: the rule, and its contact when it names one.
func scanRule(row scanner) (contact.Rule, *contact.Contact, error) {
	var r contact.Rule
	var id, userID sql.NullInt64
	var kind, target, address, region, secret, status sql.NullString
	var primary sql.NullBool
	err := row.Scan(&r.ID, &r.UserID, &r.Kind, &r.Method, &r.Type, &r.Minutes,
		&id, &userID, &kind, &target, &address, &region, &primary, &secret, &status)
	if err != nil || !id.Valid {
		return r, nil, err
	}
	c := contact.Contact{ID: id.Int64, UserID: userID.Int64, Kind: contact.Kind(kind.String), Target: target.String,
		Address: address.String, RegionCode: region.String, Primary: primary.Bool, Secret: secret.String,
		Status: contact.Status(status.String)}
	r.ContactID, r.ContactTarget = c.ID, c.Target
	return r, &c, nil
}

func scanRuleOnly(row scanner) (contact.Rule, error) {
	r, _, err := scanRule(row)
	return r, err
}

// CreateRule validates r and stores it for user r.UserID, filling its ID and ContactTarget.
// Returns Invalid for a rule that breaks a rule of contact.Rule.Validate, or names a contact
// that is not the user's or does not fit its method, and NotFound if the user does not exist.
func (db *DB) CreateRule(ctx context.Context, r *contact.Rule) error {
	r.Normalize()
	if err := r.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findAccount(ctx, tx, r.UserID); err != nil {
			return err
		}
		if err := checkRuleContact(ctx, tx, r); err != nil {
			return err
		}
		now := db.now()
		err := tx.QueryRowContext(ctx, `INSERT INTO notification_rules (user_id, kind, method, contact_id, type, minutes,
			created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
			r.UserID, string(r.Kind), string(r.Method), sql.NullInt64{Int64: r.ContactID, Valid: r.ContactID != 0},
			string(r.Type), r.Minutes, now).Scan(&r.ID)
		if isForeignKeyViolation(err) { // the contact was deleted meanwhile
			return fault.Errorf("contact %d is not one of user %d's contacts", r.ContactID, r.UserID)
		}
		if err != nil {
			return fmt.Errorf("store: create notification rule of user %d: %w", r.UserID, err)
		}
		*r, err = findRule(ctx, tx, r.UserID, r.Kind, r.ID)
		return err
	})
}

// UpdateRule replaces the method, contact, type and minutes of rule r.ID, which must be user
// r.UserID's and of kind r.Kind, and refills r. Returns NotFound if there is no such rule and
// Invalid as CreateRule does.
func (db *DB) UpdateRule(ctx context.Context, r *contact.Rule) error {
	r.Normalize()
	if err := r.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findRule(ctx, tx, r.UserID, r.Kind, r.ID); err != nil {
			return err
		}
		if err := checkRuleContact(ctx, tx, r); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE notification_rules SET method = $1, contact_id = $2, type = $3, minutes = $4,
			updated_at = $5 WHERE id = $6`, string(r.Method), sql.NullInt64{Int64: r.ContactID, Valid: r.ContactID != 0},
			string(r.Type), r.Minutes, db.now(), r.ID)
		if isForeignKeyViolation(err) {
			return fault.Errorf("contact %d is not one of user %d's contacts", r.ContactID, r.UserID)
		}
		if err != nil {
			return fmt.Errorf("store: update notification rule %d: %w", r.ID, err)
		}
		*r, err = findRule(ctx, tx, r.UserID, r.Kind, r.ID)
		return err
	})
}

// checkRuleContact checks that the contact r names is its user's and fits its method. Another
// user's contact reads as missing, so ids of other users' contacts are not revealed.
func checkRuleContact(ctx context.Context, q querier, r *contact.Rule) error {
	if r.ContactID == 0 {
		return nil
	}
	c, err := scanContact(q.QueryRowContext(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id = $1 AND user_id = $2`,
		r.ContactID, r.UserID))
	if errors.Is(err, sql.ErrNoRows) {
		return fault.Errorf("contact %d is not one of user %d's contacts", r.ContactID, r.UserID)
	}
	if err != nil {
		return fmt.Errorf("store: contact %d: %w", r.ContactID, err)
	}
	return r.CheckContact(c)
}

// Rule returns user userID's notification rule id of the given kind. Returns NotFound if
// there is none.
func (db *DB) Rule(ctx context.Context, userID int64, kind contact.RuleKind, id int64) (contact.Rule, error) {
	return findRule(ctx, db.read, userID, kind, id)
}

func findRule(ctx context.Context, q querier, userID int64, kind contact.RuleKind, id int64) (contact.Rule, error) {
	r, err := scanRuleOnly(q.QueryRowContext(ctx, ruleSelect+` WHERE notification_rules.id = $1
		AND notification_rules.user_id = $2 AND notification_rules.kind = $3`, id, userID, string(kind)))
	if errors.Is(err, sql.ErrNoRows) {
		return contact.Rule{}, fault.NotFoundf("user %d has no %s notification preference %d", userID, rulePath[kind], id)
	}
	if err != nil {
		return contact.Rule{}, fmt.Errorf("store: notification rule %d: %w", id, err)
	}
	return r, nil
}

// Rules returns user userID's notification rules of one kind in id order.
func (db *DB) Rules(ctx context.Context, userID int64, kind contact.RuleKind) ([]contact.Rule, error) {
	rows, err := db.read.QueryContext(ctx, ruleSelect+` WHERE notification_rules.user_id = $1
		AND notification_rules.kind = $2 ORDER BY notification_rules.id`, userID, string(kind))
	if err != nil {
		return nil, fmt.Errorf("store: notification rules of user %d: %w", userID, err)
	}
	list, err := scanAll(rows, scanRuleOnly)
	if err != nil {
		return nil, fmt.Errorf("store: notification rules of user %d: %w", userID, err)
	}
	return list, nil
}

// DeleteRule removes user userID's notification rule id of the given kind. Returns NotFound
// if there is none.
func (db *DB) DeleteRule(ctx context.Context, userID int64, kind contact.RuleKind, id int64) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM notification_rules WHERE id = $1 AND user_id = $2 AND kind = $3`,
		id, userID, string(kind))
	return changedOne(res, err, fmt.Sprintf("delete notification rule %d", id),
		fault.NotFoundf("user %d has no %s notification preference %d", userID, rulePath[kind], id))
}

// NotificationPlan loads, for each of the users, what contact.UserRules needs to decide their
// deliveries (ForAlert, ForUpdate, ForDuty): the account's name, email and mute, every rule,
// and the contacts the rules name, in two statements per 500 users. Each rule and its
// contact are read together, so they are consistent with each other. Users that do not exist
// are absent from the map.
func (db *DB) NotificationPlan(ctx context.Context, userIDs []int64) (map[int64]contact.UserRules, error) {
	ids := slices.Clone(userIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make(map[int64]contact.UserRules, len(ids))
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		in := placeholders(1, len(part))
		rows, err := db.read.QueryContext(ctx, `SELECT id, email, first_name, last_name, muted_until FROM users
			WHERE id IN (`+in+`)`, anys(part)...)
		if err != nil {
			return nil, fmt.Errorf("store: notification plan: %w", err)
		}
		err = eachRow(rows, func() error {
			var u contact.UserRules
			var first, last string
			var muted sql.NullInt64
			if err := rows.Scan(&u.UserID, &u.Email, &first, &last, &muted); err != nil {
				return err
			}
			u.Name = strings.TrimSpace(first + " " + last)
			u.MutedUntil = fromNullMS(muted)
			u.Rules = []contact.Rule{}
			u.Contacts = map[int64]contact.Contact{}
			out[u.UserID] = u
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: notification plan: %w", err)
		}
		rows, err = db.read.QueryContext(ctx, ruleSelect+` WHERE notification_rules.user_id IN (`+in+`)
			ORDER BY notification_rules.id`, anys(part)...)
		if err != nil {
			return nil, fmt.Errorf("store: notification plan: %w", err)
		}
		err = eachRow(rows, func() error {
			r, c, err := scanRule(rows)
			if err != nil {
				return err
			}
			u, ok := out[r.UserID]
			if !ok { // the user was deleted between the two statements
				return nil
			}
			u.Rules = append(u.Rules, r)
			if c != nil {
				u.Contacts[c.ID] = *c
			}
			out[r.UserID] = u
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: notification plan: %w", err)
		}
	}
	return out, nil
}
