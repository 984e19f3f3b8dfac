-- member_report: one row per runner of a group in balanced mode that was
-- alive in the last hour (or of every group, p_lock NULL): when it joined,
-- its last renewal, whether it is live, and the jobs and weight it owns now.
CREATE PROCEDURE member_report(IN p_lock LONGBLOB)
    READS SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'One row per balanced runner: group, owner, joined, renewed, live, jobs owned, weight owned'
BEGIN
    IF p_lock IS NOT NULL THEN
        CALL check_text_arg('p_lock', p_lock, 191);
    END IF;
    SELECT CONVERT(m.lease_name USING utf8mb4) AS group_name,
           CONVERT(m.owner USING utf8mb4) AS owner,
           m.joined_at, m.renewed_at, m.expires_at,
           m.expires_at > UTC_TIMESTAMP(6) AS live,
           (SELECT COUNT(*) FROM leases AS l
             WHERE l.group_name = m.lease_name AND l.holder = m.owner AND l.expires_at > UTC_TIMESTAMP(6)) AS jobs_owned,
           (SELECT COALESCE(SUM(j.weight), 0) FROM leases AS l
              JOIN jobs AS j ON j.lease_name = l.group_name AND j.name = l.job
             WHERE l.group_name = m.lease_name AND l.holder = m.owner AND l.expires_at > UTC_TIMESTAMP(6)) AS weight_owned
      FROM lease_members AS m
     WHERE (p_lock IS NULL OR m.lease_name = p_lock)
       AND m.expires_at > UTC_TIMESTAMP(6) - INTERVAL 1 HOUR
     ORDER BY m.lease_name, m.owner;
END
