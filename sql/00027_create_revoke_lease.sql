-- Installs the revoke_lease procedure. Generated from procedures/revoke_lease.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS revoke_lease;

-- +goose StatementBegin
-- revoke_lease: an operator forces the holder of p_lock off. Its next
-- heartbeat is refused, so it steps down within one interval, finishes or
-- cancels its jobs and releases the lease; until then, or until the lease
-- expires, nobody else can take it, so the holder's runs never overlap a
-- successor's.
--
-- Result, one row: revoked (1 if a live lease was revoked), holder, token.
CREATE PROCEDURE revoke_lease(IN p_lock LONGBLOB)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Make the holder of a lease step down. Result: revoked, holder, token'
BEGIN
    DECLARE v_holder  VARBINARY(1020);
    DECLARE v_token   BIGINT UNSIGNED;
    DECLARE v_revoked BOOLEAN;

    CALL check_text_arg('p_lock', p_lock, 191);
    SET timestamp = DEFAULT;
    UPDATE leases SET revoked_at = UTC_TIMESTAMP(6)
     WHERE name = p_lock AND holder IS NOT NULL AND expires_at > UTC_TIMESTAMP(6) AND revoked_at IS NULL;
    -- Read the UPDATE's count now: a SELECT ... INTO sets ROW_COUNT() too.
    SET v_revoked = ROW_COUNT() > 0;
    SELECT holder, token INTO v_holder, v_token FROM leases WHERE name = p_lock;
    SELECT v_revoked AS revoked, CONVERT(v_holder USING utf8mb4) AS holder, v_token AS token;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS revoke_lease;
