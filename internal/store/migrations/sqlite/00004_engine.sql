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

-- Notifications are the outbox: one row per message to one person, SCHEDULED until it is
-- sent (SUCCESS) or has failed for good (ERROR). due_at is when it may go out next (its
-- delay, then its retry backoff); attempt counts the tries. Purposes: ALERT (paging someone
-- about alert_id), UPDATE (telling someone paged earlier that it was accepted, resolved or
-- escalated), and messages that stand alone, without an alert: DUTY (a reminder before an
-- on-call shift) and COVERAGE (a request to cover a shift, and its answer), whose subject
-- and body are written when they are scheduled. dedup_key, when set, makes scheduling the
-- same message again do nothing ("duty:<schedule>:<user>:<shift start>:<rule>").
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id    INTEGER REFERENCES alerts (id) ON DELETE CASCADE,
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
    subject     TEXT,
    body        TEXT,
    dedup_key   TEXT,
    created_at  INTEGER NOT NULL,
    CHECK (alert_id IS NOT NULL OR purpose NOT IN ('ALERT', 'UPDATE'))
);
CREATE INDEX notifications_due ON notifications (status, due_at);
CREATE UNIQUE INDEX notifications_dedup ON notifications (dedup_key);
CREATE INDEX notifications_alert ON notifications (alert_id, id);

-- Scans are the engine's periodic work that is not one row's future, one row each, claimed
-- like a timer (lease_until) so one replica at a time runs it; after a run it is due again.
-- REMINDERS looks ahead for on-call shifts and schedules the DUTY reminders of their users.
CREATE TABLE engine_scans (
    name        TEXT    PRIMARY KEY,
    due_at      INTEGER NOT NULL,
    lease_until INTEGER
);
INSERT INTO engine_scans (name, due_at) VALUES ('REMINDERS', 0);

-- +goose Down
DROP TABLE engine_scans;
DROP TABLE notifications;
DROP TABLE timers;
