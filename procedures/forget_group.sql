-- forget_group: an operator removes a group (a lock) that no runner uses any
-- more, so that reports stop listing it. Its jobs and its allow-list go; its
-- run history stays: only a holder of the group prunes it, so it stays
-- until a runner leads the group again or a DBA deletes it. The lock's row
-- in leases is kept, marked forgotten, so that its tokens are never reused:
-- a runner that starts on the group again takes the lease with token + 1,
-- and the group is listed again. A group in balanced mode keeps its jobs'
-- own leases the same way, and loses its member rows.
--   * a live lease (a holder whose lease has not expired) -> refused with
--     SQLSTATE 45000: stop the group's runners, or end a dead holder's lease
--     with `soloist release --group --force`, first
--   * otherwise -> the group's jobs and allow-list rows are deleted and its
--     lease row is marked forgotten
--
-- Result, one row: forgotten (1 if the group had a lease, jobs or an
-- allow-list; 0 if nothing was left of it), jobs (job rows deleted), hosts
-- (allow-list rows deleted).
CREATE PROCEDURE forget_group(IN p_lock LONGBLOB)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Remove a group whose lease is not live; tokens are kept. Result: forgotten, jobs, hosts'
BEGIN
    DECLARE v_now    DATETIME(6);
    DECLARE v_holder VARBINARY(1020);
    DECLARE v_expires DATETIME(6);
    DECLARE v_leases BIGINT DEFAULT 0;
    DECLARE v_jobs   BIGINT DEFAULT 0;
    DECLARE v_hosts  BIGINT DEFAULT 0;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    CALL check_text_arg('p_lock', p_lock, 191);
    SET timestamp = DEFAULT;

    START TRANSACTION;
    -- Locks the lease row, as a takeover does, so that no runner takes the
    -- lease while the group is being forgotten.
    SELECT MAX(holder), MAX(expires_at) INTO v_holder, v_expires
      FROM leases WHERE name = p_lock FOR UPDATE;
    SET v_now = UTC_TIMESTAMP(6);
    IF v_holder IS NOT NULL AND v_expires > v_now THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'the group has a live lease: stop its runners, or end a dead holder''s lease with soloist release --group --force, then forget it';
    END IF;
    IF EXISTS (SELECT 1 FROM lease_members WHERE lease_name = p_lock AND expires_at > v_now)
       OR EXISTS (SELECT 1 FROM leases WHERE group_name = p_lock AND holder IS NOT NULL AND expires_at > v_now) THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'the group has live runners in balanced mode: stop them, then forget it';
    END IF;
    DELETE FROM lease_members WHERE lease_name = p_lock;
    UPDATE leases SET forgotten_at = v_now WHERE group_name = p_lock AND forgotten_at IS NULL;
    DELETE FROM jobs WHERE lease_name = p_lock;
    SET v_jobs = ROW_COUNT();
    DELETE FROM lease_hosts WHERE lease_name = p_lock;
    SET v_hosts = ROW_COUNT();
    UPDATE leases SET forgotten_at = v_now WHERE name = p_lock AND forgotten_at IS NULL;
    SET v_leases = ROW_COUNT();
    COMMIT;

    SELECT v_leases + v_jobs + v_hosts > 0 AS forgotten, v_jobs AS jobs, v_hosts AS hosts;
END
