-- 001: the schema of arbiter's SQLite store at its version 6 (the root schema.sql), in
-- PostgreSQL's dialect. A test compares the tables, columns and indexes with schema.sql, so a
-- new SQLite migration fails it until this store has its own.
--
-- Times are bigint unix nanoseconds UTC, as in SQLite: timestamptz keeps only microseconds, and
-- arbiter compares fire times to the nanosecond. NULL means "not yet".
--
-- Names are COLLATE "C": they sort by bytes, as in SQLite, whatever the database's locale, so
-- that ListJobsPage's "name > after" and ORDER BY name agree with each other and with SQLite.

CREATE TABLE jobs (
    name           text COLLATE "C" NOT NULL PRIMARY KEY,
    schedule       text    NOT NULL,
    timezone       text    NOT NULL DEFAULT '',
    -- argv; NULL for shell jobs, which use shell instead.
    command        text[]  CHECK (array_ndims(command) = 1),
    shell          text    NOT NULL DEFAULT '',
    dir            text    NOT NULL DEFAULT '',
    env            jsonb   NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(env) = 'object'),
    timeout_ns     bigint  NOT NULL DEFAULT 0,
    kill_grace_ns  bigint  NOT NULL DEFAULT 0,
    overlap        text    NOT NULL,
    catchup_ns     bigint  NOT NULL DEFAULT 0, -- 0: catch-up off
    retries        integer NOT NULL DEFAULT 0, -- extra attempts after a failure
    retry_delay_ns bigint  NOT NULL DEFAULT 0, -- backoff before the first retry, doubling
    jitter_ns      bigint  NOT NULL DEFAULT 0, -- each fire starts up to this much later
    paused         boolean NOT NULL DEFAULT false,
    source         text    NOT NULL,
    -- Changed from the CLI with --force although a job file manages it.
    drifted        boolean NOT NULL DEFAULT false,
    -- The node labels the job requires, sorted and without duplicates (arbiter.Job.Normalize).
    labels         text[]  NOT NULL DEFAULT '{}' CHECK (array_ndims(labels) = 1),
    created_at     bigint  NOT NULL,
    updated_at     bigint  NOT NULL
);

-- Counting the paused jobs reads this, not the whole table.
CREATE INDEX jobs_paused ON jobs (name) WHERE paused;

-- An identity, never reused even after old runs are purged: ids appear in logs, events and
-- users' scripts. No foreign key to jobs: deleting a job keeps its history.
CREATE TABLE runs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job            text COLLATE "C" NOT NULL,
    trigger        text    NOT NULL CHECK (trigger IN ('schedule', 'manual', 'retry', 'catchup')),
    scheduled_at   bigint  NOT NULL,
    attempt        integer NOT NULL DEFAULT 1,
    state          text    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed',
                       'timed_out', 'cancelled', 'lost', 'skipped', 'missed')),
    reason         text    NOT NULL DEFAULT '',
    created_at     bigint  NOT NULL,
    started_at     bigint,
    finished_at    bigint,
    exit_code      integer,
    signal         text    NOT NULL DEFAULT '',
    pid            integer NOT NULL DEFAULT 0,
    worker         text    NOT NULL DEFAULT '',
    output_bytes   bigint  NOT NULL DEFAULT 0,
    output_dropped bigint  NOT NULL DEFAULT 0,
    -- Retries: the first attempt's id; NULL otherwise. No foreign key, like job: purging old
    -- runs must not be blocked by, nor cascade into, their retries.
    retry_of       bigint,
    not_before     bigint,                    -- a queued run does not start before this
    jitter_ns      bigint  NOT NULL DEFAULT 0, -- the random delay given to this fire
    -- A missed record stands for missed_count fires, scheduled_at through missed_until; other
    -- runs have 0 and NULL.
    missed_count   integer NOT NULL DEFAULT 0,
    missed_until   bigint,
    -- Why another node asked the node running this run to stop it; '' otherwise.
    cancel_requested text NOT NULL DEFAULT ''
);

-- The running runs of one node: what it checks for cancellations, and what becomes lost when
-- its lease runs out.
CREATE INDEX runs_worker_running ON runs (worker, id) WHERE state = 'running';

-- Every node that sent a heartbeat, as it last reported itself. Times are unix nanoseconds.
CREATE TABLE nodes (
    name        text COLLATE "C" NOT NULL PRIMARY KEY,
    id          text    NOT NULL,
    roles       text[]  NOT NULL,
    labels      text[]  NOT NULL DEFAULT '{}',
    leader      boolean NOT NULL DEFAULT false,
    running     integer NOT NULL DEFAULT 0,
    version     text    NOT NULL DEFAULT '',
    key_id      text    NOT NULL DEFAULT '',
    started_at  bigint  NOT NULL,
    seen_at     bigint  NOT NULL,
    lease_until bigint  NOT NULL
);

-- A scheduled fire is materialized exactly once per job and fire time, even across crashes and
-- schedulers on several nodes: inserting it again is a no-op (INSERT ... ON CONFLICT DO NOTHING).
-- Manual and retry runs may share a fire time.
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
    run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    bigint NOT NULL,
    at     bigint NOT NULL,
    data   bytea  NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- The append-only event log. No foreign keys: events outlive the jobs and runs they name.
-- Followers read it by id (id > the last one seen), so ids must become visible in id order:
-- the store inserts events only under an advisory lock held until commit (see pgstore.go).
CREATE TABLE events (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     bigint NOT NULL,
    kind   text   NOT NULL,
    job    text COLLATE "C" NOT NULL DEFAULT '',
    run_id bigint,
    actor  text   NOT NULL,
    detail text   NOT NULL DEFAULT ''
);
-- ListEvents of one job (logs -f, the dashboard's job view), without a scan of the whole log.
CREATE INDEX events_job_id ON events (job, id);

-- Secrets sealed with AES-256-GCM under the master key key_id (kept outside the database), the
-- ciphertext bound to name and key_id. Never a plaintext column: the database alone reveals only
-- names and sizes.
CREATE TABLE secrets (
    name       text COLLATE "C" NOT NULL PRIMARY KEY,
    key_id     text    NOT NULL,
    nonce      bytea   NOT NULL,
    ciphertext bytea   NOT NULL,
    size       integer NOT NULL CHECK (size >= 0), -- plaintext length, for `secret ls`
    created_at bigint  NOT NULL,
    updated_at bigint  NOT NULL
);
