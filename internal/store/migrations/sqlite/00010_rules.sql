-- +goose Up
-- When the pending LOW alerts of an alert source are next raised to HIGH (auto-raise at a
-- support-hours boundary): one row per source that auto-raises, claimed by one replica at a
-- time like the engine's timers. The row moves to the next boundary each time it runs.
CREATE TABLE source_timers (
    source_id   INTEGER PRIMARY KEY REFERENCES alert_sources (id) ON DELETE CASCADE,
    due_at      INTEGER NOT NULL,
    lease_until INTEGER
);
CREATE INDEX source_timers_due ON source_timers (due_at);
-- The support hours an alert source uses (its priority rule's and those its conditions name
-- with is_in): support hours in use cannot be deleted.
CREATE TABLE source_support_hours (
    source_id        INTEGER NOT NULL REFERENCES alert_sources (id) ON DELETE CASCADE,
    support_hours_id INTEGER NOT NULL REFERENCES support_hours (id),
    PRIMARY KEY (source_id, support_hours_id)
);
CREATE INDEX source_support_hours_hours ON source_support_hours (support_hours_id);
-- Grouping looks for a source's newest open alerts.
CREATE INDEX alerts_source_open ON alerts (source_id, status, id);

-- +goose Down
DROP INDEX alerts_source_open;
DROP TABLE source_support_hours;
DROP TABLE source_timers;
