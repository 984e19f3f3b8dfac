-- Installs the run_report procedure. Generated from procedures/run_report.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS run_report;

-- +goose StatementBegin
-- run_report: the run history, newest fire first: at most p_limit rows (1 to
-- 10,000), of p_lock's group and p_job when they are not NULL, and only missed
-- or abandoned fires when p_problems is 1.
CREATE PROCEDURE run_report(
    IN p_lock     LONGBLOB,
    IN p_job      LONGBLOB,
    IN p_problems BOOLEAN,
    IN p_limit    BIGINT
)
    READS SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Run history, newest first'
BEGIN
    IF p_lock IS NOT NULL THEN
        CALL check_text_arg('p_lock', p_lock, 191);
    END IF;
    IF p_job IS NOT NULL THEN
        CALL check_text_arg('p_job', p_job, 191);
    END IF;
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_limit must be 1 to 10000';
    END IF;
    SELECT r.id, CONVERT(r.lease_name USING utf8mb4) AS group_name, CONVERT(r.job USING utf8mb4) AS job,
           r.fire_time, r.outcome, CONVERT(r.owner USING utf8mb4) AS owner, r.token,
           r.started_at, r.finished_at,
           TIMESTAMPDIFF(MICROSECOND, r.started_at, r.finished_at) DIV 1000 AS duration_ms,
           r.message, r.output
      FROM runs AS r
     WHERE (p_lock IS NULL OR r.lease_name = p_lock)
       AND (p_job IS NULL OR r.job = p_job)
       AND (NOT COALESCE(p_problems, FALSE) OR r.outcome IN ('missed', 'abandoned'))
     ORDER BY r.fire_time DESC, r.id DESC
     LIMIT p_limit;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS run_report;
