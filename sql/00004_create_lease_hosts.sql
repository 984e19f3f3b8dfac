-- Per-lock allow-list. When a lock has rows here, try_acquire gives a new term
-- only to an owner that one of them names: the whole owner, or its leading
-- '/'-separated fields (an owner starts with its host's IP, so an IP entry
-- admits every runner on that host). No rows: everyone competes.

-- +goose Up
CREATE TABLE lease_hosts (
    lease_name VARBINARY(764)  NOT NULL COMMENT 'lock name, as in leases',
    host       VARBINARY(1020) NOT NULL COMMENT 'an IP, or leading fields of an owner',
    added_at   DATETIME(6)     NOT NULL,
    PRIMARY KEY (lease_name, host)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
  COMMENT = 'Soloist allow-list: which owners may take a lock';

-- +goose Down
DROP TABLE IF EXISTS lease_hosts;
