-- Installs the claim_fire procedure. Generated from procedures/claim_fire.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS claim_fire;

-- +goose StatementBegin
-- claim_fire: claim one fire of a job for the holder, so that it runs exactly
-- once however leaders change. A fire is keyed by (group, job, scheduled
-- time); only one claim of it can ever insert its row in runs.
--
-- p_outcome 'running' claims the fire to run it now; 'missed' records a fire
-- that the job's missed-fire policy will not run, with p_message saying why.
-- p_next_ms is the job's next fire time after this one, for status displays.
-- Times are ms since the Unix epoch, UTC.
--
-- Result, one row: claimed (0/1), run_id, reason, now_ms, where reason is
--   claimed    the fire is the caller's to run (run_id)
--   recorded   the missed fire is recorded (run_id)
--   taken      the fire was already claimed or recorded: do not run it
--   paused     the job is paused: the fire is passed over, not recorded
--   early      the fire's time has not come by the database clock
-- A fire more than a minute after the database clock is refused with 45000
-- (for 'running' as for 'missed'), so that last_fire never moves more than a
-- minute past the database clock: a holder that claims a fire far in the
-- future cannot stop the job's later fires (soloist repair mends a schedule
-- that an older version let move).
--   lease_lost the caller does not hold the live lease with p_token
--   busy       a lock wait or deadlock: try again
-- The claim writes the lock's fence row, so it is ordered with takeovers on
-- one server (row lock) and on Galera (certification).
-- In balanced mode p_lock is the job's own lease ('<group>/<job>', see
-- acquire_job) and p_job its job: the fire is recorded under the group, and
-- fenced by the job's lease. A p_job that is not the lease's job fails with
-- 45000.
-- With owner_binding on, p_owner must be bound to the calling database user
-- (check_owner), or the call fails with 45000.
CREATE PROCEDURE claim_fire(
    IN p_lock    LONGBLOB,
    IN p_owner   LONGBLOB,
    IN p_token   BIGINT UNSIGNED,
    IN p_job     LONGBLOB,
    IN p_fire_ms BIGINT,
    IN p_next_ms BIGINT,
    IN p_outcome VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_message LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Claim a fire exactly once. Result: claimed, run_id, reason, now_ms'
BEGIN
    DECLARE v_now     DATETIME(6);
    DECLARE v_fire    DATETIME(6);
    DECLARE v_next    DATETIME(6);
    DECLARE v_holder  VARBINARY(1020);
    DECLARE v_expires DATETIME(6);
    DECLARE v_revoked DATETIME(6);
    DECLARE v_paused  DATETIME(6);
    DECLARE v_dup     BOOLEAN DEFAULT FALSE;
    DECLARE v_claimed BOOLEAN DEFAULT FALSE;
    DECLARE v_run_id  BIGINT UNSIGNED;
    DECLARE v_reason  VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE v_group   VARBINARY(764);
    DECLARE v_of      VARBINARY(764);
    DECLARE v_job     VARBINARY(764);
    DECLARE CONTINUE HANDLER FOR 1062 SET v_dup = TRUE;
    DECLARE EXIT HANDLER FOR 1205, 1213
    BEGIN
        ROLLBACK;
        SELECT 0 AS claimed, NULL AS run_id, 'busy' AS reason,
               TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000 AS now_ms;
    END;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    CALL check_text_arg('p_job', p_job, 191);
    IF p_token IS NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_token must not be NULL';
    END IF;
    IF p_fire_ms IS NULL OR p_fire_ms < 0 OR p_fire_ms > 253402300799999 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_fire_ms must be ms since 1970 before year 10000';
    END IF;
    IF p_next_ms < 0 OR p_next_ms > 253402300799999 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_next_ms must be NULL or ms since 1970 before year 10000';
    END IF;
    IF p_outcome IS NULL OR p_outcome NOT IN ('running', 'missed') THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_outcome must be running or missed';
    END IF;
    SET timestamp = DEFAULT;
    SET v_now  = UTC_TIMESTAMP(6);
    SET v_fire = CAST('1970-01-01 00:00:00' AS DATETIME(6)) + INTERVAL p_fire_ms * 1000 MICROSECOND;
    IF v_fire > v_now + INTERVAL 1 MINUTE THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_fire_ms is more than a minute after the database clock';
    END IF;
    SET v_next = CAST('1970-01-01 00:00:00' AS DATETIME(6)) + INTERVAL p_next_ms * 1000 MICROSECOND;
    -- A job's own lease records its group and job when it is created, and
    -- they never change: read them before the transaction.
    SELECT MAX(group_name), MAX(job) INTO v_of, v_job FROM leases WHERE name = p_lock;
    SET v_group = COALESCE(v_of, p_lock);
    IF v_job IS NOT NULL AND v_job <> p_job THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_job is not the job whose own lease p_lock is';
    END IF;

    IF p_outcome = 'running' AND v_fire > v_now THEN
        SET v_reason = 'early';
    ELSE
        START TRANSACTION;
        -- Takes the fence row: no takeover can commit until this claim has.
        UPDATE lease_fences SET claims = claims + 1 WHERE name = p_lock AND token = p_token;
        IF ROW_COUNT() = 1 THEN
            SELECT holder, expires_at, revoked_at INTO v_holder, v_expires, v_revoked
              FROM leases WHERE name = p_lock;
        END IF;
        IF v_holder IS NULL OR v_holder <> p_owner OR v_expires <= UTC_TIMESTAMP(6) OR v_revoked IS NOT NULL THEN
            SET v_reason = 'lease_lost';
        ELSE
            INSERT INTO jobs (lease_name, name) VALUES (v_group, p_job) ON DUPLICATE KEY UPDATE name = name;
            SELECT paused_at INTO v_paused FROM jobs WHERE lease_name = v_group AND name = p_job FOR UPDATE;
            IF v_paused IS NOT NULL THEN
                SET v_reason = 'paused';
            ELSE
                INSERT INTO runs (lease_name, job, fire_time, owner, token, outcome, started_at, finished_at, message)
                VALUES (v_group, p_job, v_fire, p_owner, p_token, p_outcome,
                        IF(p_outcome = 'running', v_now, NULL), IF(p_outcome = 'missed', v_now, NULL),
                        LEFT(p_message, 1024));
                IF v_dup THEN
                    SET v_reason = 'taken';
                ELSE
                    SET v_run_id = LAST_INSERT_ID(), v_claimed = TRUE,
                        v_reason = IF(p_outcome = 'running', 'claimed', 'recorded');
                END IF;
            END IF;
            UPDATE jobs SET last_fire = GREATEST(COALESCE(last_fire, v_fire), v_fire), next_fire = v_next
             WHERE lease_name = v_group AND name = p_job;
        END IF;
        IF v_reason = 'lease_lost' THEN
            ROLLBACK;
        ELSE
            COMMIT;
        END IF;
    END IF;

    SELECT v_claimed AS claimed, v_run_id AS run_id, v_reason AS reason,
           TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', v_now) DIV 1000 AS now_ms;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS claim_fire;
