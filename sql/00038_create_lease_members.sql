-- The live runners of each group in balanced mode: one row per runner, kept
-- alive by its balance_renew calls, with the same time to live as the job
-- leases it holds. The row is how the database records a group's mode: a
-- group with live rows here runs in balanced mode, a group whose own lease
-- is held runs in leader mode, and each refuses runners of the other mode.
-- Rows of runners gone for a day are deleted when a runner joins.

-- +goose Up
CREATE TABLE lease_members (
    lease_name VARBINARY(764)  NOT NULL COMMENT 'the group: a lock name, as in leases',
    owner      VARBINARY(1020) NOT NULL COMMENT 'the runner, as in leases.holder',
    joined_at  DATETIME(6)     NOT NULL,
    renewed_at DATETIME(6)     NOT NULL COMMENT 'last balance_renew',
    expires_at DATETIME(6)     NOT NULL COMMENT 'the runner counts as gone after this',
    PRIMARY KEY (lease_name, owner)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
  COMMENT = 'Soloist balanced mode: the live runners of each group';

-- +goose Down
DROP TABLE IF EXISTS lease_members;
