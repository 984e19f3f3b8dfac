-- claim_fire bumps this counter inside its transaction. The write takes the
-- fence row exclusively, so a claim and a takeover (which also writes the
-- fence row) are ordered: on one server by the row lock, on Galera by
-- certification, which aborts one of two conflicting writers.

-- +goose Up
ALTER TABLE lease_fences
    ADD COLUMN claims BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'fires claimed under the current token and before';

-- +goose Down
ALTER TABLE lease_fences DROP COLUMN claims;
