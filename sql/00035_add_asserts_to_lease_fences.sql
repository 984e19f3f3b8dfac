-- On Galera, assert_lease bumps this counter inside the caller's transaction.
-- Galera replicates writes, not locks: assert_lease's shared lock on the fence
-- row does not reach the other nodes, so a takeover there would not wait for
-- it. The write makes certification order a fenced transaction and a takeover
-- (which also writes the fence row) and abort whichever commits second.

-- +goose Up
ALTER TABLE lease_fences
    ADD COLUMN asserts BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'fenced transactions that wrote the row (Galera only)';

-- +goose Down
ALTER TABLE lease_fences DROP COLUMN asserts;
