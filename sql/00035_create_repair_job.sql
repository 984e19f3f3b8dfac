-- Installs the repair_job procedure. Generated from procedures/repair_job.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS repair_job;

-- +goose StatementBegin
-- repair_job: an operator mends a job's schedule state that a fire claimed
-- far in the future left behind (claim_fire refuses such fires now; an older
-- version did not): it deletes the job's history rows more than a minute
-- after the database clock, and moves last_fire back to the latest fire
-- recorded up to then, or to now when there is none. A job whose last_fire
-- is sound is left alone. The holder reads last_fire when its term starts:
-- revoke_lease starts a new term.
--
-- Result, one row: known (0/1: the job exists), repaired (0/1),
-- last_fire_ms (before), repaired_ms (after; NULL when not repaired),
-- removed (history rows deleted).
CREATE PROCEDURE repair_job(IN p_lock LONGBLOB, IN p_job LONGBLOB)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Mend a job''s schedule after a future fire. Result: known, repaired, last_fire_ms, repaired_ms, removed'
BEGIN
    DECLARE v_now     DATETIME(6);
    DECLARE v_limit   DATETIME(6);
    DECLARE v_found   BOOLEAN DEFAULT TRUE;
    DECLARE v_last    DATETIME(6);
    DECLARE v_new     DATETIME(6);
    DECLARE v_removed BIGINT DEFAULT 0;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_job', p_job, 191);
    SET timestamp = DEFAULT;
    SET v_now = UTC_TIMESTAMP(6);
    SET v_limit = v_now + INTERVAL 1 MINUTE;

    START TRANSACTION;
    SELECT last_fire INTO v_last FROM jobs WHERE lease_name = p_lock AND name = p_job FOR UPDATE;
    IF v_found AND v_last > v_limit THEN
        DELETE FROM runs WHERE lease_name = p_lock AND job = p_job AND fire_time > v_limit;
        SET v_removed = ROW_COUNT();
        SELECT COALESCE(MAX(fire_time), v_now) INTO v_new FROM runs WHERE lease_name = p_lock AND job = p_job;
        UPDATE jobs SET last_fire = v_new, next_fire = NULL WHERE lease_name = p_lock AND name = p_job;
    END IF;
    COMMIT;

    SELECT v_found AS known,
           v_new IS NOT NULL AS repaired,
           TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', v_last) DIV 1000 AS last_fire_ms,
           TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', v_new) DIV 1000 AS repaired_ms,
           v_removed AS removed;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS repair_job;
