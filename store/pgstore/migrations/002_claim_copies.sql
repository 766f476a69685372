-- 002: a claim reads the queued run's row alone. Each run carries copies of what a claim asks
-- of its job: the job's labels, and whether it runs one at a time (overlap queue or replace).
-- Triggers keep them: a run takes them from its job when it is inserted, and a change of the
-- job's labels or overlap, or its deletion, reaches its queued runs in the same transaction.
-- Looking the job up instead, for every queued run a claim passed (those that other claimers
-- held and it skipped included), made a claim cost more the more claimers there were
-- (BENCHMARKS.md, section 7). Postgres only: the SQLite store has one claimer.

ALTER TABLE runs
    ADD COLUMN job_labels text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN job_serial boolean NOT NULL DEFAULT false;

UPDATE runs SET job_labels = j.labels, job_serial = j.overlap IN ('queue', 'replace')
FROM jobs j WHERE j.name = runs.job AND runs.state = 'queued';

CREATE FUNCTION arbiter_run_job_copies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- FOR SHARE: a change of the job waits for this insert to commit, or this read for the
    -- change, so that no queued run keeps what its job no longer says.
    SELECT labels, overlap IN ('queue', 'replace') INTO NEW.job_labels, NEW.job_serial
    FROM jobs WHERE name = NEW.job FOR SHARE;
    IF NOT FOUND THEN
        -- A run of a deleted job: any worker claims it, and ends it.
        NEW.job_labels := '{}';
        NEW.job_serial := false;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER runs_job_copies BEFORE INSERT ON runs
    FOR EACH ROW EXECUTE FUNCTION arbiter_run_job_copies();

CREATE FUNCTION arbiter_job_copies_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE runs SET job_labels = '{}', job_serial = false
        WHERE job = OLD.name AND state = 'queued';
    ELSE
        UPDATE runs SET job_labels = NEW.labels, job_serial = NEW.overlap IN ('queue', 'replace')
        WHERE job = NEW.name AND state = 'queued';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_claim_changed AFTER UPDATE OF labels, overlap ON jobs
    FOR EACH ROW WHEN (OLD.labels IS DISTINCT FROM NEW.labels OR OLD.overlap IS DISTINCT FROM NEW.overlap)
    EXECUTE FUNCTION arbiter_job_copies_changed();

CREATE TRIGGER jobs_claim_deleted AFTER DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION arbiter_job_copies_changed();
