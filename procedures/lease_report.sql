-- lease_report: one row per group (lock), or only p_lock's when it is not
-- NULL: what lease_status shows, with the group's allow-list and how many
-- terms began in the last 24 hours. For `soloist status`, so that a user with
-- nothing but EXECUTE can see who leads. Like lease_status, it leaves out a
-- forgotten group (forget_group) until a runner takes its lease again.
CREATE PROCEDURE lease_report(IN p_lock LONGBLOB)
    READS SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'One row per lease: status, holder, token, heartbeat age, expiry, allow-list'
BEGIN
    IF p_lock IS NOT NULL THEN
        CALL check_text_arg('p_lock', p_lock, 191);
    END IF;
    SELECT s.name, s.status, s.holder, s.holder_ip, s.token, s.acquired_at, s.last_heartbeat_at,
           s.heartbeat_age_ms, s.expires_at, s.expires_in_ms, s.revoked_at, s.released_at,
           (SELECT GROUP_CONCAT(CONVERT(h.host USING utf8mb4) ORDER BY h.host SEPARATOR ' ')
              FROM lease_hosts AS h WHERE h.lease_name = CAST(s.name AS BINARY)) AS allowed_hosts,
           (SELECT COUNT(*) FROM lease_terms AS t
             WHERE t.name = CAST(s.name AS BINARY) AND t.acquired_at > UTC_TIMESTAMP(6) - INTERVAL 1 DAY) AS terms_24h
      FROM lease_status AS s
     WHERE p_lock IS NULL OR CAST(s.name AS BINARY) = p_lock
     ORDER BY s.name;
END
