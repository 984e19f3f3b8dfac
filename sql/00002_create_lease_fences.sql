-- One row per lock, holding its current token. assert_lease takes a shared
-- lock on this row inside the caller's transaction; a takeover updates it, so
-- it waits for fenced transactions of the old token to end. Heartbeats write
-- leases, never this table, so a long fenced transaction cannot delay them.

-- +goose Up
CREATE TABLE lease_fences (
    name  VARBINARY(764)  NOT NULL COMMENT 'lock name, as in leases',
    token BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'the current token of the lock',
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
  COMMENT = 'Soloist fences: the row assert_lease holds';

-- +goose Down
DROP TABLE lease_fences;
