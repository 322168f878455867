-- +goose Up
-- Heartbeat monitors: each expects a ping at least every interval_sec seconds on
-- /api/pings/{integration_key}. last_ping_at is written about once a second from the pings a
-- replica holds in memory, and only moves forward; due_at is when the monitor becomes overdue
-- (its last ping plus its interval plus the grace, see heartbeat.Deadline), NULL before the
-- first ping. state is UNKNOWN before the first ping, then HEALTHY or OVERDUE: the event
-- tocsin last raised for it. A replica claims (lease_until) a monitor whose state disagrees
-- with due_at, submits its ALERT or RESOLVE, then writes the state. overdue_source_id is the
-- alert source an OVERDUE monitor's alert was opened on, so the RESOLVE finds it even if the
-- monitor moved to another source; it has no foreign key, since a deleted source took the
-- alert with it. Deleting the monitor's alert source deletes the monitor.
CREATE TABLE heartbeat_monitors (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL UNIQUE,
    interval_sec      INTEGER NOT NULL,
    alert_summary     TEXT    NOT NULL,
    source_id         INTEGER NOT NULL REFERENCES alert_sources (id) ON DELETE CASCADE,
    integration_key   TEXT    NOT NULL UNIQUE,
    state             TEXT    NOT NULL,
    last_ping_at      INTEGER,
    due_at            INTEGER,
    overdue_source_id INTEGER,
    lease_until       INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX heartbeat_monitors_due ON heartbeat_monitors (state, due_at);
CREATE INDEX heartbeat_monitors_source ON heartbeat_monitors (source_id);

CREATE TABLE heartbeat_monitor_teams (
    monitor_id INTEGER NOT NULL REFERENCES heartbeat_monitors (id) ON DELETE CASCADE,
    team_id    INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (monitor_id, team_id)
);
CREATE INDEX heartbeat_monitor_teams_team ON heartbeat_monitor_teams (team_id);

-- +goose Down
DROP TABLE heartbeat_monitor_teams;
DROP TABLE heartbeat_monitors;
