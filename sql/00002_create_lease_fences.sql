-- One row per lock, holding its current token: the row that orders fenced
-- writes, fire claims and takeovers against each other.
--
-- * assert_lease takes a shared lock on the row inside the caller's
--   transaction. A takeover updates the row, so it waits for the fenced
--   transactions of the old token to end.
-- * claim_fire bumps claims inside its transaction. The write takes the row
--   exclusively, so a claim and a takeover are ordered: on one server by the
--   row lock, on Galera by certification, which aborts one of two conflicting
--   writers.
-- * On Galera, assert_lease also bumps asserts. Galera replicates writes, not
--   locks: the shared lock does not reach the other nodes, so a takeover there
--   would not wait for it. The write makes certification order a fenced
--   transaction and a takeover and abort whichever commits second.
-- Heartbeats write leases, never this table, so a long fenced transaction
-- cannot delay them.

-- +goose Up
CREATE TABLE lease_fences (
    name    VARBINARY(764)  NOT NULL COMMENT 'lock name, as in leases',
    token   BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'the current token of the lock',
    claims  BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'fires claimed under the current token and before',
    asserts BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'fenced transactions that wrote the row (Galera only)',
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
  COMMENT = 'Soloist fences: the row assert_lease holds';

-- +goose Down
DROP TABLE IF EXISTS lease_fences;
