-- +goose Up
-- On-call schedules. A RECURRING schedule has ordered layers, each rotating an ordered list
-- of users; a STATIC schedule has explicit shifts. Layer starts and ends are wall-clock text
-- on the schedule's clock ("2024-03-31T09:00"), so a handoff keeps its local time when the
-- clocks change; shifts and overrides are instants in milliseconds. ical_token is the secret
-- in the schedule's calendar-feed URL.
CREATE TABLE schedules (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    name                   TEXT    NOT NULL,
    timezone               TEXT    NOT NULL,
    type                   TEXT    NOT NULL,
    show_gaps              INTEGER NOT NULL,
    default_shift_duration TEXT    NOT NULL DEFAULT '',
    ical_token             TEXT    NOT NULL,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE INDEX schedules_name ON schedules (name);

-- restrictions is the layer's TIMES_OF_WEEK spans as JSON: [{"from":{…},"to":{…}}].
CREATE TABLE schedule_layers (
    schedule_id      INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    name             TEXT    NOT NULL,
    starts_on        TEXT    NOT NULL,
    ends_on          TEXT,
    rotation         TEXT    NOT NULL,
    restriction_type TEXT    NOT NULL DEFAULT '',
    restrictions     TEXT    NOT NULL,
    PRIMARY KEY (schedule_id, position)
);

-- Users are not deleted with a schedule's rows: a user named here cannot be deleted (the
-- foreign key refuses, and the store says why first).
CREATE TABLE schedule_layer_users (
    schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    layer       INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (schedule_id, layer, position)
);
CREATE INDEX schedule_layer_users_user ON schedule_layer_users (user_id);

CREATE TABLE schedule_shifts (
    schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    start_at    INTEGER NOT NULL,
    end_at      INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, position)
);
CREATE INDEX schedule_shifts_user ON schedule_shifts (user_id, end_at);

-- Overrides win over layers and shifts; of two overlapping overrides the later (higher id) wins.
CREATE TABLE schedule_overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    start_at    INTEGER NOT NULL,
    end_at      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX schedule_overrides_schedule ON schedule_overrides (schedule_id, end_at);
CREATE INDEX schedule_overrides_user ON schedule_overrides (user_id, end_at);

CREATE TABLE schedule_teams (
    schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    team_id     INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (schedule_id, team_id)
);

-- The secret in a user's personal calendar-feed URL (all their shifts).
CREATE TABLE user_ical_tokens (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE user_ical_tokens;
DROP TABLE schedule_teams;
DROP TABLE schedule_overrides;
DROP TABLE schedule_shifts;
DROP TABLE schedule_layer_users;
DROP TABLE schedule_layers;
DROP TABLE schedules;
