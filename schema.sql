-- The SQLite schema of arbiter, at its current version. store/sqlitestore builds it through its
-- numbered migrations; a test proves that a migrated database equals one created from this file.
-- Times are INTEGER unix nanoseconds UTC; NULL means "not yet".

CREATE TABLE jobs (
    name          TEXT    NOT NULL PRIMARY KEY,
    schedule      TEXT    NOT NULL,
    timezone      TEXT    NOT NULL DEFAULT '',
    -- JSON array of argv; NULL for shell jobs, which use shell instead.
    command       TEXT    CHECK (command IS NULL OR json_type(command) = 'array'),
    shell         TEXT    NOT NULL DEFAULT '',
    dir           TEXT    NOT NULL DEFAULT '',
    env           TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(env) = 'object'),
    timeout_ns    INTEGER NOT NULL DEFAULT 0,
    kill_grace_ns INTEGER NOT NULL DEFAULT 0,
    overlap       TEXT    NOT NULL,
    paused        INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    source        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    -- Added by migration 002, hence after the times. Jobs stored before it got the defaults of
    -- the time: catch-up 5m, retry delay 10s.
    catchup_ns     INTEGER NOT NULL DEFAULT 0, -- 0: catch-up off
    retries        INTEGER NOT NULL DEFAULT 0, -- extra attempts after a failure
    retry_delay_ns INTEGER NOT NULL DEFAULT 0, -- backoff before the first retry, doubling
    jitter_ns      INTEGER NOT NULL DEFAULT 0, -- each fire starts up to this much later
    -- Added by migration 004: changed from the CLI with --force although a job file manages it.
    drifted        INTEGER NOT NULL DEFAULT 0 CHECK (drifted IN (0, 1)),
    -- Added by migration 006: JSON array of the node labels the job requires, sorted.
    labels         TEXT    NOT NULL DEFAULT '[]' CHECK (json_type(labels) = 'array')
) STRICT;

-- Added by migration 005: counting the paused jobs reads this, not the whole table.
CREATE INDEX jobs_paused ON jobs (name) WHERE paused = 1;

-- AUTOINCREMENT so that run ids are never reused, even after old runs are purged: ids appear in
-- logs, events and users' scripts. No foreign key to jobs: deleting a job keeps its history.
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    job            TEXT    NOT NULL,
    trigger        TEXT    NOT NULL CHECK (trigger IN ('schedule', 'manual', 'retry', 'catchup')),
    scheduled_at   INTEGER NOT NULL,
    attempt        INTEGER NOT NULL DEFAULT 1,
    state          TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed',
                       'timed_out', 'cancelled', 'lost', 'skipped', 'missed')),
    reason         TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER,
    exit_code      INTEGER,
    signal         TEXT    NOT NULL DEFAULT '',
    pid            INTEGER NOT NULL DEFAULT 0,
    worker         TEXT    NOT NULL DEFAULT '',
    output_bytes   INTEGER NOT NULL DEFAULT 0,
    output_dropped INTEGER NOT NULL DEFAULT 0,
    -- Added by migration 002.
    retry_of       INTEGER,                    -- retries: the first attempt's id; NULL otherwise
    not_before     INTEGER,                    -- a queued run does not start before this
    jitter_ns      INTEGER NOT NULL DEFAULT 0, -- the random delay given to this fire
    -- A missed record stands for missed_count fires, scheduled_at through missed_until; other
    -- runs have 0 and NULL.
    missed_count   INTEGER NOT NULL DEFAULT 0,
    missed_until   INTEGER,
    -- Added by migration 007: why another node asked the node running this run to stop it.
    cancel_requested TEXT NOT NULL DEFAULT ''
) STRICT;

-- A scheduled fire is materialized exactly once per job and fire time, even across crashes and
-- schedulers: inserting it again is a no-op (INSERT ... ON CONFLICT DO NOTHING). Manual and retry
-- runs may share a fire time.
CREATE UNIQUE INDEX runs_fire ON runs (job, scheduled_at) WHERE trigger IN ('schedule', 'catchup');
-- The runs of a job, newest first; also the newest run per job (LatestRuns).
CREATE INDEX runs_job_id ON runs (job, id);
-- Runs by state: queued and running ones for the dispatcher and recovery, and Counts.
CREATE INDEX runs_state_id ON runs (state, id);
-- ListRuns by job and fire-time range. runs_fire cannot serve it: it is partial (scheduled
-- triggers only) and the range filter applies to every trigger.
CREATE INDEX runs_job_scheduled ON runs (job, scheduled_at);
-- LastFires: the latest missed_until of each job, in one step. Only missed records have one, so
-- the index stays tiny. (The latest scheduled_at comes from runs_fire.)
CREATE INDEX runs_missed ON runs (job, missed_until) WHERE missed_until IS NOT NULL;
-- Each attempt of a retry chain exists once, so a retry decided twice (a crash between deciding
-- and recording, two schedulers) is refused instead of run twice.
CREATE UNIQUE INDEX runs_retry ON runs (retry_of, attempt) WHERE retry_of IS NOT NULL;

-- Chunks of a run's interleaved output. Seqs start at 1; a gap marks dropped output.
CREATE TABLE run_output (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    data   BLOB    NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

-- The append-only event log. No foreign keys: events outlive the jobs and runs they name.
CREATE TABLE events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    job    TEXT    NOT NULL DEFAULT '',
    run_id INTEGER,
    actor  TEXT    NOT NULL,
    detail TEXT    NOT NULL DEFAULT ''
) STRICT;
-- ListEvents of one job (logs -f, the dashboard's job view), without a scan of the whole log.
CREATE INDEX events_job_id ON events (job, id);

-- Secrets sealed with AES-256-GCM under the master key key_id (kept outside the database), the
-- ciphertext bound to name and key_id. Never a plaintext column: the file alone reveals only names
-- and sizes. Added by migration 003.
CREATE TABLE secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    key_id     TEXT    NOT NULL,
    nonce      BLOB    NOT NULL,
    ciphertext BLOB    NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0), -- plaintext length, for `secret ls`
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- The running runs of one node: what it checks for cancellations, and what becomes lost when
-- its lease runs out. Added by migration 007.
CREATE INDEX runs_worker_running ON runs (worker, id) WHERE state = 'running';

-- Every node that sent a heartbeat, as it last reported itself. A daemon on SQLite is the only
-- node; the table exists so that both stores keep one model. Added by migration 007.
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

PRAGMA user_version = 7;
