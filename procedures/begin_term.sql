-- begin_term: what a new holder does first. Every run of the group still
-- marked running under another token belonged to a holder that lost its
-- lease before reporting an outcome: mark it abandoned. For a job's own
-- lease (balanced mode) that is every run of the job but the caller's; for
-- a group's lease every run of the group, those of a balanced time before
-- included.
--
-- Result, one row: abandoned (how many runs were marked), now_ms (the
-- database clock, ms since the Unix epoch). Fails with 45000 'lease lost' if
-- the caller does not hold the lease with p_token.
CREATE PROCEDURE begin_term(
    IN p_lock  LONGBLOB,
    IN p_owner LONGBLOB,
    IN p_token BIGINT UNSIGNED
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Start a term: mark older unfinished runs abandoned. Result: abandoned, now_ms'
BEGIN
    DECLARE v_now       DATETIME(6);
    DECLARE v_abandoned BIGINT DEFAULT 0;
    DECLARE v_group     VARBINARY(764);
    DECLARE v_of        VARBINARY(764);
    DECLARE v_job       VARBINARY(764);

    SET timestamp = DEFAULT;
    CALL check_holder(p_lock, p_owner, p_token);
    SET v_now = UTC_TIMESTAMP(6);
    SELECT group_name, job INTO v_of, v_job FROM leases WHERE name = p_lock;
    SET v_group = COALESCE(v_of, p_lock);
    -- Two statements, so that each reads only its own range of the
    -- (lease_name, outcome, job) index: a job's term locks no other job's
    -- runs, which other runners are claiming and finishing meanwhile.
    IF v_job IS NULL THEN
        UPDATE runs
           SET outcome = 'abandoned', finished_at = v_now,
               message = CONCAT('abandoned: its holder lost the lease before reporting an outcome; token ',
                                p_token, ' took over')
         WHERE lease_name = v_group AND outcome = 'running'
           AND NOT (owner = p_owner AND token = p_token);
    ELSE
        UPDATE runs
           SET outcome = 'abandoned', finished_at = v_now,
               message = CONCAT('abandoned: its owner lost the job''s lease before reporting an outcome; token ',
                                p_token, ' took over')
         WHERE lease_name = v_group AND outcome = 'running' AND job = v_job
           AND NOT (owner = p_owner AND token = p_token);
    END IF;
    SET v_abandoned = ROW_COUNT();
    SELECT v_abandoned AS abandoned,
           TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', v_now) DIV 1000 AS now_ms;
END
