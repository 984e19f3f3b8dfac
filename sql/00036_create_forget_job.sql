-- Installs the forget_job procedure. Generated from procedures/forget_job.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS forget_job;

-- +goose StatementBegin
-- forget_job: an operator removes a job that no runner of p_lock runs any
-- more, so that reports stop listing it. Its row goes, with its schedule
-- and pause state; its run history stays until prune_runs removes it in
-- time. A runner that still has the job brings it back, unpaused, at its
-- next fire or term: forget a job after removing it from the crontab.
--   * the job has a run in progress -> refused with SQLSTATE 45000: wait for
--                                      the run to end, or stop its runner
--   * a live runner owns the job's own lease (balanced mode) -> refused
--   * otherwise                     -> the job's row is deleted
--
-- Result, one row: forgotten (1 if the job's row was deleted, 0 if the group
-- had no such job).
CREATE PROCEDURE forget_job(IN p_lock LONGBLOB, IN p_job LONGBLOB)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Remove a job of a group; its runs stay. Result: forgotten'
BEGIN
    DECLARE v_forgotten BIGINT DEFAULT 0;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_job', p_job, 191);
    SET timestamp = DEFAULT;

    START TRANSACTION;
    -- Locks the job's row before the check, so that no fire of the job is
    -- claimed between the check and the delete.
    SELECT COUNT(*) INTO v_forgotten FROM jobs WHERE lease_name = p_lock AND name = p_job FOR UPDATE;
    IF EXISTS (SELECT 1 FROM runs WHERE lease_name = p_lock AND job = p_job AND outcome = 'running') THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'the job has a run in progress: wait for it to end, or stop its runner, then forget it';
    END IF;
    IF EXISTS (SELECT 1 FROM leases WHERE group_name = p_lock AND job = p_job
                                      AND holder IS NOT NULL AND expires_at > UTC_TIMESTAMP(6)) THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'a live runner owns the job in balanced mode: remove it from the crontab first, then forget it';
    END IF;
    DELETE FROM jobs WHERE lease_name = p_lock AND name = p_job;
    SET v_forgotten = ROW_COUNT();
    COMMIT;

    SELECT v_forgotten > 0 AS forgotten;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS forget_job;
