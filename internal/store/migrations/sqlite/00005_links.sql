-- +goose Up
-- Server-wide secrets shared by every replica, created on first use (the key that signs the
-- accept and resolve links in notifications, for one).
CREATE TABLE secrets (
    name       TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- Links that have been used: each accept or resolve link works once.
CREATE TABLE used_links (
    token_hash TEXT    PRIMARY KEY,
    used_at    INTEGER NOT NULL
);

-- +goose Down
DROP TABLE used_links;
DROP TABLE secrets;
