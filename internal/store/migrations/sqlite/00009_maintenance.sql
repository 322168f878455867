-- +goose Up
-- Maintenance windows: while one is on (start_at <= t < end_at, instants in milliseconds),
-- the alert sources linked to it are in maintenance. timezone is the IANA zone the window
-- was planned in, kept for display. notify_* are the subscribers' notification choices,
-- stored as given. created_by becomes NULL when that user is deleted.
CREATE TABLE maintenance_windows (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    timezone           TEXT    NOT NULL,
    start_at           INTEGER NOT NULL,
    end_at             INTEGER NOT NULL,
    summary            TEXT    NOT NULL,
    description        TEXT    NOT NULL,
    created_by         INTEGER REFERENCES users (id) ON DELETE SET NULL,
    notify_at_creation INTEGER NOT NULL,
    notify_at_start    INTEGER NOT NULL,
    notify_at_end      INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    CHECK (end_at > start_at)
);
-- "Which windows are on at t" reads only the windows that have not ended: end_at leads.
CREATE INDEX maintenance_windows_end ON maintenance_windows (end_at, start_at);
-- Lists are ordered by start, latest first.
CREATE INDEX maintenance_windows_start ON maintenance_windows (start_at, id);
CREATE INDEX maintenance_windows_created_by ON maintenance_windows (created_by);

-- Deleting an alert source takes it out of every window.
CREATE TABLE maintenance_window_sources (
    window_id INTEGER NOT NULL REFERENCES maintenance_windows (id) ON DELETE CASCADE,
    source_id INTEGER NOT NULL REFERENCES alert_sources (id) ON DELETE CASCADE,
    PRIMARY KEY (window_id, source_id)
);
CREATE INDEX maintenance_window_sources_source ON maintenance_window_sources (source_id, window_id);

-- +goose Down
DROP TABLE maintenance_window_sources;
DROP TABLE maintenance_windows;
