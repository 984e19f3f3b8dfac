-- The durable history: one row per fire of a job, keyed by (group, job,
-- scheduled time). The unique key is what makes a fire run at most once
-- across leader changes: only one claim of a fire can ever insert its row.

-- +goose Up
CREATE TABLE runs (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    lease_name  VARBINARY(764)  NOT NULL COMMENT 'the group',
    job         VARBINARY(764)  NOT NULL,
    fire_time   DATETIME(6)     NOT NULL COMMENT 'scheduled time, UTC',
    owner       VARBINARY(1020) NOT NULL COMMENT 'the holder that claimed the fire',
    token       BIGINT UNSIGNED NOT NULL COMMENT 'its fencing token',
    outcome     VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    started_at  DATETIME(6)         NULL COMMENT 'NULL for a missed fire',
    finished_at DATETIME(6)         NULL COMMENT 'NULL while running',
    message     VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'error, or why it was missed',
    output      TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'tail of a command''s output',
    PRIMARY KEY (id),
    UNIQUE KEY runs_fire (lease_name, job, fire_time),
    KEY runs_outcome (lease_name, outcome, job),
    KEY runs_time (lease_name, fire_time),
    CONSTRAINT runs_outcome_known CHECK (outcome IN
        ('running', 'succeeded', 'failed', 'timed_out', 'lost', 'cancelled', 'abandoned', 'missed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
  COMMENT = 'Soloist run history: one row per fire';

-- +goose Down
DROP TABLE IF EXISTS runs;
