-- +goose Up
-- A user's ways to be reached. kind is EMAIL, PHONE or WEBHOOK; target is what the user wrote,
-- address what a channel sends to (a phone number in E.164), match_key the form two targets
-- are compared in (lower-cased email, E.164, the URL), unique per user and kind.
CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    match_key   TEXT    NOT NULL,
    region_code TEXT    NOT NULL DEFAULT '',
    is_primary  INTEGER NOT NULL DEFAULT 0,
    secret      TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (user_id, kind, match_key)
);

-- A user's notification preferences. kind is ALERT, DUTY or UPDATE; minutes is an alert
-- rule's delay or a duty rule's lead time. A contact cannot be deleted while a rule names it;
-- deleting the user deletes both.
CREATE TABLE notification_rules (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    method     TEXT    NOT NULL,
    contact_id INTEGER REFERENCES contacts (id),
    type       TEXT    NOT NULL,
    minutes    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX notification_rules_user ON notification_rules (user_id, kind);
CREATE INDEX notification_rules_contact ON notification_rules (contact_id);

-- +goose Down
DROP TABLE notification_rules;
DROP TABLE contacts;
