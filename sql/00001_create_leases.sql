-- One row per lock: the whole state of its lease. Rows are never deleted, so
-- tokens only grow; a group an operator forgets keeps its row, marked
-- forgotten_at, until a runner takes the lease again. Only the procedures
-- write here.
--
-- Names and owners are VARBINARY and compared byte for byte: the utf8mb4_bin
-- collation pads spaces ('a' = 'a '), and a lock name must never match
-- another. The procedures accept only valid UTF-8 without control characters.
-- Times are UTC from the database clock (UTC_TIMESTAMP(6)).
--
-- A group in balanced mode has one lease per job besides its own row: named
-- '<group>/<job>', with group_name and job set (acquire_job creates it), so
-- that each job has its own owner and its own fencing tokens.

-- +goose Up
CREATE TABLE leases (
    name        VARBINARY(764)  NOT NULL COMMENT 'lock name, 1 to 191 characters of UTF-8',
    holder      VARBINARY(1020)     NULL COMMENT 'owner of the current lease; NULL when released',
    token       BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'fencing token of the current or last lease',
    acquired_at DATETIME(6)         NULL COMMENT 'start of the current term',
    renewed_at  DATETIME(6)         NULL COMMENT 'last successful heartbeat',
    expires_at  DATETIME(6)         NULL COMMENT 'end of the lease unless renewed',
    revoked_at  DATETIME(6)         NULL COMMENT 'set by revoke_lease: the holder may no longer renew',
    released_at DATETIME(6)         NULL COMMENT 'when the last holder released it',
    renewals    BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'heartbeats in the current term',
    forgotten_at DATETIME(6)        NULL COMMENT 'set by forget_group: reports skip the group until a runner takes the lease again',
    group_name  VARBINARY(764)      NULL COMMENT 'balanced mode: the group of a job''s own lease; NULL for a group''s lease',
    job         VARBINARY(764)      NULL COMMENT 'balanced mode: the job of a job''s own lease',
    PRIMARY KEY (name),
    KEY leases_group (group_name, holder)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
  COMMENT = 'Soloist leases: one row per lock';

-- +goose Down
DROP TABLE IF EXISTS leases;
