-- declare_jobs: a balanced runner declares its group's jobs when it starts
-- and when its crontab changes: each job's schedule, weight and hosts, so
-- that reports can show a job that no live runner may own. p_jobs is a JSON
-- array of objects {"name", "schedule", "weight", "hosts"} (hosts: a
-- comma-separated list, or "" for any runner), read entry by entry with
-- JSON_EXTRACT (MySQL 5.7+, MariaDB 10.2+), in one transaction. Jobs are
-- created or updated, never deleted: a job removed from every crontab is
-- forgotten by `soloist forget`. A job's schedule is kept if a holder
-- registered it already (sync_job).
--
-- Result, one row: declared (jobs in p_jobs).
-- Fails with 45000 unless p_owner is a live member of p_group (join_group),
-- or when an entry is not a valid job.
CREATE PROCEDURE declare_jobs(
    IN p_group LONGBLOB,
    IN p_owner LONGBLOB,
    IN p_jobs  LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Declare a balanced group''s jobs with their weight and hosts. Result: declared'
BEGIN
    DECLARE v_count    BIGINT;
    DECLARE v_i        BIGINT DEFAULT 0;
    DECLARE v_name     LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE v_schedule LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE v_hosts    LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE v_weight   LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

    CALL check_text_arg('p_group', p_group, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    -- Two IFs: SQL does not promise to stop at the first true OR, and
    -- MySQL's JSON_TYPE fails (3141) on text that is not JSON.
    IF p_jobs IS NULL OR JSON_VALID(p_jobs) = 0 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_jobs must be a JSON array';
    END IF;
    IF JSON_TYPE(p_jobs) <> 'ARRAY' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_jobs must be a JSON array';
    END IF;
    SET timestamp = DEFAULT;
    IF NOT EXISTS (SELECT 1 FROM lease_members
                    WHERE lease_name = p_group AND owner = p_owner AND expires_at > UTC_TIMESTAMP(6)) THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_owner is not a live member of p_group: call join_group first';
    END IF;

    -- Check every entry before writing any.
    SET v_count = JSON_LENGTH(p_jobs);
    WHILE v_i < v_count DO
        SET v_name = JSON_UNQUOTE(JSON_EXTRACT(p_jobs, CONCAT('$[', v_i, '].name')));
        SET v_schedule = JSON_UNQUOTE(JSON_EXTRACT(p_jobs, CONCAT('$[', v_i, '].schedule')));
        SET v_hosts = JSON_UNQUOTE(JSON_EXTRACT(p_jobs, CONCAT('$[', v_i, '].hosts')));
        SET v_weight = JSON_UNQUOTE(JSON_EXTRACT(p_jobs, CONCAT('$[', v_i, '].weight')));
        CALL check_text_arg('p_jobs name', v_name, 191);
        IF v_schedule IS NOT NULL THEN
            CALL check_text_arg('p_jobs schedule', v_schedule, 255);
        END IF;
        IF CHAR_LENGTH(v_hosts) > 1024 THEN
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_jobs: hosts must be at most 1024 characters';
        END IF;
        IF v_hosts <> '' THEN
            CALL check_text_arg('p_jobs hosts', v_hosts, 1024);
        END IF;
        IF v_weight IS NULL OR NOT (v_weight REGEXP '^[0-9]{1,4}$') OR CAST(v_weight AS UNSIGNED) NOT BETWEEN 1 AND 1000 THEN
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_jobs: weight must be a whole number from 1 to 1000';
        END IF;
        SET v_i = v_i + 1;
    END WHILE;

    START TRANSACTION;
    SET v_i = 0;
    WHILE v_i < v_count DO
        SET v_name = JSON_UNQUOTE(JSON_EXTRACT(p_jobs, CONCAT('$[', v_i, '].name')));
        SET v_schedule = JSON_UNQUOTE(JSON_EXTRACT(p_jobs, CONCAT('$[', v_i, '].schedule')));
        SET v_hosts = JSON_UNQUOTE(JSON_EXTRACT(p_jobs, CONCAT('$[', v_i, '].hosts')));
        SET v_weight = JSON_UNQUOTE(JSON_EXTRACT(p_jobs, CONCAT('$[', v_i, '].weight')));
        INSERT INTO jobs (lease_name, name, schedule, weight, hosts)
        VALUES (p_group, CAST(v_name AS BINARY), v_schedule, CAST(v_weight AS UNSIGNED), NULLIF(v_hosts, ''))
        ON DUPLICATE KEY UPDATE schedule = COALESCE(schedule, v_schedule),
                                weight = CAST(v_weight AS UNSIGNED), hosts = NULLIF(v_hosts, '');
        SET v_i = v_i + 1;
    END WHILE;
    COMMIT;
    SELECT v_count AS declared;
END
