-- One row per term: who held a lock with which token, from when to when.
-- Written only when a lease changes hands, never by heartbeats.

-- +goose Up
CREATE TABLE lease_terms (
    name        VARBINARY(764)  NOT NULL COMMENT 'lock name, as in leases',
    token       BIGINT UNSIGNED NOT NULL COMMENT 'the term''s fencing token',
    holder      VARBINARY(1020) NOT NULL COMMENT 'owner during the term',
    acquired_at DATETIME(6)     NOT NULL,
    ended_at    DATETIME(6)         NULL COMMENT 'NULL while the term lasts',
    end_reason  VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'released or expired',
    PRIMARY KEY (name, token),
    KEY lease_terms_acquired (acquired_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
  COMMENT = 'Soloist lease history: one row per term';

-- +goose Down
DROP TABLE IF EXISTS lease_terms;
