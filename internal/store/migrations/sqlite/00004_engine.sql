-- +goose Up
-- Timers are the engine's future actions (start an alert's escalation, escalate it to a
-- level, end its escalation), each written in the same transaction as its cause. A replica
-- claims due timers by setting lease_until; a lease that runs out (the replica died) lets
-- another replica claim the timer again.
CREATE TABLE timers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    alert_id    INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    level       INTEGER NOT NULL,
    round       INTEGER NOT NULL,
    payload     TEXT,
    due_at      INTEGER NOT NULL,
    lease_until INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX timers_due ON timers (due_at);
CREATE INDEX timers_alert ON timers (alert_id);

-- Notifications are the outbox: one row per message to one person (purpose ALERT: paging;
-- UPDATE: telling someone paged earlier that the alert was accepted, resolved or escalated),
-- SCHEDULED until it is
-- sent (SUCCESS) or has failed for good (ERROR). due_at is when it may go out next (its
-- delay, then its retry backoff); attempt counts the tries.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id    INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    rule_id     INTEGER,
    purpose     TEXT    NOT NULL,
    level       INTEGER,
    method      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    secret      TEXT,
    status      TEXT    NOT NULL,
    due_at      INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    lease_until INTEGER,
    sent_at     INTEGER,
    error       TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX notifications_due ON notifications (status, due_at);
CREATE INDEX notifications_alert ON notifications (alert_id, id);

-- +goose Down
DROP TABLE notifications;
DROP TABLE timers;
