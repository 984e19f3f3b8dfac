-- Installs the acquire_lease procedure. Generated from procedures/acquire_lease.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS acquire_lease;

-- +goose StatementBegin
-- acquire_lease: the lease algorithm behind try_acquire (which answers a
-- follower of a live lease itself, and calls this for everything else):
-- take, renew or report the lease on p_lock for p_owner, with every argument
-- checked.
--
-- Result, one row: acquired (0/1), token, holder, expires_in_ms.
--   * lock row missing          -> created and acquired with token 1
--   * held by p_owner, live     -> renewed for p_ttl_ms from now, same token
--   * free, or expired          -> acquired with token + 1 (the caller's own
--                                  expired lease too: it may have missed writes);
--                                  a forgotten group (forget_group) is listed again
--   * held by someone else      -> acquired = 0; the row describes that lease
-- A revoked lease (revoke_lease) cannot be renewed and counts as held until it
-- expires or its holder releases it. A lock with an allow-list (lease_hosts)
-- is only acquired by an owner that the list names. A group whose jobs live
-- runners share in balanced mode (lease_members, or a job's own lease still
-- live) gives no new term: the group runs in one mode at a time.
--
-- Time is UTC_TIMESTAMP(6) of the database: no client clock, session time
-- zone or daylight-saving change enters the decision.
-- With owner_binding on, p_owner must be bound to the calling database user
-- (check_owner), or the call fails with 45000.
CREATE PROCEDURE acquire_lease(
    IN p_lock   LONGBLOB,
    IN p_owner  LONGBLOB,
    IN p_ttl_ms BIGINT
)
    MODIFIES SQL DATA
    SQL SECURITY INVOKER
    COMMENT 'The algorithm behind try_acquire. Result: acquired, token, holder, expires_in_ms'
BEGIN
    DECLARE v_found    BOOLEAN DEFAULT TRUE;
    DECLARE v_holder   VARBINARY(1020);
    DECLARE v_token    BIGINT UNSIGNED DEFAULT 0;
    DECLARE v_expires  DATETIME(6);
    DECLARE v_revoked  DATETIME(6);
    DECLARE v_now      DATETIME(6);
    DECLARE v_acquired BOOLEAN DEFAULT FALSE;
    DECLARE v_wait     BIGINT;
    DECLARE v_busy     BOOLEAN;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;
    -- Waiting too long for the row, a deadlock, or (on Galera) a certification
    -- conflict: not acquired this time. Report the lease as it stands.
    DECLARE EXIT HANDLER FOR 1205, 1213
    BEGIN
        ROLLBACK;
        IF v_wait IS NOT NULL THEN
            SET SESSION innodb_lock_wait_timeout = v_wait;
        END IF;
        SET v_now = UTC_TIMESTAMP(6);
        SELECT 0 AS acquired,
               COALESCE(l.token, 0) AS token,
               IF(l.expires_at > v_now, CONVERT(l.holder USING utf8mb4), NULL) AS holder,
               IF(l.expires_at > v_now, CEIL(TIMESTAMPDIFF(MICROSECOND, v_now, l.expires_at) / 1000), 0) AS expires_in_ms
          FROM (SELECT 1 AS one) AS d
          LEFT JOIN leases AS l ON l.name = p_lock;
    END;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    IF p_ttl_ms IS NULL OR p_ttl_ms < 1 OR p_ttl_ms > 86400000 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_ttl_ms must be 1 to 86400000 milliseconds';
    END IF;
    SET timestamp = DEFAULT; -- a session's SET timestamp must not move the clock

    -- 1. Look without taking a lock. A live lease of another owner, or a
    --    revoked one, cannot change hands now: followers stop here.
    SELECT holder, token, expires_at, revoked_at
      INTO v_holder, v_token, v_expires, v_revoked
      FROM leases WHERE name = p_lock;
    SET v_now = UTC_TIMESTAMP(6);
    SET v_busy = v_found AND v_holder IS NOT NULL AND v_expires IS NOT NULL AND v_expires > v_now
                 AND (v_holder <> p_owner OR v_revoked IS NOT NULL);

    IF NOT v_busy THEN
        -- 2. Lock the row, creating it on first use, and decide on the latest
        --    committed state. Wait at most a second for it.
        SET v_wait = @@SESSION.innodb_lock_wait_timeout;
        SET SESSION innodb_lock_wait_timeout = 1;
        START TRANSACTION;
        IF NOT v_found THEN
            INSERT INTO leases (name) VALUES (p_lock) ON DUPLICATE KEY UPDATE name = name;
            INSERT INTO lease_fences (name) VALUES (p_lock) ON DUPLICATE KEY UPDATE name = name;
            SET v_found = TRUE;
        END IF;
        SELECT holder, token, expires_at, revoked_at
          INTO v_holder, v_token, v_expires, v_revoked
          FROM leases WHERE name = p_lock FOR UPDATE;
        SET v_now = UTC_TIMESTAMP(6);

        IF v_holder = p_owner AND v_expires > v_now AND v_revoked IS NULL THEN
            -- 2a. The caller's own live lease: renew it.
            SET v_expires = v_now + INTERVAL p_ttl_ms * 1000 MICROSECOND;
            UPDATE leases SET renewed_at = v_now, expires_at = v_expires, renewals = renewals + 1
             WHERE name = p_lock;
            SET v_acquired = TRUE;
        ELSEIF (v_holder IS NULL OR v_expires <= v_now)
           AND NOT EXISTS (SELECT 1 FROM lease_members WHERE lease_name = p_lock AND expires_at > v_now)
           AND NOT EXISTS (SELECT 1 FROM leases WHERE group_name = p_lock AND holder IS NOT NULL AND expires_at > v_now)
           AND (NOT EXISTS (SELECT 1 FROM lease_hosts WHERE lease_name = p_lock)
                OR EXISTS (SELECT 1 FROM lease_hosts
                            WHERE lease_name = p_lock
                              AND (host = p_owner OR LEFT(p_owner, LENGTH(host) + 1) = CONCAT(host, '/')))) THEN
            -- 2b. Free or expired, and the caller may hold it: a new term.
            UPDATE lease_terms SET ended_at = v_expires, end_reason = 'expired'
             WHERE name = p_lock AND token = v_token AND ended_at IS NULL;
            SET v_token = v_token + 1, v_holder = p_owner,
                v_expires = v_now + INTERVAL p_ttl_ms * 1000 MICROSECOND;
            UPDATE leases
               SET holder = p_owner, token = v_token, acquired_at = v_now, renewed_at = v_now,
                   expires_at = v_expires, revoked_at = NULL, released_at = NULL, renewals = 0,
                   forgotten_at = NULL
             WHERE name = p_lock;
            -- Waits for transactions fenced by assert_lease on the old token.
            UPDATE lease_fences SET token = v_token WHERE name = p_lock;
            INSERT INTO lease_terms (name, token, holder, acquired_at) VALUES (p_lock, v_token, p_owner, v_now);
            SET v_acquired = TRUE;
        END IF;
        COMMIT;
        SET SESSION innodb_lock_wait_timeout = v_wait;
    END IF;

    IF v_holder IS NULL OR v_expires <= v_now THEN
        SET v_holder = NULL, v_expires = v_now;
    END IF;
    SELECT v_acquired AS acquired,
           v_token AS token,
           CONVERT(v_holder USING utf8mb4) AS holder,
           CEIL(TIMESTAMPDIFF(MICROSECOND, v_now, v_expires) / 1000) AS expires_in_ms;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS acquire_lease;
