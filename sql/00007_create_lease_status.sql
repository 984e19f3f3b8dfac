-- The seed design's visible state, for people: one row per lock with its
-- status (held, free or expired), holder, the holder's IP, token, and the
-- times that matter, all in database time (UTC). A forgotten group
-- (forget_group) is left out until a runner takes its lease again, and so
-- are the jobs' own leases of balanced mode (job_report shows their owners).

-- +goose Up
CREATE VIEW lease_status AS
SELECT CONVERT(l.name USING utf8mb4) COLLATE utf8mb4_bin AS name,
       CASE
           WHEN l.holder IS NULL THEN 'free'
           WHEN l.expires_at <= UTC_TIMESTAMP(6) THEN 'expired'
           ELSE 'held'
       END AS status,
       CONVERT(l.holder USING utf8mb4) COLLATE utf8mb4_bin AS holder,
       CONVERT(SUBSTRING_INDEX(l.holder, '/', 1) USING utf8mb4) COLLATE utf8mb4_bin AS holder_ip,
       l.token,
       l.acquired_at,
       l.renewed_at AS last_heartbeat_at,
       TIMESTAMPDIFF(MICROSECOND, l.renewed_at, UTC_TIMESTAMP(6)) DIV 1000 AS heartbeat_age_ms,
       l.expires_at,
       IF(l.holder IS NOT NULL AND l.expires_at > UTC_TIMESTAMP(6),
          CEIL(TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), l.expires_at) / 1000), 0) AS expires_in_ms,
       l.revoked_at,
       l.released_at
  FROM leases AS l
 WHERE l.forgotten_at IS NULL AND l.group_name IS NULL;

-- +goose Down
DROP VIEW IF EXISTS lease_status;
