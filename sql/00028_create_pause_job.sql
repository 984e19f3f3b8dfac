-- Installs the pause_job procedure. Generated from procedures/pause_job.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS pause_job;

-- +goose StatementBegin
-- pause_job: an operator pauses a job: no runner fires it until resume_job.
-- Fires that pass while it is paused are neither run nor caught up later.
-- A job no runner has registered yet can be paused ahead of its deploy.
--
-- Result, one row: paused (1), known (0 if no runner had registered the job).
CREATE PROCEDURE pause_job(IN p_lock LONGBLOB, IN p_job LONGBLOB)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Pause a job. Result: paused, known'
BEGIN
    DECLARE v_known BOOLEAN;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_job', p_job, 191);
    SET timestamp = DEFAULT;
    SET v_known = EXISTS (SELECT 1 FROM jobs WHERE lease_name = p_lock AND name = p_job AND synced_at IS NOT NULL);
    INSERT INTO jobs (lease_name, name) VALUES (p_lock, p_job) ON DUPLICATE KEY UPDATE name = name;
    UPDATE jobs SET paused_at = COALESCE(paused_at, UTC_TIMESTAMP(6)) WHERE lease_name = p_lock AND name = p_job;
    SELECT 1 AS paused, v_known AS known;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS pause_job;
