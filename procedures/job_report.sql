-- job_report: one row per job of every group, or of p_lock's when it is not
-- NULL: schedule, paused state, last and next fire, the latest run's outcome,
-- and how many fires were missed or abandoned in the last 24 hours. Jobs of a
-- forgotten group (forget_group) are left out. In balanced mode a job also
-- shows its weight and hosts (declare_jobs), and the live owner and token of
-- its own lease (job_owner NULL: nobody owns it now).
CREATE PROCEDURE job_report(IN p_lock LONGBLOB)
    READS SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'One row per job: schedule, paused, last and next fire, last outcome, recent problems'
BEGIN
    IF p_lock IS NOT NULL THEN
        CALL check_text_arg('p_lock', p_lock, 191);
    END IF;
    SELECT CONVERT(j.lease_name USING utf8mb4) AS group_name,
           CONVERT(j.name USING utf8mb4) AS job,
           j.schedule, j.paused_at, j.last_fire, j.next_fire, j.synced_at,
           r.outcome AS last_outcome, r.fire_time AS last_run_fire, r.started_at AS last_started_at,
           r.finished_at AS last_finished_at, r.message AS last_message,
           CONVERT(r.owner USING utf8mb4) AS last_owner,
           j.weight, j.hosts,
           IF(o.expires_at > UTC_TIMESTAMP(6), CONVERT(o.holder USING utf8mb4), NULL) AS job_owner,
           o.token AS job_token,
           (SELECT COUNT(*) FROM runs AS p
             WHERE p.lease_name = j.lease_name AND p.job = j.name AND p.outcome IN ('missed', 'abandoned')
               AND p.fire_time > UTC_TIMESTAMP(6) - INTERVAL 1 DAY) AS problems_24h
      FROM jobs AS j
      LEFT JOIN leases AS o ON o.group_name = j.lease_name AND o.job = j.name
      LEFT JOIN runs AS r ON r.id = (SELECT x.id FROM runs AS x
                                      WHERE x.lease_name = j.lease_name AND x.job = j.name
                                      ORDER BY x.fire_time DESC LIMIT 1)
     WHERE (p_lock IS NULL OR j.lease_name = p_lock)
       AND NOT EXISTS (SELECT 1 FROM leases AS l WHERE l.name = j.lease_name AND l.forgotten_at IS NOT NULL)
     ORDER BY j.lease_name, j.name;
END
