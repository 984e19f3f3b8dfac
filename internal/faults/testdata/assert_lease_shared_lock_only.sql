-- assert_lease: fence the caller's own writes with a lease token.
--
-- Call it inside the transaction that makes the writes, before them:
--   START TRANSACTION; CALL assert_lease('billing', 42); UPDATE ...; COMMIT;
-- If p_token is not the current, unexpired lease on p_lock it fails with
-- SQLSTATE '45000' and a message that says the lease was lost. Otherwise it
-- returns one row, ok = 1, and holds a shared lock on the lock's fence row
-- until the transaction ends, so no takeover can commit in between: a new
-- term's try_acquire waits for that row. Heartbeats do not touch the fence
-- row, so a long fenced transaction never delays the holder's renewals.
-- Called in autocommit mode it is a plain check.
CREATE PROCEDURE assert_lease(
    IN p_lock  LONGBLOB,
    IN p_token BIGINT UNSIGNED
)
    READS SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Fail with 45000 unless p_token is the current lease; hold it until commit. Result: ok'
BEGIN
    DECLARE v_found   BOOLEAN DEFAULT TRUE;
    DECLARE v_fence   BIGINT UNSIGNED;
    DECLARE v_holder  VARBINARY(1020);
    DECLARE v_token   BIGINT UNSIGNED;
    DECLARE v_expires DATETIME(6);
    DECLARE v_msg     VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;

    CALL check_text_arg('p_lock', p_lock, 191);
    IF p_token IS NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_token must not be NULL';
    END IF;
    SET timestamp = DEFAULT;

    -- A locking read sees the latest committed token and holds it.
    SELECT token INTO v_fence FROM lease_fences WHERE name = p_lock LOCK IN SHARE MODE;
    IF v_found THEN
        SELECT holder, token, expires_at INTO v_holder, v_token, v_expires
          FROM leases WHERE name = p_lock;
    END IF;

    IF NOT v_found THEN
        SET v_msg = 'lease lost: no lease has ever been taken on this lock';
    ELSEIF v_fence <> p_token OR v_token <> p_token THEN
        SET v_msg = CONCAT('lease lost: token ', p_token, ' was superseded by token ', v_fence);
    ELSEIF v_holder IS NULL THEN
        SET v_msg = CONCAT('lease lost: token ', p_token, ' was released');
    ELSEIF v_expires <= UTC_TIMESTAMP(6) THEN
        SET v_msg = CONCAT('lease lost: token ', p_token, ' expired ',
                           TIMESTAMPDIFF(MICROSECOND, v_expires, UTC_TIMESTAMP(6)) DIV 1000, ' ms ago');
    END IF;
    IF v_msg IS NOT NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_msg;
    END IF;
    SELECT 1 AS ok;
END
