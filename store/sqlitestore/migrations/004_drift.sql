-- 004: drift.
--
-- A job that came from a job file and was then changed from the CLI with --force is marked as
-- drifted until the next apply of its file puts it back in line.
ALTER TABLE jobs ADD COLUMN drifted INTEGER NOT NULL DEFAULT 0 CHECK (drifted IN (0, 1));
