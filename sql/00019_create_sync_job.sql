-- Installs the sync_job procedure. Generated from procedures/sync_job.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS sync_job;

-- +goose StatementBegin
-- sync_job: the holder registers one of its jobs at the start of a term, and
-- learns where the job's history stands.
--
-- Result, one row: paused (0/1), last_fire_ms (the latest fire already
-- handled, ms since the Unix epoch; NULL for a job never fired), now_ms, and
-- registered_ms: when a holder registered the job before this call (NULL the
-- first time). The fires owed are those up to now after last_fire, or for a
-- job never fired after registered_ms: a job whose first fire came due while
-- no runner held the lease is caught up by its missed-fire policy like any
-- other.
-- Fails with 45000 'lease lost' unless the caller holds the lease with p_token.
-- In balanced mode p_lock is the job's own lease and p_job must be its job.
CREATE PROCEDURE sync_job(
    IN p_lock     LONGBLOB,
    IN p_owner    LONGBLOB,
    IN p_token    BIGINT UNSIGNED,
    IN p_job      LONGBLOB,
    IN p_schedule LONGBLOB
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Register a job for a term. Result: paused, last_fire_ms, now_ms, registered_ms'
BEGIN
    DECLARE v_now    DATETIME(6);
    DECLARE v_before DATETIME(6);
    DECLARE v_group  VARBINARY(764);
    DECLARE v_of     VARBINARY(764);
    DECLARE v_job    VARBINARY(764);

    SET timestamp = DEFAULT;
    CALL check_holder(p_lock, p_owner, p_token);
    CALL check_text_arg('p_job', p_job, 191);
    CALL check_text_arg('p_schedule', p_schedule, 255);
    SET v_now = UTC_TIMESTAMP(6);
    SELECT group_name, job INTO v_of, v_job FROM leases WHERE name = p_lock;
    SET v_group = COALESCE(v_of, p_lock);
    IF v_job IS NOT NULL AND v_job <> p_job THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_job is not the job whose own lease p_lock is';
    END IF;
    INSERT INTO jobs (lease_name, name) VALUES (v_group, p_job) ON DUPLICATE KEY UPDATE name = name;
    SELECT synced_at INTO v_before FROM jobs WHERE lease_name = v_group AND name = p_job FOR UPDATE;
    UPDATE jobs SET schedule = CONVERT(p_schedule USING utf8mb4), synced_at = v_now
     WHERE lease_name = v_group AND name = p_job;
    SELECT paused_at IS NOT NULL AS paused,
           TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', last_fire) DIV 1000 AS last_fire_ms,
           TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', v_now) DIV 1000 AS now_ms,
           TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', v_before) DIV 1000 AS registered_ms
      FROM jobs WHERE lease_name = v_group AND name = p_job;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS sync_job;
