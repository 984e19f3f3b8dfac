-- Installs the force_release procedure. Generated from procedures/force_release.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS force_release;

-- +goose StatementBegin
-- force_release: an operator ends the lease on p_lock now, for a holder that
-- is dead, hung or rogue and cannot be waited for. The lease becomes free, so
-- the next try_acquire by anyone takes it with token + 1. From this call on
-- the old holder's fenced writes fail (check_holder, claim_fire and
-- assert_lease find the lease released, then superseded), and its next
-- heartbeat is refused, so it steps down when it runs again. Unlike
-- revoke_lease it does not wait for the holder: jobs of a holder that is
-- still alive may overlap the successor's, so use it when the holder looks
-- dead.
--
-- Result, one row: released (1 if a lease with a holder was ended, expired
-- or not), holder, token, heartbeat_age_ms (since the holder last renewed),
-- ttl_ms (the TTL of its last renewal) and interval_ms (the holder's mean
-- time between renewals in this term; NULL before its first renewal).
CREATE PROCEDURE force_release(IN p_lock LONGBLOB)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'End a lease now, whoever holds it. Result: released, holder, token, heartbeat_age_ms, ttl_ms, interval_ms'
BEGIN
    DECLARE v_now      DATETIME(6);
    DECLARE v_holder   VARBINARY(1020);
    DECLARE v_token    BIGINT UNSIGNED;
    DECLARE v_acquired DATETIME(6);
    DECLARE v_renewed  DATETIME(6);
    DECLARE v_expires  DATETIME(6);
    DECLARE v_renewals BIGINT UNSIGNED;
    DECLARE v_released BOOLEAN DEFAULT FALSE;

    CALL check_text_arg('p_lock', p_lock, 191);
    SET timestamp = DEFAULT;

    START TRANSACTION;
    -- Waits for transactions fenced by assert_lease on the current token, as
    -- a takeover does.
    UPDATE lease_fences SET token = token WHERE name = p_lock;
    SELECT holder, token, acquired_at, renewed_at, expires_at, renewals
      INTO v_holder, v_token, v_acquired, v_renewed, v_expires, v_renewals
      FROM leases WHERE name = p_lock FOR UPDATE;
    SET v_now = UTC_TIMESTAMP(6);
    IF v_holder IS NOT NULL THEN
        UPDATE leases SET holder = NULL, expires_at = v_now, released_at = v_now, revoked_at = NULL
         WHERE name = p_lock;
        UPDATE lease_terms SET ended_at = LEAST(v_now, v_expires), end_reason = 'forced'
         WHERE name = p_lock AND token = v_token AND ended_at IS NULL;
        SET v_released = TRUE;
    END IF;
    COMMIT;

    SELECT v_released AS released,
           CONVERT(v_holder USING utf8mb4) AS holder,
           v_token AS token,
           TIMESTAMPDIFF(MICROSECOND, v_renewed, v_now) DIV 1000 AS heartbeat_age_ms,
           TIMESTAMPDIFF(MICROSECOND, v_renewed, v_expires) DIV 1000 AS ttl_ms,
           IF(v_renewals > 0, TIMESTAMPDIFF(MICROSECOND, v_acquired, v_renewed) DIV 1000 DIV v_renewals, NULL) AS interval_ms;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS force_release;
