-- Installs the join_group procedure. Generated from procedures/join_group.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS join_group;

-- +goose StatementBegin
-- join_group: what a runner calls once before it starts, in either mode, so
-- that a group never runs in both. p_mode is 'leader' or 'balanced'.
--   * 'balanced' while the group's own lease is held (leader mode) -> refused
--   * 'leader' while the group has live balanced runners            -> refused
--   * otherwise 'balanced' records the runner as a live member for
--     p_ttl_ms (balance_renew keeps it alive); 'leader' records nothing:
--     the group's lease, once held, is the record of leader mode
-- Refusals are SQLSTATE 45000 with a message that says who runs the group
-- in the other mode. The check and the record are one transaction that
-- takes the group's lease row in share mode, so a runner of the other mode
-- taking the lease at the same moment waits for it or is seen by it.
-- A lock name that is a job's own lease cannot be a group.
--
-- Result, one row: members (live balanced runners after the call), now_ms.
-- With owner_binding on, p_owner must be bound to the calling database user
-- (check_owner), or the call fails with 45000.
CREATE PROCEDURE join_group(
    IN p_group  LONGBLOB,
    IN p_owner  LONGBLOB,
    IN p_mode   VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_ttl_ms BIGINT
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Check a runner''s mode against its group and join. Result: members, now_ms'
BEGIN
    DECLARE v_now     DATETIME(6);
    DECLARE v_holder  VARBINARY(1020);
    DECLARE v_token   BIGINT UNSIGNED;
    DECLARE v_expires DATETIME(6);
    DECLARE v_of      VARBINARY(764);
    DECLARE v_members BIGINT;
    DECLARE v_msg     VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE v_forgotten DATETIME(6);
    DECLARE v_found   BOOLEAN DEFAULT TRUE;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;

    CALL check_text_arg('p_group', p_group, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    IF p_mode IS NULL OR p_mode NOT IN ('leader', 'balanced') THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_mode must be leader or balanced';
    END IF;
    IF p_ttl_ms IS NULL OR p_ttl_ms < 1 OR p_ttl_ms > 86400000 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_ttl_ms must be 1 to 86400000 milliseconds';
    END IF;
    SET timestamp = DEFAULT;

    START TRANSACTION;
    -- Share mode only: runners joining at once do not wait for each other.
    -- The row is created (an exclusive lock) only the first time.
    SELECT holder, token, expires_at, group_name, forgotten_at INTO v_holder, v_token, v_expires, v_of, v_forgotten
      FROM leases WHERE name = p_group LOCK IN SHARE MODE;
    IF NOT v_found THEN
        INSERT INTO leases (name) VALUES (p_group) ON DUPLICATE KEY UPDATE name = name;
        INSERT INTO lease_fences (name) VALUES (p_group) ON DUPLICATE KEY UPDATE name = name;
        SET v_found = TRUE;
        SELECT holder, token, expires_at, group_name, forgotten_at INTO v_holder, v_token, v_expires, v_of, v_forgotten
          FROM leases WHERE name = p_group LOCK IN SHARE MODE;
    END IF;
    SET v_now = UTC_TIMESTAMP(6);
    SELECT COUNT(*) INTO v_members FROM lease_members
     WHERE lease_name = p_group AND expires_at > v_now AND owner <> p_owner;
    IF v_of IS NOT NULL THEN
        SET v_msg = CONCAT('group ', CONVERT(p_group USING utf8mb4), ' is the name of a job''s own lease in group ',
                           CONVERT(v_of USING utf8mb4), '; choose another group name');
    ELSEIF p_mode = 'balanced' AND v_holder IS NOT NULL AND v_expires > v_now THEN
        SET v_msg = CONCAT('group ', CONVERT(p_group USING utf8mb4), ' runs in leader mode: ',
                           CONVERT(v_holder USING utf8mb4), ' holds its lease (token ', v_token,
                           '); start every runner of the group with the same mode');
    ELSEIF p_mode = 'leader' AND v_members > 0 THEN
        SET v_msg = CONCAT('group ', CONVERT(p_group USING utf8mb4), ' runs in balanced mode: ', v_members,
                           ' live runner(s) share its jobs; start this runner with --balance too, or stop them first');
    END IF;
    IF v_msg IS NOT NULL THEN
        ROLLBACK;
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_msg;
    END IF;
    IF p_mode = 'balanced' THEN
        INSERT INTO lease_members (lease_name, owner, joined_at, renewed_at, expires_at)
        VALUES (p_group, p_owner, v_now, v_now, v_now + INTERVAL p_ttl_ms * 1000 MICROSECOND)
        ON DUPLICATE KEY UPDATE renewed_at = v_now, expires_at = v_now + INTERVAL p_ttl_ms * 1000 MICROSECOND;
        SET v_members = v_members + 1;
        IF v_forgotten IS NOT NULL THEN
            UPDATE leases SET forgotten_at = NULL WHERE name = p_group; -- listed again
        END IF;
    END IF;
    COMMIT;
    -- Rows of runners gone for a day, when there are any: looked for
    -- without a lock first, so that joins do not lock each other's rows.
    IF p_mode = 'balanced' AND EXISTS (SELECT 1 FROM lease_members
                                        WHERE lease_name = p_group AND expires_at < v_now - INTERVAL 1 DAY) THEN
        DELETE FROM lease_members WHERE lease_name = p_group AND expires_at < v_now - INTERVAL 1 DAY;
    END IF;
    SELECT v_members AS members,
           TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', v_now) DIV 1000 AS now_ms;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS join_group;
