-- Several daemons may share a Postgres store; the SQLite store keeps the same model, with one
-- node. A running run's executing node stops it once cancel_requested is set.
ALTER TABLE runs ADD COLUMN cancel_requested TEXT NOT NULL DEFAULT '';

-- The running runs of one node: what it checks for cancellations, and what becomes lost when
-- its lease runs out.
CREATE INDEX runs_worker_running ON runs (worker, id) WHERE state = 'running';

-- Every node that sent a heartbeat, as it last reported itself. Times are unix nanoseconds.
CREATE TABLE nodes (
    name        TEXT    NOT NULL PRIMARY KEY,
    id          TEXT    NOT NULL,
    roles       TEXT    NOT NULL CHECK (json_type(roles) = 'array'),
    labels      TEXT    NOT NULL DEFAULT '[]' CHECK (json_type(labels) = 'array'),
    leader      INTEGER NOT NULL DEFAULT 0 CHECK (leader IN (0, 1)),
    running     INTEGER NOT NULL DEFAULT 0,
    version     TEXT    NOT NULL DEFAULT '',
    key_id      TEXT    NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    lease_until INTEGER NOT NULL
) STRICT;
