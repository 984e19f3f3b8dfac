-- heartbeat: renew the caller's lease for p_ttl_ms from now.
--
-- Result, one row: renewed (0/1), expires_in_ms. It renews only while p_owner
-- holds the lease with exactly p_token, the lease has not expired and has not
-- been revoked; otherwise renewed = 0, expires_in_ms = 0 and nothing changes.
--
-- The holder's hot path: one read of the owner_binding setting and one
-- UPDATE of one row, each by primary key. It can match
-- only the lease's own, valid, lock name and owner, so the arguments are
-- checked in full only when it matches nothing. With owner_binding on
-- (check_owner), it matches only an owner bound to the calling user.
CREATE PROCEDURE heartbeat(
    IN p_lock   LONGBLOB,
    IN p_owner  LONGBLOB,
    IN p_token  BIGINT UNSIGNED,
    IN p_ttl_ms BIGINT
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Renew a held lease. Result: renewed, expires_in_ms'
body: BEGIN
    -- owner_binding and the calling user's name are read into variables, not
    -- in the UPDATE: under statement-based logging a replica replays the
    -- variables' values, whereas USER() there would be the replication
    -- thread's, and an UPDATE that reads another table is logged as unsafe.
    DECLARE v_user    VARBINARY(1020) DEFAULT CAST(SUBSTRING_INDEX(USER(), '@', 1) AS BINARY);
    DECLARE v_binding BIGINT;
    IF p_ttl_ms BETWEEN 1 AND 86400000 THEN
        SET timestamp = DEFAULT; -- a session's SET timestamp must not move the clock
        SELECT COALESCE(MAX(value), 0) INTO v_binding FROM soloist_settings WHERE name = 'owner_binding';
        -- renewals always changes, so ROW_COUNT() is 1 exactly when the row matched.
        UPDATE leases
           SET renewed_at = UTC_TIMESTAMP(6), expires_at = UTC_TIMESTAMP(6) + INTERVAL p_ttl_ms * 1000 MICROSECOND,
               renewals = renewals + 1
         WHERE name = p_lock AND holder = p_owner AND token = p_token
           AND expires_at > UTC_TIMESTAMP(6) AND revoked_at IS NULL
           AND (v_binding = 0 OR p_owner = v_user OR LEFT(p_owner, LENGTH(v_user) + 1) = CONCAT(v_user, '/'));
        IF ROW_COUNT() = 1 THEN
            SELECT 1 AS renewed, p_ttl_ms AS expires_in_ms;
            LEAVE body;
        END IF;
    END IF;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    IF p_token IS NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_token must not be NULL';
    END IF;
    IF p_ttl_ms IS NULL OR p_ttl_ms < 1 OR p_ttl_ms > 86400000 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_ttl_ms must be 1 to 86400000 milliseconds';
    END IF;
    SELECT 0 AS renewed, 0 AS expires_in_ms;
END
