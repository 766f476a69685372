-- 006: job labels.
--
-- A job's labels are the node labels it requires: once several nodes share a store, only a node
-- with every one of them runs it. A JSON array of strings, sorted and without duplicates
-- (arbiter.Job.Normalize); the jobs stored before have none.
ALTER TABLE jobs ADD COLUMN labels TEXT NOT NULL DEFAULT '[]' CHECK (json_type(labels) = 'array');
