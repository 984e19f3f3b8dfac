-- Installs the check_holder procedure. Generated from procedures/check_holder.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS check_holder;

-- +goose StatementBegin
-- check_holder: signal SQLSTATE '45000' 'lease lost: ...' unless p_owner holds
-- the live, unrevoked lease on p_lock with exactly p_token. The runner's
-- procedures that write on a holder's behalf start with it.
-- With owner_binding on, p_owner must also be bound to the calling database
-- user (check_owner).
CREATE PROCEDURE check_holder(
    IN p_lock  LONGBLOB,
    IN p_owner LONGBLOB,
    IN p_token BIGINT UNSIGNED
)
    READS SQL DATA
    SQL SECURITY INVOKER
    COMMENT 'Signals 45000 lease lost unless p_owner holds the live lease with p_token'
BEGIN
    DECLARE v_found   BOOLEAN DEFAULT TRUE;
    DECLARE v_holder  VARBINARY(1020);
    DECLARE v_token   BIGINT UNSIGNED;
    DECLARE v_expires DATETIME(6);
    DECLARE v_revoked DATETIME(6);
    DECLARE v_msg     VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    IF p_token IS NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_token must not be NULL';
    END IF;

    SELECT holder, token, expires_at, revoked_at INTO v_holder, v_token, v_expires, v_revoked
      FROM leases WHERE name = p_lock;
    IF NOT v_found OR v_token <> p_token THEN
        SET v_msg = CONCAT('lease lost: token ', p_token, ' is not the current token');
    ELSEIF v_holder IS NULL OR v_holder <> p_owner THEN
        SET v_msg = CONCAT('lease lost: token ', p_token, ' is not held by this owner');
    ELSEIF v_expires <= UTC_TIMESTAMP(6) THEN
        SET v_msg = CONCAT('lease lost: token ', p_token, ' expired');
    ELSEIF v_revoked IS NOT NULL THEN
        SET v_msg = CONCAT('lease lost: token ', p_token, ' was revoked by an operator');
    END IF;
    IF v_msg IS NOT NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_msg;
    END IF;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS check_holder;
