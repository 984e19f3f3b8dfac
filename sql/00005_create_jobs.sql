-- One row per job of a group (a group is a lock). The holder registers its
-- jobs at the start of each term (sync_job) and moves last_fire forward as it
-- claims fires, so the next holder knows which fires are already handled.
-- Operators pause a job here: no runner fires a paused job. In balanced mode
-- the runners declare each job's weight and hosts here (declare_jobs), so
-- that reports can tell a job that no live runner may own.

-- +goose Up
CREATE TABLE jobs (
    lease_name VARBINARY(764) NOT NULL COMMENT 'the group: a lock name, as in leases',
    name       VARBINARY(764) NOT NULL COMMENT 'job name, 1 to 191 characters of UTF-8',
    schedule   VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'as the holder registered it',
    paused_at  DATETIME(6)        NULL COMMENT 'set while paused',
    last_fire  DATETIME(6)        NULL COMMENT 'latest fire time handled: run, missed or passed while paused',
    next_fire  DATETIME(6)        NULL COMMENT 'next fire time, as the holder computed it',
    synced_at  DATETIME(6)        NULL COMMENT 'when a holder last registered the job',
    weight     INT UNSIGNED   NOT NULL DEFAULT 1 COMMENT 'balanced mode: the job''s share of a runner''s load',
    hosts      VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'balanced mode: which runners may own it, comma-separated; NULL: any',
    PRIMARY KEY (lease_name, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
  COMMENT = 'Soloist jobs: one row per job of a group';

-- +goose Down
DROP TABLE IF EXISTS jobs;
