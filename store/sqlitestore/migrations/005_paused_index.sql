-- 005: an index of the paused jobs.
--
-- Counting the paused jobs (arbiter status, GET /v1/status) read every row of the jobs table:
-- 25 ms with 100,000 jobs. The total count walks the narrow index of names, and this small
-- index holds only the paused ones.
CREATE INDEX jobs_paused ON jobs (name) WHERE paused = 1;
