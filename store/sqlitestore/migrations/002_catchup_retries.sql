-- 002: catch-up, retries and jitter.
--
-- Jobs gain their catch-up window, retry policy and jitter. The columns default to 0 for the
-- ALTER (the store always writes every field), but the jobs already stored were scheduled with
-- the defaults arbiter applied before these fields existed: a catch-up window of 5m
-- (arbiter.DefaultCatchup) and a first retry delay of 10s (arbiter.DefaultRetryDelay), so the
-- UPDATE below gives them exactly those. Retries stays 0 and jitter 0: they had neither.
ALTER TABLE jobs ADD COLUMN catchup_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN retry_delay_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN jitter_ns INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET catchup_ns = 300000000000, retry_delay_ns = 10000000000;

-- Runs gain the retry chain (retry_of: the first attempt's id; NULL for first attempts), the
-- earliest start of a queued run (retry backoff, jitter), the jitter given to a fire, and the
-- extent of a missed record. No foreign key on retry_of, like job: purging old runs must not be
-- blocked by, nor cascade into, their retries.
ALTER TABLE runs ADD COLUMN retry_of INTEGER;
ALTER TABLE runs ADD COLUMN not_before INTEGER;
ALTER TABLE runs ADD COLUMN jitter_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN missed_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN missed_until INTEGER;
-- Version 1 never wrote missed records, but a database may hold one from a tool: give it the
-- shape the store now promises (it stands for its own fire, once).
UPDATE runs SET missed_count = 1, missed_until = scheduled_at WHERE state = 'missed';

-- ListRuns by job and fire-time range. runs_fire cannot serve it: it is partial (scheduled
-- triggers only) and the range filter applies to every trigger.
CREATE INDEX runs_job_scheduled ON runs (job, scheduled_at);
-- LastFires: the latest missed_until of each job, in one step. Only missed records have one, so
-- the index stays tiny. (The latest scheduled_at comes from runs_fire.)
CREATE INDEX runs_missed ON runs (job, missed_until) WHERE missed_until IS NOT NULL;
-- Each attempt of a retry chain exists once, so a retry decided twice (a crash between deciding
-- and recording, two schedulers) is refused instead of run twice.
CREATE UNIQUE INDEX runs_retry ON runs (retry_of, attempt) WHERE retry_of IS NOT NULL;
-- ListEvents of one job (logs -f, the dashboard's job view), without a scan of the whole log.
CREATE INDEX events_job_id ON events (job, id);
