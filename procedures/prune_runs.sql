-- prune_runs: the holder deletes its group's history older than p_keep_ms:
-- finished runs by scheduled time, and ended terms. At most 10,000 rows of
-- each per call, so that one call stays short; call again while it deletes.
-- It never deletes history younger than the DBA's floor, the setting
-- min_retention_ms of soloist_settings (7 days unless the DBA changed it;
-- only the migrator role can): a shorter p_keep_ms keeps the floor instead,
-- so an account that can take a group's lease cannot erase who led and what
-- ran.
-- Each DELETE orders by a unique key before its LIMIT, so that a replica
-- applying the statement (statement-based binary log) deletes the same rows.
--
-- Result, one row: deleted (rows of runs and lease_terms together).
CREATE PROCEDURE prune_runs(
    IN p_lock    LONGBLOB,
    IN p_owner   LONGBLOB,
    IN p_token   BIGINT UNSIGNED,
    IN p_keep_ms BIGINT
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Delete history older than p_keep_ms. Result: deleted'
BEGIN
    DECLARE v_cutoff  DATETIME(6);
    DECLARE v_deleted BIGINT DEFAULT 0;
    DECLARE v_floor   BIGINT;
    DECLARE v_group   VARBINARY(764);
    DECLARE v_of      VARBINARY(764);
    DECLARE v_job     VARBINARY(764);

    SET timestamp = DEFAULT;
    CALL check_holder(p_lock, p_owner, p_token);
    IF p_keep_ms IS NULL OR p_keep_ms < 60000 OR p_keep_ms > 3153600000000 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_keep_ms must be 60000 (a minute) to 3153600000000 (100 years)';
    END IF;
    SELECT group_name, job INTO v_of, v_job FROM leases WHERE name = p_lock;
    SET v_group = COALESCE(v_of, p_lock);
    SELECT MAX(value) INTO v_floor FROM soloist_settings WHERE name = 'min_retention_ms';
    SET v_cutoff = UTC_TIMESTAMP(6)
                 - INTERVAL GREATEST(p_keep_ms, COALESCE(v_floor, 604800000)) * 1000 MICROSECOND;
    -- A job's own lease prunes along the (group, job, fire_time) key, so
    -- that it locks no other job's rows.
    IF v_job IS NULL THEN
        DELETE FROM runs WHERE lease_name = v_group AND fire_time < v_cutoff AND outcome <> 'running'
         ORDER BY fire_time, id LIMIT 10000;
    ELSE
        DELETE FROM runs WHERE lease_name = v_group AND job = v_job AND fire_time < v_cutoff AND outcome <> 'running'
         ORDER BY fire_time, id LIMIT 10000;
    END IF;
    SET v_deleted = ROW_COUNT();
    DELETE FROM lease_terms WHERE name = p_lock AND ended_at < v_cutoff ORDER BY token LIMIT 10000;
    SET v_deleted = v_deleted + ROW_COUNT();
    SELECT v_deleted AS deleted;
END
