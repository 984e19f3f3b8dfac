-- Installs the term_report procedure. Generated from procedures/term_report.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS term_report;

-- +goose StatementBegin
-- term_report: the leader history: one row per term that began at or after
-- p_since_ms (milliseconds since 1970-01-01 00:00:00 UTC), of every group, or
-- of p_lock's when it is not NULL, by group and token, oldest first. A term
-- that still lasts has ended_at and end_reason NULL. For the dashboard's
-- timeline, so that a user with nothing but EXECUTE can see who led when.
-- In balanced mode the terms of the jobs' own leases are the group's too,
-- with job set: each is a job moving to a runner; job is NULL for the
-- group's own lease.
CREATE PROCEDURE term_report(
    IN p_lock     LONGBLOB,
    IN p_since_ms BIGINT
)
    READS SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'One row per term begun since p_since_ms: group, token, holder, acquired, ended, why'
BEGIN
    IF p_lock IS NOT NULL THEN
        CALL check_text_arg('p_lock', p_lock, 191);
    END IF;
    IF p_since_ms IS NULL OR p_since_ms < 0 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_since_ms must not be NULL or negative: ms since the Unix epoch';
    END IF;
    SELECT CONVERT(COALESCE(l.group_name, t.name) USING utf8mb4) AS group_name, t.token,
           CONVERT(t.holder USING utf8mb4) AS holder,
           t.acquired_at, t.ended_at, t.end_reason,
           CONVERT(l.job USING utf8mb4) AS job
      FROM lease_terms AS t
      LEFT JOIN leases AS l ON l.name = t.name
     WHERE t.acquired_at >= TIMESTAMP('1970-01-01 00:00:00') + INTERVAL p_since_ms * 1000 MICROSECOND
       AND (p_lock IS NULL OR t.name = p_lock OR l.group_name = p_lock)
     ORDER BY COALESCE(l.group_name, t.name), l.job, t.token;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS term_report;
