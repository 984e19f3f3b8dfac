-- Installs the release_lease procedure. Generated from procedures/release_lease.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS release_lease;

-- +goose StatementBegin
-- release_lease: give the lease up so that anyone's next try_acquire takes it
-- at once, with token + 1.
--
-- Result, one row: released (0/1). Only the holder with its token can release;
-- a lease that expired but was not taken over can still be released by it.
-- The holder's connection also lets go of the lock's wake-up lock, so that
-- followers waiting in await_lease try at once instead of at their next poll.
-- With owner_binding on, p_owner must be bound to the calling database user
-- (check_owner), or the call fails with 45000.
CREATE PROCEDURE release_lease(
    IN p_lock  LONGBLOB,
    IN p_owner LONGBLOB,
    IN p_token BIGINT UNSIGNED
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Release a held lease. Result: released'
BEGIN
    DECLARE v_now      DATETIME(6);
    DECLARE v_released BOOLEAN DEFAULT FALSE;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    IF p_token IS NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_token must not be NULL';
    END IF;
    SET timestamp = DEFAULT;
    SET v_now = UTC_TIMESTAMP(6);

    START TRANSACTION;
    UPDATE leases
       SET holder = NULL, expires_at = v_now, released_at = v_now, revoked_at = NULL
     WHERE name = p_lock AND holder = p_owner AND token = p_token;
    SET v_released = ROW_COUNT() = 1;
    IF v_released THEN
        UPDATE lease_terms SET ended_at = v_now, end_reason = 'released'
         WHERE name = p_lock AND token = p_token;
    END IF;
    COMMIT;

    -- Wake-up locks are a speed-up only: where user locks are unavailable
    -- (Galera), followers fall back to polling.
    BEGIN
        DECLARE v_wake VARCHAR(64);
        DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
        SET v_wake = CONCAT('soloist/', MD5(CONCAT(DATABASE(), '/', p_lock)));
        IF IS_USED_LOCK(v_wake) = CONNECTION_ID() THEN
            DO RELEASE_LOCK(v_wake);
        END IF;
    END;

    SELECT v_released AS released;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS release_lease;
