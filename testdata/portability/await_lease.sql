-- await_lease: the runner's follower call. Wait on the server until the lease
-- on p_lock can change hands, then try_acquire. One round trip per poll, and
-- it returns try_acquire's row: acquired, token, holder, expires_in_ms.
--
-- While another owner holds a live lease, it waits up to p_wait_ms, and never
-- past the lease's expiry:
--   * on the holder's wake-up lock, a named lock (GET_LOCK) that the holder's
--     connection keeps while it leads. release_lease lets go of it, and a
--     crashed holder's connection closes, so a waiting follower tries at once
--     instead of at its next poll;
--   * with SLEEP when no holder keeps a wake-up lock (or user locks are
--     unavailable, as on Galera): plain polling, ending at the expiry.
-- A caller that ends up holding the lease keeps the wake-up lock; any other
-- caller lets go of it.
CREATE PROCEDURE await_lease(
    IN p_lock    LONGBLOB,
    IN p_owner   LONGBLOB,
    IN p_ttl_ms  BIGINT,
    IN p_wait_ms BIGINT
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Wait until the lease can change hands, then try_acquire. Result: as try_acquire'
BEGIN
    DECLARE v_found   BOOLEAN DEFAULT TRUE;
    DECLARE v_holder  VARBINARY(1020);
    DECLARE v_expires DATETIME(6);
    DECLARE v_revoked DATETIME(6);
    DECLARE v_now     DATETIME(6);
    DECLARE v_wait_ms BIGINT DEFAULT 0;
    DECLARE v_woken   BOOLEAN;
    DECLARE v_wake    VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    IF p_ttl_ms IS NULL OR p_ttl_ms < 1 OR p_ttl_ms > 86400000 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_ttl_ms must be 1 to 86400000 milliseconds';
    END IF;
    IF p_wait_ms IS NULL OR p_wait_ms < 0 OR p_wait_ms > 60000 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_wait_ms must be 0 to 60000 milliseconds';
    END IF;
    SET timestamp = DEFAULT;

    SELECT holder, expires_at INTO v_holder, v_expires FROM leases WHERE name = p_lock;
    SET v_now = UTC_TIMESTAMP(6);
    IF v_found AND v_holder IS NOT NULL AND v_holder <> p_owner AND v_expires > v_now THEN
        SET v_wait_ms = LEAST(p_wait_ms, CEIL(TIMESTAMPDIFF(MICROSECOND, v_now, v_expires) / 1000));
        SET v_wake = CONCAT('soloist/', MD5(CONCAT(DATABASE(), '/', p_lock)));
    END IF;
    IF v_wait_ms > 0 THEN
        BEGIN
            DECLARE CONTINUE HANDLER FOR SQLEXCEPTION SET v_woken = NULL;
            IF IS_USED_LOCK(v_wake) IS NOT NULL THEN
                SET v_woken = GET_LOCK(v_wake, v_wait_ms / 1000) = 1;
            END IF;
        END;
        IF v_woken IS NULL THEN
            DO SLEEP(v_wait_ms / 1000);
        END IF;
    END IF;

    CALL try_acquire(p_lock, p_owner, p_ttl_ms);

    BEGIN
        DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
        SET v_wake = CONCAT('soloist/', MD5(CONCAT(DATABASE(), '/', p_lock)));
        SET v_holder = NULL, v_expires = NULL, v_revoked = NULL;
        SELECT holder, expires_at, revoked_at INTO v_holder, v_expires, v_revoked
          FROM leases WHERE name = p_lock;
        IF v_holder = p_owner AND v_expires > UTC_TIMESTAMP(6) AND v_revoked IS NULL THEN
            IF IS_USED_LOCK(v_wake) IS NULL THEN
                DO GET_LOCK(v_wake, 0);
            END IF;
        ELSEIF IS_USED_LOCK(v_wake) = CONNECTION_ID() THEN
            DO RELEASE_LOCK(v_wake);
        END IF;
    END;
END
