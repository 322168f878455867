-- +goose Up
-- Coverage requests: a user on call asks a colleague (user_id) to take over [start_at,
-- end_at) of their shifts in a schedule. status is PENDING, ACCEPTED, DECLINED or CANCELLED
-- and changes once, from PENDING; EXPIRED is not stored but read (a PENDING request whose
-- start has passed). An accepted request names the override it became; deleting that
-- override leaves override_id NULL. updated_at is what the store's row lock writes.
-- Deleting the schedule or either user deletes the request.
CREATE TABLE coverage_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id  INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    requester_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    start_at     INTEGER NOT NULL,
    end_at       INTEGER NOT NULL,
    message      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    override_id  INTEGER REFERENCES schedule_overrides (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    decided_at   INTEGER,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX coverage_requests_schedule ON coverage_requests (schedule_id, id);
CREATE INDEX coverage_requests_requester ON coverage_requests (requester_id, id);
CREATE INDEX coverage_requests_user ON coverage_requests (user_id, id);
CREATE INDEX coverage_requests_override ON coverage_requests (override_id);

-- +goose Down
DROP TABLE coverage_requests;
