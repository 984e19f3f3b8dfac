-- Installs the check_owner procedure. Generated from procedures/check_owner.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS check_owner;

-- +goose StatementBegin
-- check_owner: signal SQLSTATE '45000' 'owner not bound: ...' unless the
-- calling database user may act as p_owner. With owner_binding = 1 in
-- soloist_settings (the DBA's; 0 by default), an owner must be the user's
-- name, USER() before the @, or begin with it and '/': one server's account
-- then cannot take, renew, release or claim in another server's name. With
-- 0, any owner passes. The procedures that act for an owner call it.
CREATE PROCEDURE check_owner(IN p_owner LONGBLOB)
    READS SQL DATA
    SQL SECURITY INVOKER
    COMMENT 'Signals 45000 owner not bound unless binding is off or p_owner begins with the user''s name'
BEGIN
    DECLARE v_binding BIGINT;
    DECLARE v_user    VARBINARY(1020);

    SELECT MAX(value) INTO v_binding FROM soloist_settings WHERE name = 'owner_binding';
    IF v_binding <> 0 THEN
        SET v_user = CAST(SUBSTRING_INDEX(USER(), '@', 1) AS BINARY);
        IF p_owner IS NULL OR NOT (p_owner = v_user OR LEFT(p_owner, LENGTH(v_user) + 1) = CONCAT(v_user, '/')) THEN
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
                'owner not bound: with owner_binding on, an owner must be the database user''s name or begin with it and /';
        END IF;
    END IF;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS check_owner;
