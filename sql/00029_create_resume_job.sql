-- Installs the resume_job procedure. Generated from procedures/resume_job.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS resume_job;

-- +goose StatementBegin
-- resume_job: an operator resumes a paused job. Its next fire after now is
-- its first; the fires that passed while it was paused are not caught up.
--
-- Result, one row: paused (0), known (0 if no such job is recorded).
CREATE PROCEDURE resume_job(IN p_lock LONGBLOB, IN p_job LONGBLOB)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Resume a paused job. Result: paused, known'
BEGIN
    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_job', p_job, 191);
    SET timestamp = DEFAULT;
    UPDATE jobs SET paused_at = NULL WHERE lease_name = p_lock AND name = p_job;
    SELECT 0 AS paused, EXISTS (SELECT 1 FROM jobs WHERE lease_name = p_lock AND name = p_job) AS known;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS resume_job;
