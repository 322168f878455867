-- +goose Up
-- Support hours: a weekly pattern on a time zone's wall clock with holiday exceptions. config
-- holds {"supportDays": {…}, "exceptions": […]} as JSON, exactly as the API shows them; alert
-- sources refer to support hours by id.
CREATE TABLE support_hours (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    timezone   TEXT    NOT NULL,
    config     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX support_hours_name ON support_hours (name);

CREATE TABLE support_hours_teams (
    support_hours_id INTEGER NOT NULL REFERENCES support_hours (id) ON DELETE CASCADE,
    team_id          INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (support_hours_id, team_id)
);

-- +goose Down
DROP TABLE support_hours_teams;
DROP TABLE support_hours;
