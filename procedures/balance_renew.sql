-- balance_renew: a balanced runner's one call per interval. It renews the
-- runner's membership of p_group and every job lease of the group that the
-- runner holds, live and unrevoked, for p_ttl_ms from now, in one
-- transaction; then it answers with the group as it stands, so that the
-- runner can work out which jobs it should own (see docs/design.md,
-- "Balanced mode").
--
-- Result, one row per live member and one per job lease of the group:
--   kind           'member' or 'job'
--   name           the member's owner, or the job's name
--   holder         a job's live holder (NULL: free, expired, or revoked by
--                  an operator: a revoked lease counts as held until it
--                  expires, but its holder must step down)
--   token          a job lease's current token (0 for a member)
--   expires_in_ms  until the member or the job's lease expires (0: gone);
--                  for a lease the call renewed, exactly p_ttl_ms
-- A job lease that the caller held but that is not in the answer under its
-- holder and token was lost: the runner ends that job's term.
-- Fails with 45000 when the group's own lease is held (it runs in leader
-- mode now). Each statement locks only the caller's own rows: its member
-- row and the job leases it holds.
-- With owner_binding on, p_owner must be bound to the calling database user
-- (check_owner), or the call fails with 45000.
CREATE PROCEDURE balance_renew(
    IN p_group  LONGBLOB,
    IN p_owner  LONGBLOB,
    IN p_ttl_ms BIGINT
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Renew a balanced runner and its job leases. Result: kind, name, holder, token, expires_in_ms'
BEGIN
    DECLARE v_now     DATETIME(6);
    DECLARE v_expires DATETIME(6);
    DECLARE v_holder  VARBINARY(1020);
    DECLARE v_until   DATETIME(6);
    DECLARE v_token   BIGINT UNSIGNED;

    CALL check_text_arg('p_group', p_group, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    IF p_ttl_ms IS NULL OR p_ttl_ms < 1 OR p_ttl_ms > 86400000 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_ttl_ms must be 1 to 86400000 milliseconds';
    END IF;
    SET timestamp = DEFAULT;
    SET v_now = UTC_TIMESTAMP(6);
    SET v_expires = v_now + INTERVAL p_ttl_ms * 1000 MICROSECOND;

    SELECT MAX(holder), MAX(expires_at), MAX(token) INTO v_holder, v_until, v_token
      FROM leases WHERE name = p_group;
    IF v_holder IS NOT NULL AND v_until > v_now THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'group runs in leader mode now: its own lease is held';
    END IF;

    START TRANSACTION;
    INSERT INTO lease_members (lease_name, owner, joined_at, renewed_at, expires_at)
    VALUES (p_group, p_owner, v_now, v_now, v_expires)
    ON DUPLICATE KEY UPDATE renewed_at = v_now, expires_at = v_expires;
    UPDATE leases
       SET renewed_at = v_now, expires_at = v_expires, renewals = renewals + 1
     WHERE group_name = p_group AND holder = p_owner AND expires_at > v_now AND revoked_at IS NULL;
    COMMIT;

    SELECT 'member' AS kind, CONVERT(m.owner USING utf8mb4) AS name, NULL AS holder, 0 AS token,
           CEIL(TIMESTAMPDIFF(MICROSECOND, v_now, m.expires_at) / 1000) AS expires_in_ms
      FROM lease_members AS m
     WHERE m.lease_name = p_group AND m.expires_at > v_now
    UNION ALL
    SELECT 'job', CONVERT(l.job USING utf8mb4),
           IF(l.expires_at > v_now AND l.revoked_at IS NULL, CONVERT(l.holder USING utf8mb4), NULL), l.token,
           IF(l.holder IS NOT NULL AND l.expires_at > v_now,
              CEIL(TIMESTAMPDIFF(MICROSECOND, v_now, l.expires_at) / 1000), 0)
      FROM leases AS l
     WHERE l.group_name = p_group;
END
