-- Installs the finish_run procedure. Generated from procedures/finish_run.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS finish_run;

-- +goose StatementBegin
-- finish_run: record how a claimed run ended. Only the owner that claimed the
-- run can finish it, and only once; it may overwrite 'abandoned' (a new holder
-- gave up on it) with what really happened. It is not fenced by the lease: a
-- holder that lost its lease still reports what its run did.
--
-- Result, one row: recorded (0/1).
-- With owner_binding on, p_owner must be bound to the calling database user
-- (check_owner), or the call fails with 45000.
CREATE PROCEDURE finish_run(
    IN p_run_id  BIGINT UNSIGNED,
    IN p_owner   LONGBLOB,
    IN p_outcome VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_message LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_output  LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Record the outcome of a run. Result: recorded'
BEGIN
    DECLARE v_now DATETIME(6);

    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    IF p_run_id IS NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_run_id must not be NULL';
    END IF;
    IF p_outcome IS NULL OR p_outcome NOT IN ('succeeded', 'failed', 'timed_out', 'lost', 'cancelled') THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_outcome must be succeeded, failed, timed_out, lost or cancelled';
    END IF;
    SET timestamp = DEFAULT;
    SET v_now = UTC_TIMESTAMP(6);
    UPDATE runs
       SET outcome = p_outcome, finished_at = v_now, message = LEFT(p_message, 1024), output = RIGHT(p_output, 8192)
     WHERE id = p_run_id AND owner = p_owner AND outcome IN ('running', 'abandoned');
    SELECT ROW_COUNT() = 1 AS recorded;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS finish_run;
