-- Installs the acquire_job procedure. Generated from procedures/acquire_job.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS acquire_job;

-- +goose StatementBegin
-- acquire_job: a balanced runner takes the lease of one job of its group:
-- the job's own lease, named '<group>/<job>' (at most 191 characters), with
-- its own fencing tokens. The lease row is created on first use with its
-- group and job recorded; the taking itself is acquire_lease's: a live
-- lease of another owner is not taken, a free or expired one gives a new
-- term with token + 1, the caller's own live lease is renewed, and an
-- allow-list on the job's lease (soloist allow) is honoured.
--
-- Result, one row: acquired (0/1), token, holder, expires_in_ms, as
-- try_acquire answers. Fails with 45000 when the group's own lease is held
-- (the group runs in leader mode), or when the name '<group>/<job>' is
-- another lock already.
-- With owner_binding on, p_owner must be bound to the calling database user
-- (check_owner), or the call fails with 45000.
CREATE PROCEDURE acquire_job(
    IN p_group  LONGBLOB,
    IN p_owner  LONGBLOB,
    IN p_job    LONGBLOB,
    IN p_ttl_ms BIGINT
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Take a job''s own lease in balanced mode. Result: acquired, token, holder, expires_in_ms'
BEGIN
    DECLARE v_lease   VARBINARY(764);
    DECLARE v_holder  VARBINARY(1020);
    DECLARE v_until   DATETIME(6);
    DECLARE v_of      VARBINARY(764);
    DECLARE v_job     VARBINARY(764);

    CALL check_text_arg('p_group', p_group, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    CALL check_text_arg('p_job', p_job, 191);
    IF p_ttl_ms IS NULL OR p_ttl_ms < 1 OR p_ttl_ms > 86400000 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_ttl_ms must be 1 to 86400000 milliseconds';
    END IF;
    IF CHAR_LENGTH(CONVERT(p_group USING utf8mb4)) + CHAR_LENGTH(CONVERT(p_job USING utf8mb4)) > 190 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
            'group and job name together must be at most 190 characters in balanced mode: the job''s lease is named group/job';
    END IF;
    SET timestamp = DEFAULT;

    SELECT MAX(holder), MAX(expires_at) INTO v_holder, v_until FROM leases WHERE name = p_group;
    IF v_holder IS NOT NULL AND v_until > UTC_TIMESTAMP(6) THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'group runs in leader mode now: its own lease is held';
    END IF;

    SET v_lease = CONCAT(p_group, '/', p_job);
    INSERT INTO leases (name, group_name, job) VALUES (v_lease, p_group, p_job)
    ON DUPLICATE KEY UPDATE name = name;
    INSERT INTO lease_fences (name) VALUES (v_lease) ON DUPLICATE KEY UPDATE name = name;
    SELECT group_name, job INTO v_of, v_job FROM leases WHERE name = v_lease;
    IF v_of IS NULL OR v_of <> p_group OR v_job <> p_job THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
            'the lock name group/job of this job is already another lock; rename the job or the group';
    END IF;
    CALL acquire_lease(v_lease, p_owner, p_ttl_ms);
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS acquire_job;
