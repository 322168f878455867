-- +goose Up
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,
    email_lower   TEXT    NOT NULL UNIQUE,
    username      TEXT    UNIQUE,
    first_name    TEXT    NOT NULL,
    last_name     TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    timezone      TEXT    NOT NULL DEFAULT '',
    position      TEXT    NOT NULL DEFAULT '',
    department    TEXT    NOT NULL DEFAULT '',
    language      TEXT    NOT NULL DEFAULT '',
    region        TEXT    NOT NULL DEFAULT '',
    shift_color   TEXT    NOT NULL DEFAULT '',
    muted_until   INTEGER,
    password_hash TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE teams (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    visibility TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT    NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE escalation_policies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    routing_key TEXT    UNIQUE,
    repeating   INTEGER NOT NULL,
    frequency   INTEGER NOT NULL,
    delay_min   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE escalation_policy_teams (
    policy_id INTEGER NOT NULL REFERENCES escalation_policies (id) ON DELETE CASCADE,
    team_id   INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (policy_id, team_id)
);

CREATE TABLE escalation_rules (
    policy_id          INTEGER NOT NULL REFERENCES escalation_policies (id) ON DELETE CASCADE,
    level              INTEGER NOT NULL,
    escalation_timeout INTEGER NOT NULL,
    PRIMARY KEY (policy_id, level)
);

-- One row per target of a level: kind is USER, TEAM or SCHEDULE. Users and teams are
-- checked to exist when a policy is written and cannot be deleted while a level names them.
CREATE TABLE escalation_rule_targets (
    policy_id INTEGER NOT NULL REFERENCES escalation_policies (id) ON DELETE CASCADE,
    level     INTEGER NOT NULL,
    position  INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    target_id INTEGER NOT NULL,
    PRIMARY KEY (policy_id, level, position)
);
CREATE INDEX escalation_rule_targets_target ON escalation_rule_targets (kind, target_id);

CREATE TABLE alert_sources (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT    NOT NULL,
    integration_type     TEXT    NOT NULL,
    integration_key      TEXT    NOT NULL UNIQUE,
    escalation_policy_id INTEGER NOT NULL REFERENCES escalation_policies (id),
    active               INTEGER NOT NULL,
    config               TEXT    NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX alert_sources_name ON alert_sources (name);
CREATE INDEX alert_sources_policy ON alert_sources (escalation_policy_id);

-- open_key is the lower-cased alert key while the alert is open and NULL once it is
-- resolved, so the unique index allows one open alert per key and source. open_key leads
-- the index so that looking up a batch's keys uses it even before statistics are gathered.
CREATE TABLE alerts (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id            INTEGER NOT NULL REFERENCES alert_sources (id) ON DELETE CASCADE,
    escalation_policy_id INTEGER NOT NULL,
    alert_key            TEXT    NOT NULL,
    open_key             TEXT,
    summary              TEXT    NOT NULL,
    details              TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    priority             TEXT    NOT NULL,
    severity             INTEGER,
    images               TEXT,
    links                TEXT,
    labels               TEXT,
    custom_details       TEXT,
    event_count          INTEGER NOT NULL,
    report_time          INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    accepted_at          INTEGER,
    resolved_on          INTEGER,
    assigned_user_id     INTEGER REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX alerts_open_key ON alerts (open_key, source_id);
CREATE INDEX alerts_status ON alerts (status, id);
CREATE INDEX alerts_policy ON alerts (escalation_policy_id, id);
CREATE INDEX alerts_report_time ON alerts (report_time);

CREATE TABLE alert_responders (
    alert_id    INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT    NOT NULL,
    accepted_at INTEGER,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (alert_id, user_id)
);
CREATE INDEX alert_responders_user ON alert_responders (user_id);

CREATE TABLE log_entries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id   INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    vars       TEXT
);
CREATE INDEX log_entries_alert ON log_entries (alert_id, id);

-- +goose Down
DROP TABLE log_entries;
DROP TABLE alert_responders;
DROP TABLE alerts;
DROP TABLE alert_sources;
DROP TABLE escalation_rule_targets;
DROP TABLE escalation_rules;
DROP TABLE escalation_policy_teams;
DROP TABLE escalation_policies;
DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE api_keys;
DROP TABLE users;
